"""The fill_mask_int8 case: the Masked words tab's predict_masks() on an int8 copy of the masked LM against the fp32
model; then how close int8 stays to fp32 on real weights (the offline all-MiniLM-L6-v2, final hidden states)."""

from __future__ import annotations

import copy
import dataclasses
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from bench.cases.fill_mask import DEFAULT_MLM_MODEL, FILL_MASK_LONG_TARGET, FILL_MASK_TOP_K, fill_mask_samples
from bench.corpora import BENCH_CORPUS
from bench.harness import BenchCase, BenchResult, Models, Sample
from bench.random_models import RANDOM_BERT_BASE, load_one_head
from bertviz_ui.models.cache import LoadedModel, ModelCache
from bertviz_ui.models.quantization import Precision, quantize_loaded
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head
from bertviz_ui.tasks.fill_mask import predict_masks

SPEEDUP_TARGET = 2.0
COSINE_TARGET = 0.99
_int8_copies: weakref.WeakKeyDictionary[LoadedModel, LoadedModel] = weakref.WeakKeyDictionary()


def int8_copy(loaded: LoadedModel) -> LoadedModel:
    """An int8 copy of a loaded fp32 model, quantized as the cache does (models/quantization.py), built once per
    LoadedModel; the fp32 model is left as it is."""
    copied = _int8_copies.get(loaded)
    if copied is None:
        copied = quantize_loaded(dataclasses.replace(loaded, model=copy.deepcopy(loaded.model)))
        _int8_copies[loaded] = copied
    return copied


def _predict(loaded: LoadedModel, sample: Sample) -> Any:
    with torch.inference_mode():
        return predict_masks(sample.text, model=loaded.model, tokenizer=loaded.tokenizer, top_k=FILL_MASK_TOP_K,
                             label=loaded.label, newly_initialized=loaded.newly_initialized)


def _int8_task(models: Models, sample: Sample) -> Any:
    return _predict(int8_copy(models[Head.MASKED_LM]), sample)


def _fp32_task(models: Models, sample: Sample) -> Any:
    return _predict(models[Head.MASKED_LM], sample)


def hidden_state_cosines(full: Model, int8: Model, tokenizer: Tokenizer, texts: Sequence[str]) -> torch.Tensor:
    """The cosine between the two models' final hidden states at every token of every text (each text its own
    forward, so nothing is padding).

    Args:
        full: the fp32 encoder.
        int8: its int8 copy.
        tokenizer: their tokenizer.
        texts: the texts.

    Returns:
        One cosine per token, all texts concatenated.
    """
    cosines = []
    with torch.inference_mode():
        for text in texts:
            inputs = tokenizer(text, return_tensors="pt")
            a = full(**inputs).last_hidden_state[0].float()
            b = int8(**inputs).last_hidden_state[0].float()
            cosines.append(torch.nn.functional.cosine_similarity(a, b, dim=-1))
    return torch.cat(cosines)


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def int8_checks(cache: ModelCache, results: Sequence[BenchResult]) -> tuple[str, ...]:
    """The speed-up at the longest sample against its target, and the mean cosine of int8 vs. fp32 final hidden
    states on the offline all-MiniLM-L6-v2 (real weights) over the bench corpus against its target."""
    lines = []
    if results:
        longest = max(results, key=lambda row: row.tokens)
        lines.append(f"int8 runs {longest.ratio:.2f}x as fast as fp32 at {longest.tokens} tokens (target >= "
                     f"{SPEEDUP_TARGET:g}x: {_verdict(longest.ratio >= SPEEDUP_TARGET)}).")
    full = cache.load(OFFLINE_MODEL_ID, Head.ENCODER, precision=Precision.FULL)
    int8 = cache.load(OFFLINE_MODEL_ID, Head.ENCODER, precision=Precision.INT8)
    cosines = hidden_state_cosines(full.model, int8.model, full.tokenizer, BENCH_CORPUS)
    mean = float(cosines.mean())
    lines.append(f"mean cosine of int8 vs. fp32 final hidden states on {OFFLINE_MODEL_ID} (real weights), "
                 f"{len(BENCH_CORPUS)} texts of the bench corpus, {cosines.numel()} tokens: {mean:.4f} (lowest "
                 f"{float(cosines.min()):.4f}; target >= {COSINE_TARGET}: {_verdict(mean >= COSINE_TARGET)}); "
                 f"weights {int8.size_bytes / 2**20:.1f} MB in int8, {int8.fp32_size_bytes / 2**20:.1f} MB in fp32.")
    return tuple(lines)


CASE = BenchCase(
    name="fill_mask_int8",
    task="fill_mask",
    run_task=_int8_task,
    run_baseline=_fp32_task,
    heads=(Head.MASKED_LM,),
    task_label="int8",
    baseline_label="fp32",
    make_samples=fill_mask_samples,
    note="int8 = predict_masks(text, top_k=5) (the Masked words tab's forward: the encoder, then the vocabulary "
         "head at the [MASK] only) on a copy of the model whose transformer layers' Linear weights are int8, "
         "quantized as BERTVIZ_UI_QUANTIZE=int8 loads models (bertviz_ui.models.quantization: per-channel weights, "
         "per-token inputs, torch._int_mm); fp32 = the same call on the model as loaded. Both under "
         f"torch.inference_mode(), warmed up before timing; the long text is {FILL_MASK_LONG_TARGET} tokens. "
         f"Default model {RANDOM_BERT_BASE} (bert-base size, random weights: timing only); --mlm-model changes it. "
         "The cosine check runs the offline model's encoder in fp32 and in int8 through the model cache.",
    ref=DEFAULT_MLM_MODEL,
    load=load_one_head(Head.MASKED_LM),
    speedup=True,
    checks=int8_checks,
)
