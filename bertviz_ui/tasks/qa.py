"""Extractive question answering: every context token scored as an answer start and end, the best valid span
searched over all windows of a long context, batched (one forward when they fit the memory budget; pure compute).

transformers 5 removed the question-answering pipeline; the span search here follows the algorithm of its 4.x
version (so answers and offsets equal that pipeline's on the same checkpoint): in each window the start and end
logits are soft-maxed over the context tokens and [CLS], a span's score is P(start) x P(end) with
start <= end < start + max_answer_len, spans are widened to whole words, the same answer found in two
overlapping windows has its scores added, and the null answer scores P([CLS] start) x P([CLS] end).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.batching import MicroBatcher
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of
from bertviz_ui.tasks.modeling import model_max_length
from bertviz_ui.tasks.qa_windows import (
    MIN_CONTEXT_ROOM,
    WINDOW_TOKENS,
    _forward,
    _prefix_chars,
    _windows,
    window_stride,
)
from bertviz_ui.tasks.validation import check_text, check_whole_number

# 16 windows of 384 tokens in one forward: about 4,000 context tokens (16 pages). Beyond that the rest of the
# context is not read, and the result says so.
MAX_WINDOWS = 16
# About 60,000 tokens of English: accepted, windowed, capped at MAX_WINDOWS.
MAX_CONTEXT_CHARS = 300_000
MAX_QUESTION_CHARS = 2_000
DEFAULT_MAX_ANSWER_TOKENS = 15  # 4.x's default
MAX_ANSWER_TOKENS = 512
DEFAULT_TOP_K = 5
MAX_TOP_K = 20
_NO_LOGIT = -10000.0  # 4.x's mask value for tokens that can't be in an answer


@dataclass(frozen=True)
class Candidate:
    """One answer span: ``context[start:end] == answer``; ``score`` is P(start) x P(end) within its window,
    summed over the windows that found the same text."""

    answer: str
    start: int
    end: int
    score: float
    window: int
    token_start: int
    token_end: int
    start_logit: float
    end_logit: float
    windows: tuple[int, ...]


@dataclass(frozen=True)
class QaWindow:
    """One window as the model read it: [CLS] question [SEP] context piece [SEP], with its logits.

    ``segments`` marks each token "question", "context" or "special"; ``char_start``/``char_end`` are the context
    characters the window covers.
    """

    index: int
    tokens: tuple[str, ...]
    segments: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    start_logits: tuple[float, ...]
    end_logits: tuple[float, ...]
    char_start: int
    char_end: int
    null_score: float
    best_score: float
    word_ids: tuple[int | None, ...] = ()  # word number within its sequence per token (None: special), for words view


@dataclass(frozen=True)
class IndependentArgmax:
    """What the seed's code does: argmax of the start logits and of the end logits, taken separately over every
    token of the first window, then tokens[start:end + 1] joined back into a string."""

    token_start: int
    token_end: int
    text: str
    valid: bool
    reason: str


@dataclass(frozen=True)
class QaResult:
    """The answer (or no answer), its runners-up, and every window's logits."""

    model: str
    question: str
    context: str
    answer: str
    start: int
    end: int
    score: float
    no_answer: bool
    null_score: float | None
    window: int | None
    candidates: tuple[Candidate, ...]
    windows: tuple[QaWindow, ...]
    total_windows: int
    window_tokens: int
    stride: int
    max_answer_len: int
    handle_impossible: bool
    independent_argmax: IndependentArgmax | None
    forward_passes: int
    notes: tuple[str, ...]
    total_windows_estimated: bool = False  # only a prefix of the context was tokenized: total_windows is scaled up

    @property
    def shown_window(self) -> QaWindow | None:
        """The window the answer came from (the first one for no answer)."""
        if not self.windows:
            return None
        return self.windows[self.window if self.window is not None else 0]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        shown = self.shown_window
        data["tokens"] = list(shown.tokens) if shown else []
        data["start_logits"] = list(shown.start_logits) if shown else []
        data["end_logits"] = list(shown.end_logits) if shown else []
        return data


