"""Benchmark harness: each tab's compute timed against a baseline (the bare model forward, or the transformers
pipeline the tab replaces) on the same checkpoint, side by side in one process, as ratios."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import os
import platform
import statistics
import sys
import textwrap
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bertviz_ui.errors import BadInput, BertvizError
from bertviz_ui.examples import TUTORIAL_REVIEWS
from bertviz_ui.models.cache import LoadedModel, ModelCache, prepare_for_inference
from bertviz_ui.models.sources import SENTIMENT_LABELS, ModelSource
from bertviz_ui.models.types import Config, Tokenizer
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head
from bertviz_ui.tasks.fill_mask import predict_masks
from bertviz_ui.tasks.modeling import model_max_length
from bertviz_ui.tasks.qa import WINDOW_TOKENS as QA_WINDOW_TOKENS
from bertviz_ui.tasks.qa import answer_question, window_stride
from bertviz_ui.tasks.sentiment import BATCH_SIZE as SENTIMENT_BATCH_SIZE
from bertviz_ui.tasks.sentiment import classify
from bertviz_ui.tasks.tokenizer import tokenize

DEFAULT_MODEL = OFFLINE_MODEL_ID
# The fill_mask case needs a masked-LM head, which the offline MiniLM lacks: by default it builds a bert-base-sized
# one in memory (no such checkpoint is on disk, and the Hub can't be reached here). Random weights time the same.
RANDOM_BERT_BASE = "random:bert-base"
RANDOM_SEED = 0
DEFAULT_MLM_MODEL = RANDOM_BERT_BASE
# Likewise the sentiment case's classifier: distilbert-base-sized (the tab's default model is a DistilBERT).
RANDOM_DISTILBERT_BASE = "random:distilbert-base"
DEFAULT_CLASSIFIER_MODEL = RANDOM_DISTILBERT_BASE
# And the qa case's extractive QA model: distilbert-base-sized, like the tab's fast distilled-SQuAD choice.
RANDOM_DISTILBERT_QA = "random:distilbert-base-qa"
DEFAULT_QA_MODEL = RANDOM_DISTILBERT_QA
QA_WINDOWS = 8
QA_QUESTION = "Which cities do researchers fine-tune such encoders in?"
FILL_MASK_TOP_K = 5
# 16 tokens with [CLS] and [SEP] in the uncased vocabulary; "[MASK]" becomes the checkpoint's own mask token.
MASK_SENTENCE = "The cat sat on the [MASK] and looked out of the open window."
FILL_MASK_LONG_TARGET = 128
# The seed's eight reviews, then 24 more of the same kind: 8-20 tokens each with [CLS] and [SEP] in the uncased
# vocabulary (379 in all), of varied lengths, so a batch pads (to 20) as a real one would.
SENTIMENT_TEXTS = (
    *TUTORIAL_REVIEWS,
    "I absolutely loved this film!",
    "This was the worst movie I have ever seen.",
    "I absolutely loved this product!",
    "Terrible quality, fell apart after a day.",
    "It's okay, nothing special.",
    "The soundtrack alone is worth the ticket price.",
    "Two hours of my life I will never get back, and the popcorn was stale too.",
    "A charming little story with a big heart.",
    "The plot made no sense, the jokes fell flat, and the ending was worse.",
    "Funny, warm and surprisingly clever.",
    "Stopped working after a week; the seller never replied.",
    "Fast delivery, sturdy build, exactly as described, and the instructions were easy to follow.",
    "The dialogue felt wooden and the pacing dragged badly.",
    "My kids watched it three times in a row.",
    "Overhyped and far too long.",
    "A quiet masterpiece that stays with you for days after the credits roll.",
    "The battery barely lasts a morning.",
    "Great value for the price, would buy again.",
    "Gorgeous visuals, but the characters were paper thin.",
    "I laughed, I cried, I recommended it to everyone.",
    "Cheap plastic, a loud motor, and it still smells of glue after a month.",
    "Not bad for a sequel.",
    "The customer service team answered at midnight and fixed everything within an hour.",
    "Predictable twists and a villain nobody will remember.",
)
# About 20 s for the tokenizer case on the offline MiniLM with 2 idle cores, loading included (35-40 s on a busy
# machine), about 50 s for the fill_mask case on random:bert-base (--threads 1, busy machine), and about 60 s for
# the sentiment case on random:distilbert-base (--threads 1, idle).
DEFAULT_REPEATS = 20
# Fast variants (a tokenizer call takes tens of microseconds) are timed as batches at least this long,
# so timer resolution and per-measurement overhead stay far below the thing measured.
MIN_BATCH_S = 0.02
_MAX_CALLS_PER_BATCH = 100_000

TUTORIAL_PAIR = ("The cat sat on the mat.", "It was a lazy afternoon.")
LONG_TARGETS = (128, 512)
# Ordinary prose with some rare words, so WordPiece splits a realistic share of them.
_FILLER = (
    "BERT reads a sentence all at once rather than word by word, and every layer lets each token look at every "
    "other token through attention. Before any of that happens the tokenizer splits the text into WordPiece "
    "units: common words stay whole, while unusual ones such as photosynthesis, quarterback or unaffable "
    "break into a stem and continuation pieces marked with two hashes. The pieces become integer ids, a "
    "classification token goes in front and a separator closes each sentence, and a mask tells the model "
    "which positions are real text and which are padding. Researchers in Montreal, Nairobi and Kyoto fine-tune "
    "such encoders for sentiment, named entities, question answering and natural language inference, "
    "usually on a few thousand labelled examples and an afternoon of computation."
)

Models = Mapping[Head, LoadedModel]


@dataclass(frozen=True)
class Sample:
    """One input a case is timed on."""

    name: str
    text: str
    text_pair: str | None = None


Run = Callable[[Models, Sample], Any]


@dataclass(frozen=True)
class Variant:
    """A further column beside a case's task and baseline."""

    label: str
    run: Run


