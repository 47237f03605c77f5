"""The fill_mask case: predict_masks() against pipeline("fill-mask") on the same masked LM, and its encoder alone."""

from __future__ import annotations

from typing import Any

import torch

from bench.corpora import MASK_SENTENCE, text_of_tokens
from bench.harness import BenchCase, Models, Sample, Variant, shared_pipeline, tokenizer_of
from bench.random_models import RANDOM_BERT_BASE, RANDOM_SEED, load_one_head
from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head
from bertviz_ui.tasks.fill_mask import predict_masks

# The fill_mask case needs a masked-LM head, which the offline MiniLM lacks: by default it builds a bert-base-sized
# one in memory (no such checkpoint is on disk, and the Hub can't be reached here). Random weights time the same.
DEFAULT_MLM_MODEL = RANDOM_BERT_BASE
FILL_MASK_TOP_K = 5
FILL_MASK_LONG_TARGET = 128


def fill_mask_samples(models: Models) -> tuple[Sample, ...]:
    """MASK_SENTENCE (16 tokens with the uncased vocabulary), then filler prose ending with it (at most 128 tokens).

    Args:
        models: the case's loaded models; their tokenizer measures the lengths and gives the mask token.

    Returns:
        The samples, shortest first; each has exactly one mask.
    """
    tokenizer = tokenizer_of(models)
    sentence = MASK_SENTENCE.replace("[MASK]", str(tokenizer.mask_token))
    specials = len(tokenizer("")["input_ids"])
    sentence_tokens = len(tokenizer(sentence)["input_ids"]) - specials
    limit = int(getattr(tokenizer, "model_max_length", 512) or 512)
    target = min(FILL_MASK_LONG_TARGET, limit)
    # The filler's budget counts the specials once; the sentence adds its own tokens after it.
    filler = text_of_tokens(tokenizer, target - sentence_tokens)
    return Sample("sentence", sentence), Sample("long text", f"{filler} {sentence}")


def fill_mask_pipeline(loaded: LoadedModel) -> Any:
    """``pipeline("fill-mask", top_k=FILL_MASK_TOP_K)`` on the very model and tokenizer predict_masks gets.

    Args:
        loaded: a Head.MASKED_LM model.

    Returns:
        The pipeline, built once per LoadedModel, on the model's own device.
    """
    return shared_pipeline(loaded, "fill-mask", top_k=FILL_MASK_TOP_K)


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


CASE = BenchCase(
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
)
