"""Explore one mask: both sides of its context against the left side only, the guess layer by layer, and the
words of a plain sentence to click and mask."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bertviz_ui.errors import BadInput
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import Budget, shape_of
from bertviz_ui.tasks.fill_mask.masks import (
    MAX_MASKS,
    MaskPrediction,
    Prediction,
    _check_top_k,
    _encode_masked,
    _predictions,
    mask_logits,
    normalize_masks,
)
from bertviz_ui.tasks.fill_mask.prediction import predict_masks
from bertviz_ui.tasks.validation import check_text, check_whole_number


@dataclass(frozen=True)
class ContextComparison:
    """One mask predicted with both sides of its context and with the left side only."""

    mask_index: int
    both_sides: MaskPrediction
    left_only: MaskPrediction
    left_text: str


@dataclass(frozen=True)
class LayerStep:
    """The masked-LM head applied to one layer's hidden state at the mask (layer 0 = embeddings)."""

    layer: int
    top: tuple[Prediction, ...]
    final_token_score: float
    final_token_rank: int


@dataclass(frozen=True)
class LayerPredictions:
    """How the guesses at one mask evolve through the layers; ``final_token`` is the last layer's top-1."""

    mask_index: int
    final_token: str
    layers: tuple[LayerStep, ...]


@dataclass(frozen=True)
class Word:
    """A word of a plain sentence that can be masked: its index and character span."""

    index: int
    text: str
    start: int
    end: int


def _mask_char_spans(text: str, mask: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(re.escape(mask), text)]


def compare_context(text: str, *, model: Model, tokenizer: Tokenizer, mask_index: int = 0,
                    top_k: int = 5, budget: Budget | None = None) -> ContextComparison:
    """Predict one mask with its full context and with everything right of it removed.

    Args:
        text: text with masks.
        model: a masked-LM model.
        tokenizer: its tokenizer.
        mask_index: which mask (0 = first).
        top_k: candidates per side.

    Returns:
        ContextComparison (the left-only input keeps [CLS] ... [MASK] [SEP]).
    """
    text = normalize_masks(check_text(text, "Text"), tokenizer)
    top_k = _check_top_k(top_k)
    spans = _mask_char_spans(text, str(tokenizer.mask_token))
    mask_index = check_whole_number(mask_index, "Mask index", low=0, high=MAX_MASKS - 1)
    if not 0 <= mask_index < len(spans):
        raise BadInput(f"There is no mask number {mask_index + 1}; the text has {len(spans)}.")
    _encode_masked(text, tokenizer, model, budget, forwards=2, heads=2,
                   what="Predicting a mask with both sides and the left side only")
    full = predict_masks(text, model=model, tokenizer=tokenizer, top_k=top_k).masks[mask_index]
    left_text = text[:spans[mask_index][1]]
    left = predict_masks(left_text, model=model, tokenizer=tokenizer, top_k=top_k).masks[mask_index]
    return ContextComparison(mask_index=mask_index, both_sides=full, left_only=left, left_text=left_text)


def predictions_through_layers(text: str, *, model: Model, tokenizer: Tokenizer, mask_index: int = 0,
                               top_k: int = 3, budget: Budget | None = None) -> LayerPredictions:
    """Apply the masked-LM head to every layer's hidden state at one mask ("logit lens").

    Args:
        text: text with masks.
        model: a masked-LM model.
        tokenizer: its tokenizer.
        mask_index: which mask (0 = first).
        top_k: guesses kept per layer.

    Returns:
        LayerPredictions: per layer its top guesses and the score and rank of the final answer.
    """
    text = normalize_masks(check_text(text, "Text"), tokenizer)
    top_k = _check_top_k(top_k)
    encoding, positions = _encode_masked(text, tokenizer, model, budget, heads=int(shape_of(model).layers) + 1,
                                         what="Applying the head to every layer")
    mask_index = check_whole_number(mask_index, "Mask index", low=0, high=MAX_MASKS - 1)
    if not 0 <= mask_index < len(positions):
        raise BadInput(f"There is no mask number {mask_index + 1}; the text has {len(positions)}.")
    _, layers = mask_logits(model, encoding, [(0, positions[mask_index])], hidden_states=True)
    final_id = int(layers[-1][0].argmax())
    steps = []
    for number, layer_logits in enumerate(layers):
        probs = layer_logits[0].softmax(-1)
        rank = int((probs > probs[final_id]).sum()) + 1
        steps.append(LayerStep(layer=number, top=_predictions(tokenizer, layer_logits[0], top_k),
                               final_token_score=float(probs[final_id]), final_token_rank=rank))
    return LayerPredictions(mask_index=mask_index, final_token=tokenizer.decode([final_id]).strip(),
                            layers=tuple(steps))


def sentence_words(sentence: str, *, tokenizer: Tokenizer) -> tuple[Word, ...]:
    """The words of a plain sentence as the tokenizer splits them (punctuation is its own word)."""
    sentence = check_text(sentence, "Sentence")
    encoding = tokenizer(sentence, return_offsets_mapping=True, truncation=True)
    words: dict[int, list[int]] = {}
    for word_id, (start, end) in zip(encoding.word_ids(), encoding["offset_mapping"]):
        if word_id is None:
            continue
        span = words.setdefault(word_id, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    return tuple(Word(index=i, text=sentence[s:e], start=s, end=e) for i, (s, e) in enumerate(words.values()))


def mask_word(sentence: str, word_index: int, *, tokenizer: Tokenizer) -> str:
    """The sentence with one word replaced by a single mask token (BERT predicts one token per mask)."""
    words = sentence_words(sentence, tokenizer=tokenizer)
    try:
        index = int(word_index)
    except (TypeError, ValueError):
        raise BadInput("Pick a word to mask.") from None
    if not 0 <= index < len(words):
        raise BadInput(f"Pick a word between 1 and {len(words)}.")
    word = words[index]
    return sentence[:word.start] + str(tokenizer.mask_token) + sentence[word.end:]