def text_of_tokens(tokenizer: Tokenizer, target: int) -> str:
    """The longest prefix of the filler prose (repeated as needed) that encodes to at most ``target`` tokens.

    Args:
        tokenizer: the checkpoint's tokenizer; lengths are counted in its tokens, specials included.
        target: the most tokens the encoded text may have.

    Returns:
        The text.
    """
    words = _FILLER.split()
    # Every word is at least one token, so ``target`` words always reach the target.
    pool = [words[i % len(words)] for i in range(target)]
    low, high = 1, len(pool)
    while low < high:
        middle = (low + high + 1) // 2
        if len(tokenizer(" ".join(pool[:middle]))["input_ids"]) <= target:
            low = middle
        else:
            high = middle - 1
    return " ".join(pool[:low])


def _tokenizer_of(models: Models) -> Any:
    # Every head of one ref is loaded from the same files, so any of them has the checkpoint's tokenizer.
    return (models.get(Head.TOKENIZER) or next(iter(models.values()))).tokenizer


def standard_samples(models: Models) -> tuple[Sample, ...]:
    """The seed's sentence pair, then single texts of about 128 and 512 tokens (capped at the model's maximum).

    Args:
        models: the case's loaded models; their tokenizer measures the lengths.

    Returns:
        The samples, shortest first.
    """
    tokenizer = _tokenizer_of(models)
    limit = int(getattr(tokenizer, "model_max_length", 512) or 512)
    samples = [Sample("short pair", *TUTORIAL_PAIR)]
    for target in dict.fromkeys(min(t, limit) for t in LONG_TARGETS):
        samples.append(Sample(f"{target} tokens", text_of_tokens(tokenizer, target)))
    return tuple(samples)


def sample_tokens(tokenizer: Tokenizer, sample: Sample) -> int:
    """The sample's length in the tokenizer's tokens, specials included (the default BenchCase.count_tokens)."""
    return len(tokenizer(sample.text, sample.text_pair)["input_ids"])


def line_tokens(tokenizer: Tokenizer, sample: Sample) -> int:
    """The tokens of each line of the sample as a text of its own, specials included, summed."""
    return sum(len(ids) for ids in tokenizer(sample.text.splitlines())["input_ids"])


def encoder_forward(models: Models, sample: Sample) -> Any:
    """The bare baseline: tokenize to tensors and run the encoder, nothing else.

    Args:
        models: must hold Head.ENCODER.
        sample: the input.

    Returns:
        The model's output (discarded by the timer).
    """
    loaded = models[Head.ENCODER]
    with torch.inference_mode():
        inputs = loaded.tokenizer(sample.text, sample.text_pair, return_tensors="pt").to(loaded.device)
        return loaded.model(**inputs)


@dataclass(frozen=True)
class BenchCase:
    """One tab's compute timed against a baseline on the same checkpoint; a new tab adds one of these to CASES.

    Attributes:
        name: the tab's task id; ``--cases`` selects by it.
        run_task: what the tab computes per click once its models are loaded.
        run_baseline: what the task is compared with (usually encoder_forward).
        heads: what the cache loads for the ref before timing; run functions find them by Head.
        task_label: column name of run_task.
        baseline_label: column name of run_baseline.
        extras: further variants, each shown with its time and the task's ratio against it (see speedup).
        make_samples: builds the inputs from the loaded models (lengths are in the checkpoint's tokens).
        note: printed under the table: what exactly each variant runs.
        ref: the checkpoint this case runs on whatever the run's model is (None: the run's model); run_cases'
            ``refs`` overrides it.
        load: how the case gets its models for a ref (None: ``cache.load(ref, head)`` for each of ``heads``).
        speedup: report ratios as speed-ups, the other variant's median over the task's (above 1x the task is
            faster), instead of the task's median over the other's (the task's cost in units of the other).
        count_tokens: the tokens column: a sample's length in the checkpoint's tokens (see sample_tokens).
    """

    name: str
    run_task: Run
    run_baseline: Run
    heads: tuple[Head, ...]
    task_label: str = "task"
    baseline_label: str = "forward"
    extras: tuple[Variant, ...] = ()
    make_samples: Callable[[Models], tuple[Sample, ...]] = standard_samples
    note: str = ""
    ref: str | None = None
    load: Callable[[ModelCache, str], Models] | None = None
    speedup: bool = False
    count_tokens: Callable[[Any, Sample], int] = sample_tokens


def _ratio_label(task: str, other: str, speedup: bool) -> str:
    return f"{other}/{task}" if speedup else f"{task}/{other}"


def _tokenizer_task(models: Models, sample: Sample) -> Any:
    loaded = models[Head.TOKENIZER]
    return tokenize(sample.text, sample.text_pair, tokenizer=loaded.tokenizer, model=loaded.label)


def _raw_tokenizer(models: Models, sample: Sample) -> Any:
    # The same (locked) tokenizer object tokenize() receives, so the ratio isolates tokenize()'s own work.
    return models[Head.TOKENIZER].tokenizer(sample.text, sample.text_pair)


