"""What int8 changes: the same masks predicted by the fp32 model and by its int8 copy, side by side, with both
weight sizes and both forwards' times."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.errors import BadInput
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import Budget
from bertviz_ui.tasks.fill_mask.masks import (
    MaskPrediction,
    _check_top_k,
    _encode_masked,
    _predictions,
    check_mlm_head,
    mask_logits,
    normalize_masks,
)
from bertviz_ui.tasks.validation import check_text


@dataclass(frozen=True)
class MaskComparison:
    """One mask's top-k from each model.

    Attributes:
        full: the fp32 model's candidates.
        int8: the int8 model's candidates.
        same_top1: both put the same token first.
        shared: how many tokens appear in both top-k lists.
        moved: the share of probability that moved between the two distributions over the whole vocabulary
            (total variation distance: half the sum of |p_fp32 - p_int8|; 0 = identical, 1 = disjoint).
    """

    full: MaskPrediction
    int8: MaskPrediction
    same_top1: bool
    shared: int
    moved: float


@dataclass(frozen=True)
class QuantizedComparison:
    """Every mask of a text predicted by the fp32 model and its int8 copy.

    Attributes:
        full_bytes, int8_bytes: the two models' weights in memory.
        full_seconds, int8_seconds: this request's forward through each (one run, so only indicative).
    """

    model: str
    text: str
    tokens: tuple[str, ...]
    masks: tuple[MaskComparison, ...]
    full_bytes: int
    int8_bytes: int
    full_seconds: float
    int8_seconds: float
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _timed_logits(model: Model, encoding: Any, positions: list[int]) -> tuple[torch.Tensor, float]:
    started = time.perf_counter()
    logits, _ = mask_logits(model, encoding, [(0, p) for p in positions])
    return logits, time.perf_counter() - started


def compare_quantized(text: str, *, model: Model, quantized: Model, tokenizer: Tokenizer, full_bytes: int,
                      int8_bytes: int, top_k: int = 5, label: str = "", newly_initialized: tuple[str, ...] = (),
                      budget: Budget | None = None) -> QuantizedComparison:
    """Predict every mask of ``text`` with the fp32 model and with its int8 copy.

    Args:
        text: text with one or more [MASK] (or the model's own mask token), as for predict_masks.
        model: the masked-LM model in full precision.
        quantized: the same checkpoint with int8 layers (models/quantization.py).
        tokenizer: their tokenizer.
        full_bytes: the fp32 model's size in memory.
        int8_bytes: the int8 model's size in memory.
        top_k: candidates per mask (1-50).
        label: the model's label, shown with the result.
        newly_initialized: weights the checkpoint lacked; a random MLM head is refused.
        budget: what one request may cost; two forwards are checked up front (OverBudget).

    Returns:
        QuantizedComparison. Raises BadInput for missing, foreign or too many masks and over-long text.
    """
    check_mlm_head(newly_initialized)
    text = normalize_masks(check_text(text, "Text"), tokenizer)
    top_k = _check_top_k(top_k)
    if full_bytes <= 0 or int8_bytes <= 0:
        raise BadInput("Both models' sizes are needed to compare them.")
    encoding, positions = _encode_masked(text, tokenizer, model, budget, forwards=2, heads=2,
                                         what="Predicting the masks in fp32 and in int8")
    full_logits, full_seconds = _timed_logits(model, encoding, positions)
    int8_logits, int8_seconds = _timed_logits(quantized, encoding, positions)
    masks = []
    for i, position in enumerate(positions):
        full = MaskPrediction(position, _predictions(tokenizer, full_logits[i], top_k))
        int8 = MaskPrediction(position, _predictions(tokenizer, int8_logits[i], top_k))
        moved = 0.5 * float((full_logits[i].softmax(-1) - int8_logits[i].softmax(-1)).abs().sum())
        shared = len({p.token_id for p in full.predictions} & {p.token_id for p in int8.predictions})
        masks.append(MaskComparison(full=full, int8=int8, shared=shared, moved=moved,
                                    same_top1=full.predictions[0].token_id == int8.predictions[0].token_id))
    notes = []
    if any(not mask.same_top1 for mask in masks):
        notes.append("int8 changed the top guess: the two best candidates were close, and rounding the weights "
                     "and inputs to 256 levels was enough to swap them.")
    input_ids = encoding["input_ids"][0].tolist()
    return QuantizedComparison(model=label, text=text, tokens=tuple(tokenizer.convert_ids_to_tokens(input_ids)),
                               masks=tuple(masks), full_bytes=int(full_bytes), int8_bytes=int(int8_bytes),
                               full_seconds=full_seconds, int8_seconds=int8_seconds, notes=tuple(notes))