def check_qa_model(model: Model, newly_initialized: tuple[str, ...]) -> None:
    """Refuse a checkpoint whose span head is random (a base model loaded for QA)."""
    if any("qa_outputs" in key for key in newly_initialized):
        raise ModelUnavailable("This checkpoint has no trained question-answering head (its start/end scores would "
                               "be random). Choose a SQuAD model such as "
                               "distilbert/distilbert-base-cased-distilled-squad.")
    if not hasattr(model, "forward"):
        raise ModelUnavailable("This is not a question-answering model.")


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


def _char_span(encoding: Any, window: int, s: int, e: int, sequence_index: int) -> tuple[int, int]:
    # Widen to whole words (4.x's align_to_words): the model may start an answer inside a word.
    try:
        start_word = encoding.token_to_word(window, s)
        end_word = encoding.token_to_word(window, e)
        start = encoding.word_to_chars(window, start_word, sequence_index=sequence_index)[0]
        end = encoding.word_to_chars(window, end_word, sequence_index=sequence_index)[1]
        return int(start), int(end)
    except Exception:  # noqa: BLE001 - tokenizers without word ids: keep the token offsets, as 4.x does
        offsets = encoding["offset_mapping"][window]
        return int(offsets[s][0]), int(offsets[e][1])


def _window_spans(start_logits: np.ndarray, end_logits: np.ndarray, context: np.ndarray, *, max_answer_len: int,
                  top_k: int) -> tuple[list[tuple[int, int, float]], float]:
    """The top_k valid spans of one window as (start token, end token, score), and the window's null score."""
    allowed = context.copy()
    allowed[0] = True  # [CLS] takes part in the softmax: it carries the null answer
    start_p = _softmax(np.where(allowed, start_logits, _NO_LOGIT).astype(np.float64))
    end_p = _softmax(np.where(allowed, end_logits, _NO_LOGIT).astype(np.float64))
    null = float(start_p[0] * end_p[0])
    positions = np.flatnonzero(context)
    if positions.size == 0:
        return [], null
    scores = np.outer(start_p[positions], end_p[positions])
    gap = positions[None, :] - positions[:, None]  # end token - start token
    scores = np.where((gap >= 0) & (gap < max_answer_len), scores, -1.0)
    flat = scores.ravel()
    count = min(top_k, int((flat >= 0).sum()))
    best = np.argsort(-flat, kind="stable")[:count]
    rows, cols = np.unravel_index(best, scores.shape)
    return [(int(positions[r]), int(positions[c]), float(scores[r, c])) for r, c in zip(rows, cols)], null


def _independent_argmax(window: QaWindow, tokenizer: Tokenizer) -> IndependentArgmax:
    start = int(np.argmax(window.start_logits))
    end = int(np.argmax(window.end_logits))
    text = tokenizer.convert_tokens_to_string(list(window.tokens[start:end + 1])) if end >= start else ""
    if end < start:
        reason = "the end comes before the start, so the slice is empty"
    elif any(window.segments[i] != "context" for i in range(start, end + 1)):
        reason = "the span includes question or special tokens"
    else:
        reason = "a valid span here, but nothing guarantees it (no end >= start check, no length limit)"
    return IndependentArgmax(start, end, text, end >= start and reason.startswith("a valid"), reason)


