"""Two models on the same input: what differs between their single-model results (pure compute, no UI).

Each diff takes the results the single-model tasks return (tasks/tokenizer, tasks/fill_mask, tasks/sentiment,
tasks/encoder), so a comparison shows exactly what each tab shows for each model, and adds only the differences.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertviz_ui.errors import BadInput
from bertviz_ui.tasks.budget import Budget
from bertviz_ui.tasks.encoder import EncoderRun
from bertviz_ui.tasks.fill_mask import FillMaskResult
from bertviz_ui.tasks.pieces import WORDS, groups, merge_matrix
from bertviz_ui.tasks.sentiment import SentimentBatch
from bertviz_ui.tasks.tokenizer import Tokenization
from bertviz_ui.tasks.validation import check_choice

COMPARED_TASKS = ("tokenizer", "fill_mask", "sentiment", "attention")
# Each model of a comparison gets this share of one request's work, so the two together cost what one request may.
SIDES = 2


def check_task(value: Any) -> str:
    """One of COMPARED_TASKS, else BadInput."""
    if value is None or value == "":
        raise BadInput(f"Choose what to compare: one of {', '.join(COMPARED_TASKS)}.")
    return check_choice(value, "Task", COMPARED_TASKS, default="")


def side_budget(budget: Budget) -> Budget:
    """What each model of a comparison may cost: the request's work split between the two (memory is not: they run
    one after the other)."""
    return dataclasses.replace(budget, gflop=budget.gflop / SIDES)


def _asdict(self: Any) -> dict[str, Any]:
    return dataclasses.asdict(self)


# --- Tokenizer --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WordSplit:
    """One word of the input and the pieces each tokenizer made of it (segment 0 = sentence A, 1 = B)."""

    segment: int
    text: str
    pieces_a: tuple[str, ...]
    pieces_b: tuple[str, ...]


@dataclass(frozen=True)
class TokenizerDiff:
    """Token counts and the words the two tokenizers split differently.

    Attributes:
        tokens_a, tokens_b: tokens read (padding excluded).
        identical: same tokens and ids.
        words_compared: words of the input looked at (by character span).
        split_differently: the words whose pieces differ, in input order.
    """

    tokens_a: int
    tokens_b: int
    identical: bool
    words_compared: int
    split_differently: tuple[WordSplit, ...]
    notes: tuple[str, ...]

    to_dict = _asdict


def _spans(t: Tokenization) -> list[tuple[int, int, int, tuple[int, ...]]]:
    """(segment, start, end, token indices) of each word, from its pieces' character offsets."""
    spans = []
    for word in t.words:
        offsets = [t.offsets[i] for i in word.token_indices if t.offsets[i] is not None]
        if offsets:
            spans.append((word.segment, min(s for s, _ in offsets), max(e for _, e in offsets), word.token_indices))
    return spans


def _overlapping(t: Tokenization, segment: int, start: int, end: int) -> tuple[str, ...]:
    return tuple(token for token, offset, seq in zip(t.tokens, t.offsets, t.sequence_ids)
                 if offset is not None and seq == segment and offset[0] < end and offset[1] > start)


def diff_tokenization(a: Tokenization, b: Tokenization) -> TokenizerDiff:
    """The words of one input that two tokenizers split into different pieces.

    Words are matched by their characters in the text (offsets), not by word number, so tokenizers that split words
    differently (BERT's "didn't" is three words, RoBERTa's two) are still compared: each word of A's against the
    tokens of B covering the same characters, then B's words that cover characters no word of A does.

    Args:
        a, b: the same text (and pair) tokenized by two tokenizers (tasks.tokenizer.tokenize).

    Returns:
        TokenizerDiff.
    """
    notes = []
    if not a.words or not b.words:
        notes.append("Word-by-word comparison needs character offsets, which only fast tokenizers give.")
    words = []
    covered: list[tuple[int, int, int]] = []
    spans_a = _spans(a) if b.words else []
    for segment, start, end, indices in spans_a:
        text = (a.text if segment == 0 else a.text_pair or "")[start:end]
        words.append(WordSplit(segment, text, tuple(a.tokens[i] for i in indices),
                               _overlapping(b, segment, start, end)))
        covered.append((segment, start, end))
    for segment, start, end, indices in _spans(b) if a.words else []:
        if not any(s == segment and cs < end and ce > start for s, cs, ce in covered):
            text = (b.text if segment == 0 else b.text_pair or "")[start:end]
            words.append(WordSplit(segment, text, (), tuple(b.tokens[i] for i in indices)))
    different = tuple(w for w in words if w.pieces_a != w.pieces_b)
    identical = a.tokens == b.tokens and a.input_ids == b.input_ids
    return TokenizerDiff(tokens_a=a.num_tokens, tokens_b=b.num_tokens, identical=identical,
                         words_compared=len(words), split_differently=different, notes=tuple(notes))