def _random_model(cache: ModelCache, *, ref: str, head: Head, architecture: type, config: Config,
                  built_with: str) -> LoadedModel:
    # What every random:* model shares: the seeded build, the cache's placement, the uncased tokenizer, the label.
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

    return _random_model(cache, ref=RANDOM_BERT_BASE, head=Head.MASKED_LM, architecture=transformers.BertForMaskedLM,
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
    return _random_model(cache, ref=RANDOM_DISTILBERT_BASE, head=Head.SEQUENCE_CLASSIFICATION,
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

    return _random_model(cache, ref=RANDOM_DISTILBERT_QA, head=Head.QUESTION_ANSWERING,
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


def fill_mask_samples(models: Models) -> tuple[Sample, ...]:
    """MASK_SENTENCE (16 tokens with the uncased vocabulary), then filler prose ending with it (at most 128 tokens).

    Args:
        models: the case's loaded models; their tokenizer measures the lengths and gives the mask token.

    Returns:
        The samples, shortest first; each has exactly one mask.
    """
    tokenizer = _tokenizer_of(models)
    sentence = MASK_SENTENCE.replace("[MASK]", str(tokenizer.mask_token))
    specials = len(tokenizer("")["input_ids"])
    sentence_tokens = len(tokenizer(sentence)["input_ids"]) - specials
    limit = int(getattr(tokenizer, "model_max_length", 512) or 512)
    target = min(FILL_MASK_LONG_TARGET, limit)
    # The filler's budget counts the specials once; the sentence adds its own tokens after it.
    filler = text_of_tokens(tokenizer, target - sentence_tokens)
    return Sample("sentence", sentence), Sample("long text", f"{filler} {sentence}")


_pipelines: weakref.WeakKeyDictionary[LoadedModel, dict[str, Any]] = weakref.WeakKeyDictionary()


def _pipeline(loaded: LoadedModel, task: str, **options: Any) -> Any:
    # One pipeline per LoadedModel and task, on the very model and tokenizer objects the tab's function gets, on the
    # model's own device: left unset, transformers would move the shared model to the first accelerator it finds.
    built = _pipelines.setdefault(loaded, {})
    pipe = built.get(task)
    if pipe is None:
        import transformers

        pipe = transformers.pipeline(task, model=loaded.model, tokenizer=loaded.tokenizer.unwrapped,
                                     device=next(loaded.model.parameters()).device, **options)
        built[task] = pipe
    return pipe


def fill_mask_pipeline(loaded: LoadedModel) -> Any:
    """``pipeline("fill-mask", top_k=FILL_MASK_TOP_K)`` on the very model and tokenizer predict_masks gets.

    Args:
        loaded: a Head.MASKED_LM model.

    Returns:
        The pipeline, built once per LoadedModel, on the model's own device.
    """
    return _pipeline(loaded, "fill-mask", top_k=FILL_MASK_TOP_K)


def sentiment_pipeline(loaded: LoadedModel) -> Any:
    """``pipeline("text-classification", top_k=None)`` (every class's score) on the very model classify gets.

    Args:
        loaded: a Head.SEQUENCE_CLASSIFICATION model.

    Returns:
        The pipeline, built once per LoadedModel, on the model's own device; called on a list with its default
        batch_size, it runs one forward per text.
    """
    return _pipeline(loaded, "text-classification", top_k=None)


def _fill_mask_task(models: Models, sample: Sample) -> Any:
    loaded = models[Head.MASKED_LM]
    with torch.inference_mode():
        return predict_masks(sample.text, model=loaded.model, tokenizer=loaded.tokenizer, top_k=FILL_MASK_TOP_K,
                             label=loaded.label, newly_initialized=loaded.newly_initialized)


def _fill_mask_pipeline(models: Models, sample: Sample) -> Any:
    pipe = fill_mask_pipeline(models[Head.MASKED_LM])
    with torch.inference_mode():
        return pipe(sample.text)


def _masked_lm_encoder_forward(models: Models, sample: Sample) -> Any:
    # The masked-LM model's encoder alone: what predict_masks can't avoid, the floor of its time.
    loaded = models[Head.MASKED_LM]
    with torch.inference_mode():
        inputs = loaded.tokenizer(sample.text, sample.text_pair, return_tensors="pt").to(loaded.device)
        return loaded.model.base_model(**inputs)


def sentiment_samples(models: Models) -> tuple[Sample, ...]:
    """SENTIMENT_TEXTS as one text, a review per line: what the tab classifies in one click.

    Args:
        models: the case's loaded models; their tokenizer measures the lengths, shown in the sample's name.

    Returns:
        One sample.
    """
    lengths = [len(ids) for ids in _tokenizer_of(models)(list(SENTIMENT_TEXTS))["input_ids"]]
    name = f"{len(SENTIMENT_TEXTS)} reviews ({min(lengths)}-{max(lengths)} tokens)"
    return (Sample(name, "\n".join(SENTIMENT_TEXTS)),)


def _classify(loaded: LoadedModel, text: str) -> Any:
    return classify(text, model=loaded.model, tokenizer=loaded.tokenizer, label=loaded.label,
                    newly_initialized=loaded.newly_initialized)


def _sentiment_batch(models: Models, sample: Sample) -> Any:
    return _classify(models[Head.SEQUENCE_CLASSIFICATION], sample.text)


def _sentiment_single_calls(models: Models, sample: Sample) -> Any:
    loaded = models[Head.SEQUENCE_CLASSIFICATION]
    return [_classify(loaded, line) for line in sample.text.splitlines()]


def _sentiment_pipeline(models: Models, sample: Sample) -> Any:
    pipe = sentiment_pipeline(models[Head.SEQUENCE_CLASSIFICATION])
    with torch.inference_mode():
        return pipe(sample.text.splitlines())


def qa_samples(models: Models) -> tuple[Sample, ...]:
    """QA_QUESTION and a context of filler prose that the tab reads as exactly QA_WINDOWS windows."""
    loaded = models[Head.QUESTION_ANSWERING]
    tokenizer = loaded.tokenizer
    window = min(model_max_length(tokenizer, loaded.model), QA_WINDOW_TOKENS)
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    question = len(tokenizer(QA_QUESTION, add_special_tokens=False)["input_ids"])
    room = window - question - specials
    step = room - window_stride(window, question, specials)
    # The last window is full: QA_WINDOWS windows of ``window`` tokens, every one the same length.
    context = text_of_tokens(tokenizer, room + (QA_WINDOWS - 1) * step + 2)
    return (Sample(f"{QA_WINDOWS} windows", QA_QUESTION, context),)


def qa_window_tokens(tokenizer: Tokenizer, sample: Sample) -> int:
    """The tokens the model reads for a QA sample: every window's, question and specials included."""
    question = len(tokenizer(sample.text, add_special_tokens=False)["input_ids"])
    stride = window_stride(QA_WINDOW_TOKENS, question, tokenizer.num_special_tokens_to_add(pair=True))
    encoding = tokenizer(sample.text, sample.text_pair, truncation="only_second", max_length=QA_WINDOW_TOKENS,
                         return_overflowing_tokens=True, stride=stride)
    return sum(len(ids) for ids in encoding["input_ids"])


def _qa_batched(models: Models, sample: Sample) -> Any:
    loaded = models[Head.QUESTION_ANSWERING]
    return answer_question(sample.text, sample.text_pair, model=loaded.model, tokenizer=loaded.tokenizer,
                           newly_initialized=loaded.newly_initialized)


def _qa_one_window_per_call(models: Models, sample: Sample) -> Any:
    loaded = models[Head.QUESTION_ANSWERING]
    return answer_question(sample.text, sample.text_pair, model=loaded.model, tokenizer=loaded.tokenizer,
                           newly_initialized=loaded.newly_initialized, window_batch=1)


# --- finetune: the lab's training loop against a bare PyTorch loop on the same model and data ------------------
FINETUNE_COPIES = 4  # the seed's 8 reviews, 4 times: 32 examples, 8 steps of 4 per epoch
FINETUNE_MAX_LENGTH = 64
_finetune_models: weakref.WeakKeyDictionary[LoadedModel, Any] = weakref.WeakKeyDictionary()


def finetune_samples(models: Models) -> tuple[Sample, ...]:
    """The seed's labelled reviews, FINETUNE_COPIES times, a review per line: one epoch of training per call."""
    texts = list(TUTORIAL_REVIEWS) * FINETUNE_COPIES
    return (Sample(f"{len(texts)} reviews, 1 epoch, batch 4", "\n".join(texts)),)


def finetune_classifier(loaded: LoadedModel) -> Any:
    """One classifier per encoder, built as the lab builds it (a copy: the shared encoder is never trained); both
    variants train it in turn, so the timings compare the loops alone."""
    model = _finetune_models.get(loaded)
    if model is None:
        from bertviz_ui.tasks.finetune import build_classifier

        model = build_classifier(loaded.model, ["0", "1"], RANDOM_SEED, loaded.device)
        _finetune_models[loaded] = model
    return model


def _finetune_data(sample: Sample) -> tuple[list[str], list[int]]:
    from bertviz_ui.examples import TUTORIAL_REVIEW_LABELS

    texts = sample.text.splitlines()
    return texts, list(TUTORIAL_REVIEW_LABELS) * (len(texts) // len(TUTORIAL_REVIEW_LABELS))


def _finetune_task(models: Models, sample: Sample) -> Any:
    from bertviz_ui.tasks import finetune as lab

    loaded = models[Head.ENCODER]
    texts, labels = _finetune_data(sample)
    encoded = lab.Encoded(loaded.tokenizer, texts, FINETUNE_MAX_LENGTH, loaded.device)
    hp = lab.Hyperparameters(epochs=1, max_length=FINETUNE_MAX_LENGTH)
    return list(lab.fit(finetune_classifier(loaded), encoded, labels, range(len(texts)), (), hp,
                        clock=lab.Clock(None, None)))


def _finetune_bare_loop(models: Models, sample: Sample) -> Any:
    # The seed's loop: tokenize once padded to the longest, shuffle, AdamW + linear schedule + clipping.
    from transformers import get_linear_schedule_with_warmup

    loaded = models[Head.ENCODER]
    model = finetune_classifier(loaded)
    texts, labels = _finetune_data(sample)
    encoding = loaded.tokenizer(texts, truncation=True, padding=True, max_length=FINETUNE_MAX_LENGTH,
                                return_tensors="pt").to(loaded.device)
    targets = torch.tensor(labels, device=loaded.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, eps=1e-8)
    steps = math.ceil(len(texts) / 4)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=int(steps * 0.1),
                                                num_training_steps=steps)
    model.train()
    order = torch.randperm(len(texts))
    losses = []
    for start in range(0, len(texts), 4):
        index = order[start:start + 4].to(loaded.device)
        loss = model(**{key: value[index] for key, value in encoding.items()}, labels=targets[index]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


CASES: tuple[BenchCase, ...] = (
    BenchCase(
        name="tokenizer",
        run_task=_tokenizer_task,
        run_baseline=encoder_forward,
        heads=(Head.TOKENIZER, Head.ENCODER),
        task_label="tokenize()",
        baseline_label="forward",
        extras=(Variant("raw tokenizer", _raw_tokenizer),),
        note="tokenize() = bertviz_ui.tasks.tokenizer.tokenize (the tab's whole result, no rendering); "
             "forward = model(**tokenizer(text, return_tensors='pt')) under torch.inference_mode(); "
             "raw tokenizer = tokenizer(text, text_pair).",
    ),
    BenchCase(
        name="fill_mask",
        run_task=_fill_mask_task,
        run_baseline=_fill_mask_pipeline,
        heads=(Head.MASKED_LM,),
        task_label="predict_masks()",
        baseline_label="pipeline",
        extras=(Variant("forward", _masked_lm_encoder_forward),),
        make_samples=fill_mask_samples,
        note="predict_masks() = bertviz_ui.tasks.fill_mask.predict_masks(text, top_k=5) (encoder, then the "
             "vocabulary head at the [MASK] position only; the tab's whole result, no rendering); "
             "pipeline = transformers.pipeline('fill-mask', top_k=5) on the same model and tokenizer objects "
             "(the head over every position); forward = the encoder alone, model.base_model(**tokenizer(text, "
             "return_tensors='pt')), all layers at every position (predict_masks() computes BERT's last layer "
             "only at the mask). Each text has one [MASK]; all three run under "
             "torch.inference_mode() and are warmed up before timing. "
             f"Default model {RANDOM_BERT_BASE}: BertForMaskedLM(BertConfig()) built in memory with "
             f"torch.manual_seed({RANDOM_SEED}) (bert-base size, random weights: timing only), with the "
             f"bert-base-uncased tokenizer of {OFFLINE_MODEL_ID} from the model cache; --mlm-model changes it.",
        ref=DEFAULT_MLM_MODEL,
        load=load_one_head(Head.MASKED_LM),
        speedup=True,
    ),
    BenchCase(
        name="sentiment",
        run_task=_sentiment_batch,
        run_baseline=_sentiment_single_calls,
        heads=(Head.SEQUENCE_CLASSIFICATION,),
        task_label=f"batch of {len(SENTIMENT_TEXTS)}",
        baseline_label=f"{len(SENTIMENT_TEXTS)} single calls",
        extras=(Variant("pipeline", _sentiment_pipeline),),
        make_samples=sentiment_samples,
        note=f"batch of {len(SENTIMENT_TEXTS)} = bertviz_ui.tasks.sentiment.classify(the {len(SENTIMENT_TEXTS)} "
             f"reviews joined by newlines) with its default batch_size of {SENTIMENT_BATCH_SIZE}: one forward per "
             f"{SENTIMENT_BATCH_SIZE} reviews sorted by length, padded to the longest; single calls = classify(review) once per review, one forward each. The tokens "
             "column counts each review with its own [CLS] and [SEP], what the single calls read. Both give the "
             "same labels and scores (the tab's whole result, no rendering). pipeline = "
             "transformers.pipeline('text-classification', top_k=None) on the same model and tokenizer objects, "
             "called on the list of reviews with its default batch_size (one forward per review). All run under "
             "torch.inference_mode() and are warmed up before timing. "
             f"Default model {RANDOM_DISTILBERT_BASE}: DistilBertForSequenceClassification(DistilBertConfig("
             f"num_labels=2)) built in memory with torch.manual_seed({RANDOM_SEED}) (distilbert-base size, random "
             f"weights: timing only), with the bert-base-uncased tokenizer of {OFFLINE_MODEL_ID} from the model "
             "cache; --classifier-model changes it.",
        ref=DEFAULT_CLASSIFIER_MODEL,
        load=load_one_head(Head.SEQUENCE_CLASSIFICATION),
        speedup=True,
        count_tokens=line_tokens,
    ),
    BenchCase(
        name="qa",
        run_task=_qa_batched,
        run_baseline=_qa_one_window_per_call,
        heads=(Head.QUESTION_ANSWERING,),
        task_label=f"{QA_WINDOWS} windows batched",
        baseline_label=f"{QA_WINDOWS} sequential calls",
        make_samples=qa_samples,
        note=f"{QA_WINDOWS} windows batched = bertviz_ui.tasks.qa.answer_question(question, context) on a context "
             f"that fills exactly {QA_WINDOWS} windows of {QA_WINDOW_TOKENS} tokens: one forward of all "
             f"{QA_WINDOWS}; {QA_WINDOWS} sequential calls = the same with window_batch=1, one forward per window. "
             "Both give the same answer and candidates (the tab's whole result, no rendering); the tokens column "
             "counts every window's tokens. Both run under torch.inference_mode() and are warmed up. "
             f"Default model {RANDOM_DISTILBERT_QA}: DistilBertForQuestionAnswering(DistilBertConfig()) built in "
             f"memory with torch.manual_seed({RANDOM_SEED}) (distilbert-base size, random weights: timing only), "
             f"with the bert-base-uncased tokenizer of {OFFLINE_MODEL_ID}; --qa-model changes it.",
        ref=DEFAULT_QA_MODEL,
        load=load_one_head(Head.QUESTION_ANSWERING),
        speedup=True,
        count_tokens=qa_window_tokens,
    ),
    BenchCase(
        name="finetune",
        run_task=_finetune_task,
        run_baseline=_finetune_bare_loop,
        heads=(Head.ENCODER,),
        task_label="lab fit()",
        baseline_label="bare loop",
        make_samples=finetune_samples,
        note="lab fit() = one epoch of bertviz_ui.tasks.finetune.fit (the Fine-tuning lab's loop: per-batch padding, "
             "AdamW eps 1e-8, linear warmup/decay, clipping at 1.0, loss, lr and examples/s recorded per step, "
             "cancel and deadline checks) on the seed's 8 reviews x4 (32 examples, batch 4, max length 64); bare "
             "loop = the seed's PyTorch loop on the same classifier object and data (tokenized once, padded to the "
             "longest). Both train one classifier built once from the encoder as the lab builds it; examples/s = "
             "32 / the median. The ratio is the lab's time in bare loops (1.1x would be 10% slower). Default model "
             f"{OFFLINE_MODEL_ID} (real weights).",
        ref=OFFLINE_MODEL_ID,
        count_tokens=line_tokens,
    ),
)


@dataclass(frozen=True)
class Timing:
    """One variant's time per call on one sample.

    Attributes:
        label: the variant's column name.
        median_s: median over repeats of seconds per call.
        per_repeat_s: seconds per call in each repeat (a batch's time divided by its calls).
        calls_per_repeat: calls in each repeat's batch.
    """

    label: str
    median_s: float
    per_repeat_s: tuple[float, ...]
    calls_per_repeat: int


@dataclass(frozen=True)
class BenchResult:
    """One case on one sample.

    Attributes:
        case: the case's name.
        sample: the sample's name.
        tokens: the sample's length in the checkpoint's tokens, specials included (the case's count_tokens).
        model: the checkpoint as the app labels it.
        task: the tab's compute.
        baseline: what it is compared with.
        extras: further variants, in the case's order.
        ratio: a ratio of medians: task.median_s / baseline.median_s, or for a speed-up (``speedup``)
            baseline.median_s / task.median_s, how many times faster the task is.
        speedup: which of the two ``ratio`` is (the case's BenchCase.speedup).
    """

    case: str
    sample: str
    tokens: int
    model: str
    task: Timing
    baseline: Timing
    extras: tuple[Timing, ...]
    ratio: float
    speedup: bool = False

    def ratio_over(self, other: Timing) -> float:
        """The task's ratio against any variant of the row, in the row's direction (see ``ratio``)."""
        return other.median_s / self.task.median_s if self.speedup else self.task.median_s / other.median_s


@dataclass(frozen=True)
class Machine:
    """Where the timings were taken.

    Attributes:
        load_average: the 1-, 5- and 15-minute load averages when it was described (None where the OS has
            none); other busy processes slow a multi-threaded forward far more than a one-thread tokenizer.
    """

    device: str
    dtype: str
    torch_threads: int
    torch_interop_threads: int
    cpus: int | None
    arch: str
    python: str
    torch: str
    transformers: str
    load_average: tuple[float, float, float] | None


@dataclass(frozen=True)
class BenchReport:
    """A whole run: what was asked, where it ran, and the results."""

    model: str
    repeats: int
    machine: Machine
    results: tuple[BenchResult, ...]
    # Cases that ran on another checkpoint than ``model`` (fill_mask's masked LM, sentiment's classifier), by name.
    case_models: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form written by ``--json``."""
        return dataclasses.asdict(self)


def select_cases(names: Sequence[str] | None, cases: Sequence[BenchCase] = CASES) -> tuple[BenchCase, ...]:
    """The cases named, in the order named; all of them when ``names`` is empty or None.

    Args:
        names: case names (as given to ``--cases``).
        cases: the registry to pick from.

    Returns:
        The cases. Raises ValueError naming the unknown name and the known ones.
    """
    if not names:
        return tuple(cases)
    by_name = {case.name: case for case in cases}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"Unknown benchmark case {unknown[0]!r}; known: {', '.join(by_name)}.")
    return tuple(by_name[name] for name in dict.fromkeys(names))


def machine_info(cache: ModelCache) -> Machine:
    """Describe this process's machine and torch settings, for printing beside the timings (call it before timing).

    Args:
        cache: the model cache whose device and dtype the models use.

    Returns:
        Machine.
    """
    import transformers

    return Machine(
        device=cache.device,
        dtype=str(cache.dtype).replace("torch.", ""),
        torch_threads=torch.get_num_threads(),
        torch_interop_threads=torch.get_num_interop_threads(),
        cpus=os.cpu_count(),
        arch=platform.machine(),
        python=platform.python_version(),
        torch=torch.__version__,
        transformers=transformers.__version__,
        load_average=_load_average(),
    )


def _load_average() -> tuple[float, float, float] | None:
    try:
        return tuple(round(value, 2) for value in os.getloadavg())
    except (AttributeError, OSError):
        return None


def case_ref(case: BenchCase, ref: str, refs: Mapping[str, str] | None = None) -> str:
    """The checkpoint a case runs on: ``refs[case.name]``, else the case's own ``ref``, else the run's ``ref``."""
    return (refs or {}).get(case.name) or case.ref or ref


def load_case_models(cache: ModelCache, case: BenchCase, ref: str) -> Models:
    """The models a case's run functions receive, for the checkpoint ``ref`` (see case_ref)."""
    if case.load is not None:
        return case.load(cache, ref)
    return {head: cache.load(ref, head) for head in case.heads}


def run_cases(cache: ModelCache, ref: str, cases: Sequence[BenchCase] = CASES, *, repeats: int = DEFAULT_REPEATS,
              min_batch_s: float = MIN_BATCH_S, refs: Mapping[str, str] | None = None) -> tuple[BenchResult, ...]:
    """Time every case on every one of its samples, its variants interleaved within each repeat.

    Args:
        cache: the app's model cache; every checkpoint on disk comes through it.
        ref: the checkpoint (Hub id, local directory, ``tiny:<head>`` or the offline model's id).
        cases: which cases to run.
        repeats: measurements per variant; the median is reported.
        min_batch_s: fast variants are called repeatedly until one measurement lasts about this long.
        refs: checkpoints for particular cases, by case name (as ``--mlm-model`` gives the fill_mask case and
            ``--classifier-model`` the sentiment case);
            a case not named runs on its own ``ref``, else on ``ref``.

    Returns:
        One BenchResult per case and sample, in order. Raises ValueError for repeats < 1, and
        BadInput or ModelUnavailable when the model can't be loaded.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    sync = _synchronizer(cache.device)
    results = []
    for case in cases:
        this_ref = case_ref(case, ref, refs)
        models = load_case_models(cache, case, this_ref)
        label = next(iter(models.values())).label if models else this_ref
        tokenizer = _tokenizer_of(models) if models else None
        for sample in case.make_samples(models):
            variants = [(case.task_label, case.run_task), (case.baseline_label, case.run_baseline),
                        *((extra.label, extra.run) for extra in case.extras)]
            calls = [_bind(run, models, sample) for _, run in variants]
            timings = [
                Timing(label=name, median_s=statistics.median(times), per_repeat_s=tuple(times), calls_per_repeat=n)
                for (name, _), (times, n) in zip(variants, _measure(calls, repeats, min_batch_s, sync))
            ]
            tokens = case.count_tokens(tokenizer, sample) if tokenizer is not None else 0
            task, baseline, *extras = timings
            ratio = baseline.median_s / task.median_s if case.speedup else task.median_s / baseline.median_s
            results.append(BenchResult(case=case.name, sample=sample.name, tokens=tokens, model=label, task=task,
                                       baseline=baseline, extras=tuple(extras), ratio=ratio,
                                       speedup=case.speedup))
    return tuple(results)


def _bind(run: Run, models: Models, sample: Sample) -> Callable[[], Any]:
    return lambda: run(models, sample)


def _synchronizer(device: str) -> Callable[[], None]:
    # GPU kernels run asynchronously; without waiting for them a batch would time only the launches.
    if device.startswith("cuda"):
        return torch.cuda.synchronize
    if device == "mps":
        return torch.mps.synchronize
    return lambda: None


def _measure(calls: Sequence[Callable[[], Any]], repeats: int, min_batch_s: float,
             sync: Callable[[], None]) -> list[tuple[list[float], int]]:
    sizes = [_batch_size(call, min_batch_s, sync) for call in calls]
    times: list[list[float]] = [[] for _ in calls]
    for repeat in range(repeats):
        # Rotating who goes first spreads drift (thermal, other processes, allocator state) over all variants.
        for offset in range(len(calls)):
            index = (repeat + offset) % len(calls)
            times[index].append(_time_batch(calls[index], sizes[index], sync) / sizes[index])
    return list(zip(times, sizes))


def _batch_size(call: Callable[[], Any], min_batch_s: float, sync: Callable[[], None]) -> int:
    call()  # the first call pays one-off costs (allocations, kernel selection) that a tab pays once per process
    single = _time_batch(call, 1, sync)
    return max(1, min(_MAX_CALLS_PER_BATCH, math.ceil(min_batch_s / max(single, 1e-9))))


def _time_batch(call: Callable[[], Any], number: int, sync: Callable[[], None]) -> float:
    # As timeit does: a collection landing in one variant's batch would be charged to that variant alone.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            call()
        sync()
        return time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _milliseconds(seconds: float) -> str:
    # Three significant digits, but whole milliseconds from 100 up: ".3g" would print 1003 ms as "1e+03".
    value = seconds * 1e3
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _ratio(value: float) -> str:
    return f"{value:.3g}x"


def _spread(result: BenchResult) -> str:
    # The widest interquartile range relative to its median, over the row's variants: how far to trust the row.
    widest = 0.0
    for timing in (result.task, result.baseline, *result.extras):
        if len(timing.per_repeat_s) >= 2:
            quartiles = statistics.quantiles(timing.per_repeat_s, n=4)
            widest = max(widest, (quartiles[2] - quartiles[0]) / timing.median_s)
    return f"{widest:.0%}"


def _speedup_line(row: BenchResult) -> str:
    task, baseline = row.task.label, row.baseline.label
    if row.ratio >= 1:
        return f"  {row.sample}, {row.tokens} tokens: {task} runs {_ratio(row.ratio)} faster than {baseline}"
    return f"  {row.sample}, {row.tokens} tokens: {task} runs at {_ratio(row.ratio)} the speed of {baseline} (slower)"


def format_table(report: BenchReport, cases: Sequence[BenchCase] = CASES) -> str:
    """The report as plain text: a machine line, then one table per case (medians in ms, ratios of medians).

    A ratio column is named after what it divides: "tokenize()/forward" is the task's cost in forwards; for a
    speed-up case "pipeline/predict_masks()" is how many times faster the task is, and a line per input says so.

    Args:
        report: what run_cases measured, with the machine.
        cases: the registry, for each case's note.

    Returns:
        The text, ending with a newline.
    """
    machine = report.machine
    others = "".join(f"; {name} on {ref}" for name, ref in report.case_models.items())
    lines = [
        f"model: {report.model}{others}; {report.repeats} repeats, variants interleaved; medians per call",
        (f"machine: {machine.device} {machine.dtype}, torch {machine.torch} "
         f"with {_plural(machine.torch_threads, 'thread')} ({machine.torch_interop_threads} interop), "
         f"{machine.cpus} CPUs {machine.arch}, "
         f"Python {machine.python}, transformers {machine.transformers}"),
    ]
    if machine.load_average is not None:
        one_minute = machine.load_average[0]
        lines.append(f"load average before timing: {', '.join(f'{v:.2f}' for v in machine.load_average)}"
                     + (" (other processes are busy: multi-threaded forwards suffer most; compare with --threads 1)"
                        if one_minute >= 1 else ""))
    notes = {case.name: case.note for case in cases}
    for name in dict.fromkeys(result.case for result in report.results):
        rows = [result for result in report.results if result.case == name]
        first = rows[0]
        task = first.task.label
        header = ["input", "tokens", f"{task} ms", f"{first.baseline.label} ms",
                  _ratio_label(task, first.baseline.label, first.speedup)]
        for extra in first.extras:
            header += [f"{extra.label} ms", _ratio_label(task, extra.label, first.speedup)]
        header.append("spread")
        table = [header]
        for row in rows:
            cells = [row.sample, str(row.tokens), _milliseconds(row.task.median_s),
                     _milliseconds(row.baseline.median_s), _ratio(row.ratio)]
            for extra in row.extras:
                cells += [_milliseconds(extra.median_s), _ratio(row.ratio_over(extra))]
            cells.append(_spread(row))
            table.append(cells)
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        lines += ["", f"[{name}] {first.model}"]
        for line in table:
            lines.append("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                                   for i, cell in enumerate(line)).rstrip())
        if first.speedup:
            lines.append(f"speed-up: X/{task} = X's median / {task}'s; above 1x {task} is faster, below 1x slower.")
            lines += [_speedup_line(row) for row in rows]
        if notes.get(name):
            lines += textwrap.wrap(notes[name], width=110)
    lines += ["", "spread = the widest interquartile range / median among a row's variants: how far to trust it."]
    return "\n".join(lines) + "\n"


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {raw!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bertviz_ui.bench",
        description="Time each tab's compute against the bare model forward (or the transformers pipeline it "
                    "replaces) on the same checkpoint.",
        epilog="Device, cache directory and memory budget come from BERTVIZ_UI_DEVICE, BERTVIZ_UI_CACHE_DIR "
               "and BERTVIZ_UI_CACHE_GB, as for the app.",
        allow_abbrev=False,
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="REF",
                        help=f"Hub id, local directory or tiny:encoder (default {DEFAULT_MODEL}, offline).")
    parser.add_argument("--mlm-model", default=DEFAULT_MLM_MODEL, metavar="REF",
                        help=f"the fill_mask case's masked LM: {RANDOM_BERT_BASE} (default; "
                             "BertForMaskedLM(BertConfig()) built in memory with random weights, bert-base size) or a "
                             "checkpoint with a trained masked-LM head (Hub id, local directory, tiny:masked_lm).")
    parser.add_argument("--classifier-model", default=DEFAULT_CLASSIFIER_MODEL, metavar="REF",
                        help=f"the sentiment case's classifier: {RANDOM_DISTILBERT_BASE} (default; "
                             "DistilBertForSequenceClassification built in memory with random weights, distilbert-base "
                             "size) or a checkpoint with a trained sequence-classification head (Hub id, local "
                             "directory, tiny:sequence_classification).")
    parser.add_argument("--qa-model", default=DEFAULT_QA_MODEL, metavar="REF",
                        help=f"the qa case's extractive QA model: {RANDOM_DISTILBERT_QA} (default; "
                             "DistilBertForQuestionAnswering built in memory with random weights, distilbert-base "
                             "size) or a checkpoint with a trained span head (Hub id, local directory, "
                             "tiny:question_answering).")
    parser.add_argument("--repeats", type=_positive_int, default=DEFAULT_REPEATS, metavar="N",
                        help=f"measurements per variant; medians are reported (default {DEFAULT_REPEATS}).")
    parser.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                        help="torch.set_num_threads(N) before timing (default: torch's own choice).")
    parser.add_argument("--cases", default="", metavar="NAME[,NAME]",
                        help=f"which cases to run (default all: {', '.join(case.name for case in CASES)}).")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark from the command line.

    Args:
        argv: arguments without the program name; defaults to sys.argv[1:].

    Returns:
        The exit status: 0, or 1 when the model can't be loaded (bad flags exit with 2 via argparse).
    """
    from bertviz_ui.config import load_settings
    from bertviz_ui.models import build_cache

    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        cases = select_cases([name.strip() for name in args.cases.split(",") if name.strip()])
    except ValueError as error:
        parser.error(str(error))
    if args.threads:
        torch.set_num_threads(args.threads)
    refs = {"fill_mask": args.mlm_model, "sentiment": args.classifier_model, "qa": args.qa_model}
    try:
        cache = build_cache(load_settings((), os.environ))
        machine = machine_info(cache)
        results = run_cases(cache, args.model, cases, repeats=args.repeats, refs=refs)
    except BertvizError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    case_models = {case.name: case_ref(case, args.model, refs) for case in cases}
    report = BenchReport(model=args.model, repeats=args.repeats, machine=machine, results=results,
                         case_models={name: ref for name, ref in case_models.items() if ref != args.model})
    print(format_table(report, cases), end="")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