def answer_question(question: str, context: str, *, model: Model, tokenizer: Tokenizer,
                    max_answer_len: Any = DEFAULT_MAX_ANSWER_TOKENS, top_k: Any = DEFAULT_TOP_K,
                    handle_impossible: bool = False, label: str = "", newly_initialized: tuple[str, ...] = (),
                    window_tokens: int | None = None, window_batch: int | None = None,
                    budget: Budget | None = None, batcher: MicroBatcher | None = None) -> QaResult:
    """Find the answer to ``question`` in ``context`` and show how it was found.

    Args:
        question: up to 2,000 characters, and short enough to leave a window room for the context.
        context: up to 300,000 characters; beyond one window it is read in overlapping windows (at most 16).
        model: an extractive QA model (start and end logits per token) in eval mode.
        tokenizer: its fast tokenizer (offsets are needed to map tokens back to characters).
        max_answer_len: longest answer in tokens (1-512).
        top_k: how many candidate spans to return (1-20).
        handle_impossible: allow "no answer" when the null ([CLS]) score beats every span (for models trained
            with unanswerable questions, SQuAD 2.0).
        label: the model's label, shown with the result.
        newly_initialized: weights the checkpoint lacked; a random span head is refused.
        window_tokens: window length (default: min(model maximum, 384)).
        window_batch: windows per forward (default: all in one, or as many as fit the budget's memory; 1 is the
            one-call-per-window baseline the benchmark compares with).
        budget: what one request may cost (default: the default budget): fewer than MAX_WINDOWS windows are read
            when that many would cost more (said in the notes); a model too large for one window is refused.
        batcher: runs the windows' forward together with concurrent requests on the same model.

    Returns:
        QaResult with ``context[start:end] == answer``; for no answer, answer "" and start == end == 0.
    """
    check_qa_model(model, newly_initialized)
    question = check_text(question, "Question", max_chars=MAX_QUESTION_CHARS)
    context = check_text(context, "Context", max_chars=MAX_CONTEXT_CHARS)
    max_answer_len = check_whole_number(max_answer_len, "Maximum answer length", low=1, high=MAX_ANSWER_TOKENS,
                                        hint="(tokens)")
    top_k = check_whole_number(top_k, "Number of candidates", low=1, high=MAX_TOP_K)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelUnavailable("This model has only a slow tokenizer; QA needs character offsets (a fast one).")

    limit = model_max_length(tokenizer, model)
    window_tokens = min(limit, WINDOW_TOKENS) if window_tokens is None else window_tokens
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    question_tokens = len(tokenizer(question, add_special_tokens=False)["input_ids"])
    longest_question = window_tokens - specials - MIN_CONTEXT_ROOM
    if question_tokens > longest_question:
        raise BadInput(f"The question is {question_tokens:,} tokens; this model reads {window_tokens} tokens at a "
                       f"time, question included, so a question can be at most {longest_question} tokens.")
    stride = window_stride(window_tokens, question_tokens, specials)
    budget = budget or Budget()
    shape = shape_of(model)
    affordable = budget.most(lambda windows: forward_flops(shape, window_tokens, windows), MAX_WINDOWS)
    if affordable == 0:
        raise budget.refuse(f"Reading one window of {window_tokens} tokens with this model",
                            forward_flops(shape, window_tokens), "Choose a smaller model.")
    question_first = getattr(tokenizer, "padding_side", "right") == "right"
    encoding, whole = _windows(tokenizer, question, context, question_first=question_first,
                               window_tokens=window_tokens, stride=stride, windows=affordable,
                               room=window_tokens - question_tokens - specials)
    total = len(encoding["input_ids"])
    count = min(total, affordable)
    context_index = 1 if question_first else 0
    if not whole:  # only a prefix was tokenized: scale its window count by the characters it covers
        total = max(total, round(total * len(context) / max(1, _prefix_chars(encoding, context_index))))

    batch = budget.rows_per_batch(shape, window_tokens, cap=count) if window_batch is None else max(1, int(window_batch))
    start_rows, end_rows = [], []
    for first in range(0, count, batch):
        starts, ends = _forward(model, tokenizer, encoding, range(first, min(count, first + batch)), batcher)
        start_rows += starts
        end_rows += ends
    windows, spans, null_score = [], [], None
    for w in range(count):
        sequence_ids = encoding.sequence_ids(w)
        context_mask = np.array([s == context_index for s in sequence_ids])
        starts, ends = start_rows[w], end_rows[w]
        found, null = _window_spans(starts, ends, context_mask, max_answer_len=max_answer_len, top_k=top_k)
        null_score = null if null_score is None else min(null_score, null)
        spans.extend((w, *span) for span in found)
        offsets = [tuple(int(x) for x in o) for o in encoding["offset_mapping"][w]]
        covered = [offsets[i] for i in np.flatnonzero(context_mask)]
        windows.append(QaWindow(
            index=w, tokens=tuple(tokenizer.convert_ids_to_tokens(encoding["input_ids"][w])),
            segments=tuple("special" if s is None else ("context" if s == context_index else "question")
                           for s in sequence_ids),
            offsets=tuple(offsets), start_logits=tuple(float(x) for x in starts),
            end_logits=tuple(float(x) for x in ends), char_start=covered[0][0] if covered else 0,
            char_end=covered[-1][1] if covered else 0, null_score=null, best_score=found[0][2] if found else 0.0,
            word_ids=tuple(encoding.word_ids(w))))

    candidates = _merge(spans, encoding, context, context_index, start_rows, end_rows)
    notes = []
    if total > count:
        size = f"about {total:,}" if not whole else f"{total:,}"
        capped = (f" (this model reads at most {affordable} per request within the budget)"
                  if affordable < MAX_WINDOWS else "")
        notes.append(f"The context is {size} windows of {window_tokens} tokens long; only the first {count} were "
                     f"read{capped} (up to character {windows[-1].char_end:,} of {len(context):,}). Shorten it or "
                     "put the relevant part first.")
    if count > 1:
        passes = -(-count // batch)
        notes.append(f"The context is longer than one window: it was read as {count} overlapping windows of "
                     f"{window_tokens} tokens (question included, {stride} tokens of overlap), "
                     + ("all in one batched forward." if passes == 1 else f"in {passes} batched forwards."))
    if not candidates:
        notes.append("No context token could start an answer (the context has no tokens left after the question).")
    best = candidates[0] if candidates else None
    no_answer = best is None or (handle_impossible and null_score is not None and null_score > best.score)
    if no_answer and best is not None:
        notes.append(f"No answer: the null score, P([CLS] start) x P([CLS] end) = {null_score:.3g}, beats the best "
                     f"span's {best.score:.3g}.")
    independent = _independent_argmax(windows[0], tokenizer) if windows else None
    return QaResult(
        model=label, question=question, context=context,
        answer="" if no_answer else best.answer, start=0 if no_answer else best.start,
        end=0 if no_answer else best.end,
        score=_answer_score(best, null_score, no_answer),
        no_answer=no_answer, null_score=null_score if handle_impossible else None,
        window=None if no_answer else best.window, candidates=tuple(candidates[:top_k]), windows=tuple(windows),
        total_windows=total, window_tokens=window_tokens, stride=stride, max_answer_len=max_answer_len,
        handle_impossible=bool(handle_impossible), independent_argmax=independent,
        forward_passes=-(-count // batch),
        notes=tuple(notes), total_windows_estimated=not whole and total > count)


def _answer_score(best: Candidate | None, null_score: float | None, no_answer: bool) -> float:
    if not no_answer:
        return best.score
    return float(null_score) if best is not None and null_score is not None else 0.0


def _merge(spans: list[tuple[int, int, int, float]], encoding: Any, context: str, context_index: int,
           start_rows: list[np.ndarray], end_rows: list[np.ndarray]) -> list[Candidate]:
    """Spans mapped to characters; the same text (ignoring case) from several windows becomes one candidate whose
    score is the sum, as in 4.x, then all sorted best first."""
    merged: dict[str, dict[str, Any]] = {}
    for window, s, e, score in sorted(spans, key=lambda span: (span[0], -span[3])):
        start, end = _char_span(encoding, window, s, e, context_index)
        text = context[start:end]
        key = text.lower()
        if key in merged:
            merged[key]["score"] += score
            merged[key]["windows"] += (window,)
            continue
        merged[key] = {"answer": text, "start": start, "end": end, "score": score, "window": window,
                       "token_start": s, "token_end": e, "start_logit": float(start_rows[window][s]),
                       "end_logit": float(end_rows[window][e]), "windows": (window,)}
    return sorted((Candidate(**fields) for fields in merged.values()), key=lambda c: -c.score)