# --- Masked words -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WordDelta:
    """A candidate in both top-k lists: its probability under each model and B minus A."""

    word: str
    score_a: float
    score_b: float
    delta: float


@dataclass(frozen=True)
class MaskDiff:
    """One mask (1 = first): the candidates that entered B's top-k (not in A's), that left it (in A's, not B's), and
    the probability change of those in both."""

    mask: int
    top1_a: str
    top1_b: str
    entered: tuple[str, ...]
    left: tuple[str, ...]
    shared: tuple[WordDelta, ...]


@dataclass(frozen=True)
class FillMaskDiff:
    """Per mask, how B's top-k differs from A's (candidates matched by their text, exactly)."""

    masks: tuple[MaskDiff, ...]
    notes: tuple[str, ...]

    to_dict = _asdict


def diff_fill_mask(a: FillMaskResult, b: FillMaskResult) -> FillMaskDiff:
    """How the top-k candidates of each mask change from model A to model B.

    Args:
        a, b: predict_masks' results for the same text (and top-k) under two models.

    Returns:
        FillMaskDiff; ``entered`` and ``shared`` follow B's and A's ranking.
    """
    notes = []
    if len(a.masks) != len(b.masks):
        notes.append(f"Model A found {len(a.masks)} mask(s) and model B {len(b.masks)}: the first "
                     f"{min(len(a.masks), len(b.masks))} are compared.")
    masks = []
    for number, (mask_a, mask_b) in enumerate(zip(a.masks, b.masks), start=1):
        scores_a = {p.token: p.score for p in mask_a.predictions}
        scores_b = {p.token: p.score for p in mask_b.predictions}
        masks.append(MaskDiff(
            mask=number,
            top1_a=mask_a.predictions[0].token if mask_a.predictions else "",
            top1_b=mask_b.predictions[0].token if mask_b.predictions else "",
            entered=tuple(word for word in scores_b if word not in scores_a),
            left=tuple(word for word in scores_a if word not in scores_b),
            shared=tuple(WordDelta(word, score, scores_b[word], scores_b[word] - score)
                         for word, score in scores_a.items() if word in scores_b)))
    return FillMaskDiff(masks=tuple(masks), notes=tuple(notes))


# --- Sentiment --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassDelta:
    """One class: its probability under each model (None where that model has no such label) and B minus A."""

    label: str
    score_a: float | None
    score_b: float | None
    delta: float | None


@dataclass(frozen=True)
class LineDiff:
    """One line: each model's predicted label and every class's probabilities."""

    text: str
    label_a: str
    label_b: str
    agree: bool
    classes: tuple[ClassDelta, ...]


@dataclass(frozen=True)
class SentimentDiff:
    """Class probabilities of each line side by side, labels matched by name.

    Attributes:
        same_labels: both models have the same label set (in any order).
        only_a, only_b: labels one model has and the other lacks.
        agreement: the share of lines with the same predicted label.
    """

    same_labels: bool
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    agreement: float
    lines: tuple[LineDiff, ...]
    notes: tuple[str, ...]

    to_dict = _asdict


