"""The steps every fill-mask job shares: masks in the text checked and located, vocabulary logits at the masks
only, the top-k candidates, and the up-front budget check.

The vocabulary projection (30k+ columns) runs only at [MASK] positions, never over every token:
same numbers as the full forward, a fraction of the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models import anatomy
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.batching import MAX_PACKED_TOKENS, MicroBatcher, packed_hidden, pad_id_of, pad_together
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of, vocabulary_flops
from bertviz_ui.tasks.modeling import model_inputs, model_max_length
from bertviz_ui.tasks.validation import check_whole_number

CANONICAL_MASK = "[MASK]"
MAX_MASKS = 8
MAX_TOP_K = 50
# Mask tokens of other model families, to recognise a mask written for the wrong model.
KNOWN_MASK_TOKENS = ("[MASK]", "<mask>", "[mask]")


@dataclass(frozen=True)
class Prediction:
    """One candidate for a masked position.

    Attributes:
        token: the candidate as text (what `pipeline("fill-mask")` calls token_str).
        piece: the vocabulary entry (WordPiece "##ing", BPE "Ġparis").
        token_id: its id.
        score: softmax probability over the whole vocabulary.
    """

    token: str
    piece: str
    token_id: int
    score: float


@dataclass(frozen=True)
class MaskPrediction:
    """The predictions for one mask: its token position and top-k candidates, best first."""

    position: int
    predictions: tuple[Prediction, ...]


# --- Model plumbing --------------------------------------------------------------------------------

def mask_logits(model: Model, encoding: Any, positions: list[tuple[int, int]], *,
                hidden_states: bool = False) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
    """Vocabulary logits at the given (row, position) pairs only.

    Args:
        model: a masked-LM model.
        encoding: tokenizer output with tensors (a batch).
        positions: (batch row, token index) of each mask.
        hidden_states: also return the head's logits at those positions for every layer.

    Returns:
        (logits [n, vocab] in float32, per-layer logits or None).
    """
    head = anatomy.mlm_head(model)
    rows = torch.tensor([r for r, _ in positions], dtype=torch.long)
    cols = torch.tensor([c for _, c in positions], dtype=torch.long)
    with torch.inference_mode():
        if head is None:  # unknown architecture: the full forward is correct, just slower
            outputs = model(**model_inputs(model, encoding), output_hidden_states=hidden_states)
            logits = outputs.logits[rows, cols].float()
            layers = None
            if hidden_states:
                raise ModelUnavailable("This architecture's masked-LM head can't be applied layer by layer.")
            return logits, layers
        base = anatomy.encoder(model)
        if not hidden_states:
            at_masks = anatomy.bert_last_layer_at(model, encoding, positions)
            if at_masks is not None:
                return head(at_masks).float(), None
        outputs = base(**model_inputs(base, encoding), output_hidden_states=hidden_states)
        logits = head(outputs.last_hidden_state[rows, cols]).float()
        layers = None
        if hidden_states:
            layers = tuple(head(h[rows, cols]).float() for h in outputs.hidden_states)
        return logits, layers


def row_mask_logits(model: Model, encoding: Any, cols: list[int], *,
                    batcher: MicroBatcher | None = None) -> torch.Tensor:
    """Vocabulary logits [len(cols), vocab] at one sequence's mask columns, batched with concurrent requests.

    Alone, ``mask_logits`` on the sequence as it is (the last-layer shortcut included); together, one padded forward
    with every request's masks as (row, column) pairs, each request getting its own rows back.
    """
    inputs = {name: tensor.cpu() for name, tensor in encoding.items() if isinstance(tensor, torch.Tensor)}

    def run_batch(parts: list[tuple[dict[str, torch.Tensor], list[int]]]) -> list[torch.Tensor]:
        if len(parts) == 1:
            return [mask_logits(model, parts[0][0], [(0, col) for col in parts[0][1]])[0]]
        counts = [len(wanted) for _, wanted in parts]
        head = anatomy.mlm_head(model)
        total = sum(int(part["input_ids"].shape[1]) for part, _ in parts)
        if head is not None and anatomy.plain_positions(model) and total <= MAX_PACKED_TOKENS:
            # Packed into one sequence: short sentences of different lengths waste nothing on padding.
            with torch.inference_mode():
                hidden, starts = packed_hidden(
                    model, [part["input_ids"][0].tolist() for part, _ in parts],
                    [part["token_type_ids"][0].tolist() if "token_type_ids" in part
                     else [0] * int(part["input_ids"].shape[1]) for part, _ in parts])
                rows = [start + col for start, (_, wanted) in zip(starts, parts, strict=True) for col in wanted]
                return list(head(hidden[rows]).float().cpu().split(counts))
        together = pad_together([part for part, _ in parts], pad_id_of(model))
        logits, _ = mask_logits(model, together, [(row, col) for row, (_, wanted) in enumerate(parts)
                                                  for col in wanted])
        return list(logits.cpu().split(counts))

    if batcher is None:
        return run_batch([(inputs, cols)])[0]
    return batcher.run((id(model), "mask_logits"), (inputs, list(cols)), run_batch,
                       width=int(inputs["input_ids"].shape[1]))


def _predictions(tokenizer: Tokenizer, logits: torch.Tensor, top_k: int) -> tuple[Prediction, ...]:
    probs = logits.softmax(dim=-1)
    scores, ids = probs.topk(top_k)
    ids_list = ids.tolist()
    pieces = tokenizer.convert_ids_to_tokens(ids_list)
    return tuple(
        Prediction(token=tokenizer.decode([i]).strip(), piece=str(p), token_id=int(i), score=float(s))
        for i, p, s in zip(ids_list, pieces, scores.tolist())
    )


# --- Input handling ----------------------------------------------------------------------------------

def _check_top_k(top_k: Any) -> int:
    return check_whole_number(top_k, "Top-k", low=1, high=MAX_TOP_K)


def normalize_masks(text: str, tokenizer: Tokenizer) -> str:
    """Accept [MASK] for any model (rewritten to the model's own mask token) and the model's own token.

    Raises BadInput for another family's mask token (``<mask>`` given to BERT) and for text without a mask.
    """
    own = str(tokenizer.mask_token)
    for foreign in KNOWN_MASK_TOKENS:
        if foreign != own and foreign != CANONICAL_MASK and foreign in text:
            raise BadInput(f"{foreign} is not this model's mask token: this model uses {own} "
                           f"(or write {CANONICAL_MASK}, which works with every model).")
    if own != CANONICAL_MASK:
        text = text.replace(CANONICAL_MASK, own)
    if own not in text:
        raise BadInput(f"Put at least one {CANONICAL_MASK} in the text (this model's mask token is {own}).")
    return text


def _encode_masked(text: str, tokenizer: Tokenizer, model: Model, budget: Budget | None = None, *,
                   forwards: int | None = 1, heads: int = 1,
                   what: str = "Predicting the masks") -> tuple[Any, list[int]]:
    """The encoded text and its mask positions; refused up front when ``forwards`` passes (None: one per mask)
    and the vocabulary head at ``heads`` positions per mask cost more than the budget."""
    encoding = tokenizer(text, return_tensors="pt", truncation=False)
    length = encoding["input_ids"].shape[1]
    limit = model_max_length(tokenizer, model)
    if length > limit:
        raise BadInput(f"The text is {length} tokens; this model reads at most {limit}. Shorten it.")
    positions = (encoding["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
    if len(positions) > MAX_MASKS:
        raise BadInput(f"{len(positions)} masks: this tab predicts at most {MAX_MASKS} at once.")
    check_budget(model, int(length), forwards=len(positions) if forwards is None else forwards,
                 heads=heads * max(1, len(positions)), what=what, budget=budget)
    return encoding, positions


def check_budget(model: Model, tokens: int, *, forwards: int, heads: int, what: str, budget: Budget | None) -> None:
    """Refuse up front (OverBudget) ``forwards`` forward passes over ``tokens`` tokens plus the vocabulary head at
    ``heads`` positions when that costs more than one request may use."""
    shape = shape_of(model)
    (budget or Budget()).check(f"{what} ({forwards} forward pass(es) over {tokens} tokens with this model)",
                               forwards * forward_flops(shape, tokens) + vocabulary_flops(shape, heads),
                               "Use a shorter text, fewer masks or a smaller model.")


def check_mlm_head(loaded_new: tuple[str, ...]) -> None:
    """Refuse a checkpoint whose masked-LM head was missing (it would be randomly initialized)."""
    if anatomy.untrained_mlm_weights(loaded_new):
        raise ModelUnavailable("This checkpoint has no trained masked-language-model head (its weights would be "
                               "random). Choose a pretrained base model such as google-bert/bert-base-uncased.")
