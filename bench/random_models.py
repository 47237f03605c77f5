"""Random-weight models built in memory (bert-base and distilbert-base sized): no checkpoint on disk, no download."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import torch

from bench.harness import Models
from bertviz_ui.errors import BadInput
from bertviz_ui.models.cache import ModelCache
from bertviz_ui.models.loading import LoadedModel, prepare_for_inference
from bertviz_ui.models.sources import SENTIMENT_LABELS, ModelSource
from bertviz_ui.models.types import Config
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head

# The refs that build a model in memory (the cases' defaults: no such checkpoint is on disk, and the Hub can't be
# reached here); random weights time the same as trained ones.
RANDOM_BERT_BASE = "random:bert-base"
RANDOM_DISTILBERT_BASE = "random:distilbert-base"
RANDOM_DISTILBERT_QA = "random:distilbert-base-qa"
RANDOM_SEED = 0


def random_model(cache: ModelCache, *, ref: str, head: Head, architecture: type, config: Config,
                 built_with: str) -> LoadedModel:
    """What every random:* model shares: the seeded build, the cache's placement, the uncased tokenizer, the label.

    Args:
        cache: gives the device and dtype, and the tokenizer of the offline model (bert-base-uncased's vocabulary).
        ref: the name the model is labelled with.
        head: what the model is reported as.
        architecture: a transformers model class, built as ``architecture(config)`` under
            torch.manual_seed(RANDOM_SEED) inside a forked RNG (the process's own random state is left alone).
        config: its config.
        built_with: how the config is described in the label.

    Returns:
        LoadedModel in eval mode, placed exactly as the cache would place it.
    """
    tokenizer = cache.load(OFFLINE_MODEL_ID, Head.TOKENIZER).tokenizer
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        model = architecture(config)
    prepare_for_inference(model, head, cache.device, cache.dtype)  # exactly as the cache would
    parameters = sum(p.numel() for p in model.parameters())
    size = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    label = (f"{ref} ({architecture.__name__}({built_with}) built in memory with "
             f"torch.manual_seed({RANDOM_SEED}), random weights, {parameters / 1e6:.1f}M parameters; "
             f"tokenizer of {OFFLINE_MODEL_ID}, bert-base-uncased vocabulary)")
    source = ModelSource(ref, "(built in memory)", "random", label, untrained=True)
    return LoadedModel(source=source, head=head, model=model, tokenizer=tokenizer, device=cache.device,
                       dtype=str(cache.dtype).replace("torch.", ""), size_bytes=size,
                       load_seconds=time.perf_counter() - started)


def random_bert_base(cache: ModelCache, *, config: Config = None) -> LoadedModel:
    """A bert-base-sized masked LM with random weights, built in memory, with the uncased tokenizer from the cache.

    No bert-base checkpoint is on disk and none can be downloaded here; random weights cost exactly what trained
    ones do. The weights come from torch.manual_seed(RANDOM_SEED) inside a forked RNG (the process's own random
    state is left alone), so every run times the same model.

    Args:
        cache: gives the device and dtype, and the tokenizer (bert-base-uncased's, shipped with the offline
            all-MiniLM-L6-v2).
        config: a BertConfig (default ``BertConfig()``: bert-base, 12 layers, hidden 768, vocabulary 30522).

    Returns:
        LoadedModel with Head.MASKED_LM, in eval mode; nothing is reported as newly initialized, so
        predict_masks accepts its (random) head.
    """
    import transformers

    return random_model(cache, ref=RANDOM_BERT_BASE, head=Head.MASKED_LM, architecture=transformers.BertForMaskedLM,
                        config=config if config is not None else transformers.BertConfig(),
                        built_with="BertConfig()" if config is None else "a custom BertConfig")


def random_distilbert_base(cache: ModelCache, *, config: Config = None) -> LoadedModel:
    """A distilbert-base-sized sentiment classifier with random weights, built in memory, as random_bert_base.

    Args:
        cache: gives the device and dtype, and the uncased tokenizer (DistilBERT-uncased's vocabulary is
            bert-base-uncased's).
        config: a DistilBertConfig (default: 6 layers, hidden 768, labels NEGATIVE and POSITIVE, the shape of the
            tab's default distilbert-base-uncased-finetuned-sst-2-english).

    Returns:
        LoadedModel with Head.SEQUENCE_CLASSIFICATION, in eval mode; nothing is reported as newly initialized,
        so classify accepts its (random) head.
    """
    import transformers

    if config is None:
        config = transformers.DistilBertConfig(num_labels=len(SENTIMENT_LABELS),
                                               id2label=dict(enumerate(SENTIMENT_LABELS)),
                                               label2id={name: i for i, name in enumerate(SENTIMENT_LABELS)})
        built_with = f"DistilBertConfig(num_labels={len(SENTIMENT_LABELS)}), labels {'/'.join(SENTIMENT_LABELS)}"
    else:
        built_with = "a custom DistilBertConfig"
    return random_model(cache, ref=RANDOM_DISTILBERT_BASE, head=Head.SEQUENCE_CLASSIFICATION,
                        architecture=transformers.DistilBertForSequenceClassification, config=config,
                        built_with=built_with)


def random_distilbert_qa(cache: ModelCache, *, config: Config = None) -> LoadedModel:
    """A distilbert-base-sized extractive QA model with random weights, built in memory, as random_bert_base.

    Args:
        cache: gives the device and dtype, and the uncased tokenizer.
        config: a DistilBertConfig (default ``DistilBertConfig()``: 6 layers, hidden 768, the shape of the tab's
            distilbert-base-cased-distilled-squad).

    Returns:
        LoadedModel with Head.QUESTION_ANSWERING, in eval mode; nothing is reported as newly initialized, so
        answer_question accepts its (random) span head.
    """
    import transformers

    return random_model(cache, ref=RANDOM_DISTILBERT_QA, head=Head.QUESTION_ANSWERING,
                        architecture=transformers.DistilBertForQuestionAnswering,
                        config=config if config is not None else transformers.DistilBertConfig(),
                        built_with="DistilBertConfig()" if config is None else "a custom DistilBertConfig")


# The refs that build a model in memory instead of loading one, with the one head each has.
RANDOM_MODELS: Mapping[str, tuple[Head, Callable[[ModelCache], LoadedModel]]] = {
    RANDOM_BERT_BASE: (Head.MASKED_LM, random_bert_base),
    RANDOM_DISTILBERT_BASE: (Head.SEQUENCE_CLASSIFICATION, random_distilbert_base),
    RANDOM_DISTILBERT_QA: (Head.QUESTION_ANSWERING, random_distilbert_qa),
}


def load_one_head(head: Head) -> Callable[[ModelCache, str], Models]:
    """A BenchCase.load for a case that needs one head: a RANDOM_MODELS ref is built, any other comes from the cache.

    Args:
        head: what the case's run functions look up.

    Returns:
        The loader. It raises BadInput for a random ref of another head.
    """

    def load(cache: ModelCache, ref: str) -> Models:
        built_in_memory = RANDOM_MODELS.get(ref.strip())
        if built_in_memory is None:
            return {head: cache.load(ref, head)}
        random_head, build = built_in_memory
        if random_head is not head:
            raise BadInput(f"{ref.strip()} is a {random_head.value} model; this case needs {head.value}.")
        return {head: build(cache)}

    return load