def diff_sentiment(a: SentimentBatch, b: SentimentBatch) -> SentimentDiff:
    """Each line's class probabilities under two classifiers, and B minus A for every label both have.

    Args:
        a, b: classify's results for the same text under two models.

    Returns:
        SentimentDiff; a label only one model has gets None for the other and no delta.
    """
    only_a = tuple(label for label in a.labels if label not in b.labels)
    only_b = tuple(label for label in b.labels if label not in a.labels)
    union = (*a.labels, *only_b)
    lines = []
    for row_a, row_b in zip(a.rows, b.rows):
        scores_a = {s.label: s.score for s in row_a.scores}
        scores_b = {s.label: s.score for s in row_b.scores}
        classes = []
        for label in union:
            score_a, score_b = scores_a.get(label), scores_b.get(label)
            delta = score_b - score_a if score_a is not None and score_b is not None else None
            classes.append(ClassDelta(label, score_a, score_b, delta))
        lines.append(LineDiff(row_a.text, row_a.label, row_b.label, row_a.label == row_b.label, tuple(classes)))
    notes = []
    if only_a or only_b:
        notes.append("The two models' label sets differ (A: " + ", ".join(a.labels) + "; B: " + ", ".join(b.labels)
                     + "). Labels are matched by name: deltas are given only for labels both have.")
    agreement = sum(line.agree for line in lines) / len(lines) if lines else 0.0
    return SentimentDiff(same_labels=not (only_a or only_b), only_a=only_a, only_b=only_b, agreement=agreement,
                         lines=tuple(lines), notes=tuple(notes))


# --- Attention --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionDiff:
    """Per layer, how differently the two models attend, at word level.

    Attributes:
        unit: "words": each model's head-averaged attention merged to words (tasks/pieces: columns summed, rows
            averaged), so models with different tokenizers compare on the same rows and columns.
        words: the units compared (model A's labels; special tokens stay units of their own).
        layers_a, layers_b: each model's layer count.
        distances: per layer, the mean over words of the Jensen-Shannon distance (base 2: 0 = the same attention,
            1 = attention on disjoint words) between the two models' attention rows; empty when not available.
        available: whether distances were computed.
        reason: why not, when they were not.
    """

    unit: str
    words: tuple[str, ...]
    layers_a: int
    layers_b: int
    distances: tuple[float, ...]
    available: bool
    reason: str

    to_dict = _asdict


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance, base 2 (in [0, 1]), between distributions along the last axis.

    Args:
        p, q: arrays of the same shape whose last axis each sums to 1.

    Returns:
        The distances, with the last axis reduced.
    """
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    m = (p + q) / 2

    def kl(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, x * np.log2(np.where(x > 0, x, 1.0) / np.where(m > 0, m, 1.0)), 0.0).sum(-1)

    return np.sqrt(np.clip((kl(p) + kl(q)) / 2, 0.0, 1.0))


def _word_key(label: str) -> str:
    """A unit as both tokenizers would agree on it: no case, no accents (uncased vocabularies strip both)."""
    decomposed = unicodedata.normalize("NFKD", label.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _units(run: EncoderRun) -> tuple[tuple[str, ...], tuple[str, ...], Any]:
    grouping = groups(run.tokens, run.word_ids, run.segments, WORDS)
    keys = tuple("\x00special" if run.word_ids[members[0]] is None else _word_key(label)
                 for label, members in zip(grouping.labels, grouping.members))
    return grouping.labels, keys, grouping


def word_attention(run: EncoderRun) -> np.ndarray:
    """[layers, words, words]: each layer's attention averaged over heads, then merged to words."""
    _, _, grouping = _units(run)
    return merge_matrix(run.attentions.astype(np.float64).mean(axis=1), grouping)


def diff_attention(a: EncoderRun, b: EncoderRun) -> AttentionDiff:
    """Per layer, the mean Jensen-Shannon distance between two models' word-level attention rows.

    Args:
        a, b: run_encoder's results for the same text (and pair) under two models.

    Returns:
        AttentionDiff; without distances (and the reason) when the layer counts differ or the tokenizers cut the
        text into different words.
    """
    labels_a, keys_a, _ = _units(a)
    _, keys_b, _ = _units(b)
    reason = ""
    if a.layers != b.layers:
        reason = (f"Model A has {a.layers} layers and model B {b.layers}: a per-layer distance needs the same number "
                  "of layers.")
    elif keys_a != keys_b:
        reason = (f"The two tokenizers cut this text into different words ({len(keys_a)} vs {len(keys_b)} units, "
                  "special tokens included), so their attention rows can't be matched.")
    distances: tuple[float, ...] = ()
    if not reason:
        per_row = js_distance(word_attention(a), word_attention(b))  # [layers, words]
        distances = tuple(float(d) for d in per_row.mean(-1))
    return AttentionDiff(unit=WORDS, words=labels_a, layers_a=a.layers, layers_b=b.layers, distances=distances,
                         available=not reason, reason=reason)
