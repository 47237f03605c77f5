"""Fill the masks: every mask predicted independently in one forward, or one at a time, most confident first."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.batching import MicroBatcher
from bertviz_ui.tasks.budget import Budget
from bertviz_ui.tasks.fill_mask.masks import (
    CANONICAL_MASK,
    MaskPrediction,
    Prediction,
    _check_top_k,
    _encode_masked,
    _predictions,
    check_mlm_head,
    normalize_masks,
    row_mask_logits,
)
from bertviz_ui.tasks.validation import check_text


@dataclass(frozen=True)
class FillMaskResult:
    """Top-k predictions for every mask of a text, each predicted independently."""

    model: str
    text: str
    mask_token: str
    tokens: tuple[str, ...]
    masks: tuple[MaskPrediction, ...]
    completed: str
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FillStep:
    """One step of iterative filling: the mask filled (by its position) and the token chosen."""

    position: int
    prediction: Prediction
    text_after: str


@dataclass(frozen=True)
class IterativeFill:
    """Masks filled one at a time, most confident first, re-running the model after each."""

    steps: tuple[FillStep, ...]
    completed: str


def _fill(tokenizer: Tokenizer, input_ids: list[int], choices: dict[int, int]) -> str:
    ids = [choices.get(i, token_id) for i, token_id in enumerate(input_ids)]
    return tokenizer.decode(ids, skip_special_tokens=True)


def predict_masks(text: str, *, model: Model, tokenizer: Tokenizer, top_k: int = 5, label: str = "",
                  newly_initialized: tuple[str, ...] = (), budget: Budget | None = None,
                  batcher: MicroBatcher | None = None) -> FillMaskResult:
    """Top-k predictions for each mask in ``text``, each mask predicted independently in one forward.

    Args:
        text: text with one or more [MASK] (or the model's own mask token).
        model: a masked-LM model in eval mode.
        tokenizer: its tokenizer.
        top_k: candidates per mask (1-50).
        label: the model's label, shown with the result.
        newly_initialized: weights the checkpoint lacked; a random MLM head is refused.
        budget: what one request may cost (default: the default budget); more is refused up front (OverBudget).
        batcher: runs the forward together with concurrent requests on the same model (same numbers).

    Returns:
        FillMaskResult. Raises BadInput for missing, foreign or too many masks and over-long text.
    """
    check_mlm_head(newly_initialized)
    text = normalize_masks(check_text(text, "Text"), tokenizer)
    top_k = _check_top_k(top_k)
    encoding, positions = _encode_masked(text, tokenizer, model, budget)
    logits = row_mask_logits(model, encoding, positions, batcher=batcher)
    masks = tuple(MaskPrediction(position=p, predictions=_predictions(tokenizer, logits[i], top_k))
                  for i, p in enumerate(positions))
    input_ids = encoding["input_ids"][0].tolist()
    completed = _fill(tokenizer, input_ids, {m.position: m.predictions[0].token_id for m in masks})
    notes = []
    if len(masks) > 1:
        notes.append(f"{len(masks)} masks: each is predicted independently, as if the others stayed masked. "
                     "Compare with the iterative fill, which fills the most confident mask and re-runs.")
    if str(tokenizer.mask_token) != CANONICAL_MASK:
        notes.append(f"This model's mask token is {tokenizer.mask_token}; [MASK] was rewritten to it.")
    return FillMaskResult(model=label, text=text, mask_token=str(tokenizer.mask_token),
                          tokens=tuple(tokenizer.convert_ids_to_tokens(input_ids)), masks=masks,
                          completed=completed, notes=tuple(notes))


def iterative_fill(text: str, *, model: Model, tokenizer: Tokenizer, budget: Budget | None = None,
                   batcher: MicroBatcher | None = None) -> IterativeFill:
    """Fill masks one at a time: the most confident prediction first, then run the model again.

    Args:
        text: text with one or more masks (as for predict_masks).
        model: a masked-LM model.
        tokenizer: its tokenizer.
        batcher: runs each step's forward together with concurrent requests on the same model.

    Returns:
        IterativeFill with one step per mask.
    """
    text = normalize_masks(check_text(text, "Text"), tokenizer)
    encoding, positions = _encode_masked(text, tokenizer, model, budget, forwards=None,
                                         what="Filling the masks one at a time")
    input_ids = encoding["input_ids"][0].tolist()
    steps = []
    while positions:
        logits = row_mask_logits(model, encoding, positions, batcher=batcher)
        best = [_predictions(tokenizer, logits[i], 1)[0] for i in range(len(positions))]
        pick = max(range(len(positions)), key=lambda i: best[i].score)
        position = positions.pop(pick)
        input_ids[position] = best[pick].token_id
        encoding["input_ids"][0, position] = best[pick].token_id
        steps.append(FillStep(position=position, prediction=best[pick],
                              text_after=tokenizer.decode(input_ids, skip_special_tokens=False)))
    return IterativeFill(steps=tuple(steps), completed=tokenizer.decode(input_ids, skip_special_tokens=True))
