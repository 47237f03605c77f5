"""The sentiment case: classify() on 32 reviews at once against 32 single calls and pipeline("text-classification")."""

from __future__ import annotations

from typing import Any

import torch

from bench.corpora import SENTIMENT_TEXTS
from bench.harness import BenchCase, Models, Sample, Variant, line_tokens, shared_pipeline, tokenizer_of
from bench.random_models import RANDOM_DISTILBERT_BASE, RANDOM_SEED, load_one_head
from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head
from bertviz_ui.tasks.sentiment import BATCH_SIZE as SENTIMENT_BATCH_SIZE
from bertviz_ui.tasks.sentiment import classify

# The sentiment case's classifier: distilbert-base-sized (the tab's default model is a DistilBERT).
DEFAULT_CLASSIFIER_MODEL = RANDOM_DISTILBERT_BASE


def sentiment_samples(models: Models) -> tuple[Sample, ...]:
    """SENTIMENT_TEXTS as one text, a review per line: what the tab classifies in one click.

    Args:
        models: the case's loaded models; their tokenizer measures the lengths, shown in the sample's name.

    Returns:
        One sample.
    """
    lengths = [len(ids) for ids in tokenizer_of(models)(list(SENTIMENT_TEXTS))["input_ids"]]
    name = f"{len(SENTIMENT_TEXTS)} reviews ({min(lengths)}-{max(lengths)} tokens)"
    return (Sample(name, "\n".join(SENTIMENT_TEXTS)),)


def sentiment_pipeline(loaded: LoadedModel) -> Any:
    """``pipeline("text-classification", top_k=None)`` (every class's score) on the very model classify gets.

    Args:
        loaded: a Head.SEQUENCE_CLASSIFICATION model.

    Returns:
        The pipeline, built once per LoadedModel, on the model's own device; called on a list with its default
        batch_size, it runs one forward per text.
    """
    return shared_pipeline(loaded, "text-classification", top_k=None)


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


CASE = BenchCase(
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
         f"{SENTIMENT_BATCH_SIZE} reviews sorted by length, padded to the longest; single calls = classify(review) "
         "once per review, one forward each. The tokens column counts each review with its own [CLS] and [SEP], "
         "what the single calls read. Both give the same labels and scores (the tab's whole result, no "
         "rendering). pipeline = "
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
)
