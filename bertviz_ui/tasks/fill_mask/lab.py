"""The masking lab: the 15% selection and 80/10/10 corruption of BERT's pretraining, and the model's loss on it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.errors import BadInput
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import Budget
from bertviz_ui.tasks.fill_mask.masks import Prediction, _predictions, check_budget, mask_logits
from bertviz_ui.tasks.modeling import model_max_length
from bertviz_ui.tasks.validation import check_text, check_whole_number

ROLE_MASKED, ROLE_RANDOM, ROLE_UNCHANGED, ROLE_NOT_SELECTED, ROLE_SPECIAL = (
    "masked", "random", "unchanged", "not selected", "special")


@dataclass(frozen=True)
class LabToken:
    """One position of the masking lab.

    Attributes:
        index: token position.
        original: the token in the sentence.
        corrupted: what the model is given instead (same as original unless masked or randomized).
        role: "masked" ([MASK], 80%), "random" (random token, 10%), "unchanged" (selected but kept, 10%),
            "not selected" or "special".
        prediction: the model's top guess at a selected position (None elsewhere).
        prediction_score: its probability.
        original_score: probability the model gives the original token there (selected positions).
        loss: cross-entropy at this position, -log(original_score) (selected positions only).
    """

    index: int
    original: str
    corrupted: str
    role: str
    prediction: str | None = None
    prediction_score: float | None = None
    original_score: float | None = None
    loss: float | None = None


@dataclass(frozen=True)
class MaskingLabResult:
    """The corruption BERT's pretraining applies to a sentence, and the model's loss on it."""

    model: str
    sentence: str
    seed: int
    probability: float
    tokens: tuple[LabToken, ...]
    counts: dict[str, int]
    mean_loss: float | None
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def corrupt(input_ids: torch.Tensor, special_tokens_mask: torch.Tensor, *, tokenizer: Tokenizer, seed: int,
            probability: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """Select and corrupt tokens exactly as transformers' DataCollatorForLanguageModeling does in pretraining.

    Args:
        input_ids: [batch, length] token ids.
        special_tokens_mask: 1 where a token may not be selected.
        tokenizer: supplies the mask token and the vocabulary size for random replacements.
        seed: the collator's random seed; the same seed gives the same corruption.
        probability: share of tokens selected (0.15 in BERT).

    Returns:
        (corrupted ids, labels with -100 where no loss is computed).
    """
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(getattr(tokenizer, "unwrapped", tokenizer), mlm=True,
                                               mlm_probability=probability, mask_replace_prob=0.8,
                                               random_replace_prob=0.1, seed=seed)
    # Called like a training DataLoader calls it: that is where the collator seeds its own generator
    # (torch_mask_tokens alone would draw from torch's global RNG and ignore the seed).
    batch = collator([{"input_ids": ids, "special_tokens_mask": special}
                      for ids, special in zip(input_ids.tolist(), special_tokens_mask.tolist())])
    return batch["input_ids"], batch["labels"]


def masking_lab(sentence: str, *, model: Model, tokenizer: Tokenizer, seed: int = 0, probability: float = 0.15,
                label: str = "", budget: Budget | None = None) -> MaskingLabResult:
    """Draw BERT's masking for a sentence and score the model where the loss is computed.

    Args:
        sentence: plain text.
        model: a masked-LM model.
        tokenizer: its tokenizer.
        seed: random seed of the draw (0-2**31).
        probability: selection rate, 0.05-0.5 (BERT: 0.15).
        label: the model's label, shown with the result.
        budget: what one request may cost (default: the default budget); more is refused up front (OverBudget).

    Returns:
        MaskingLabResult; ``mean_loss`` equals the model's own MLM loss on the corrupted input.
    """
    sentence = check_text(sentence, "Sentence")
    seed = check_whole_number(seed, "Seed", low=0, high=2**31 - 1)
    try:
        probability = float(probability)
    except (TypeError, ValueError):
        raise BadInput("The selection rate must be a number between 0.05 and 0.5.") from None
    if not 0.05 <= probability <= 0.5:
        raise BadInput("The selection rate must be between 0.05 and 0.5 (BERT uses 0.15).")
    # The lab draws its own masks: "[MASK]" or "[SEP]" typed in the sentence is read as plain text.
    encoding = tokenizer(sentence, return_tensors="pt", truncation=False, return_special_tokens_mask=True,
                         split_special_tokens=True)
    length = encoding["input_ids"].shape[1]
    limit = model_max_length(tokenizer, model)
    if length > limit:
        raise BadInput(f"The sentence is {length} tokens; this model reads at most {limit}. Shorten it.")
    check_budget(model, int(length), forwards=1, heads=int(length), what="Scoring the masked sentence",
                 budget=budget)
    special = encoding.pop("special_tokens_mask")
    original = encoding["input_ids"]
    corrupted, labels = corrupt(original, special, tokenizer=tokenizer, seed=seed, probability=probability)
    selected = (labels[0] != -100).nonzero().flatten().tolist()

    scored: dict[int, tuple[Prediction, float]] = {}
    if selected:
        corrupted_encoding = {**encoding, "input_ids": corrupted}
        logits, _ = mask_logits(model, corrupted_encoding, [(0, p) for p in selected])
        log_probs = logits.log_softmax(-1)
        for row, position in enumerate(selected):
            top = _predictions(tokenizer, logits[row], 1)[0]
            scored[position] = (top, float(log_probs[row, original[0, position]]))

    original_tokens = tokenizer.convert_ids_to_tokens(original[0].tolist())
    corrupted_tokens = tokenizer.convert_ids_to_tokens(corrupted[0].tolist())
    tokens = []
    counts = {ROLE_MASKED: 0, ROLE_RANDOM: 0, ROLE_UNCHANGED: 0}
    for i in range(length):
        if special[0, i]:
            role = ROLE_SPECIAL
        elif i not in scored:
            role = ROLE_NOT_SELECTED
        elif corrupted[0, i] == tokenizer.mask_token_id and original[0, i] != tokenizer.mask_token_id:
            role = ROLE_MASKED
        elif corrupted[0, i] != original[0, i]:
            role = ROLE_RANDOM
        else:
            role = ROLE_UNCHANGED
        if role in counts:
            counts[role] += 1
        extra = {}
        if i in scored:
            top, log_prob = scored[i]
            extra = {"prediction": top.token, "prediction_score": top.score,
                     "original_score": float(torch.tensor(log_prob).exp()), "loss": -log_prob}
        tokens.append(LabToken(index=i, original=original_tokens[i], corrupted=corrupted_tokens[i], role=role,
                               **extra))
    losses = [t.loss for t in tokens if t.loss is not None]
    notes = []
    if not selected:
        notes.append(f"No token was selected with seed {seed} at rate {probability:g}: short sentences often "
                     "get none. Try another seed or a higher rate.")
    return MaskingLabResult(model=label, sentence=sentence, seed=seed, probability=probability,
                            tokens=tuple(tokens), counts=counts,
                            mean_loss=sum(losses) / len(losses) if losses else None, notes=tuple(notes))
