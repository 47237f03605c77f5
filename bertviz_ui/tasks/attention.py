"""Attention: one forward with attentions and hidden states per text, then filters and per-head summaries (pure compute)."""

from __future__ import annotations

import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of
from bertviz_ui.tasks.embeddings import EmbeddingParts, embedding_parts
from bertviz_ui.tasks.modeling import model_inputs, model_max_length
from bertviz_ui.tasks.validation import check_choice, check_text, check_whole_number

# Drawing caps: computing every token is cheap, drawing thousands of lines or cells in a browser is not.
HEAD_VIEW_TOKENS = 64
HEATMAP_TOKENS = 128
MODEL_VIEW_TOKENS = 32
JSON_TOKENS = 128
# Attention weights in the JSON keep 4 significant digits (the heatmap shows 4 decimals): 12 heads x 128 x 128
# weights at full precision made the response about twice as long.
JSON_DIGITS = 4
DIRECTIONS = ("all", "A->B", "B->A")
SUMMARY_NAMES = ("entropy", "to_cls", "to_sep", "to_punct", "distance")


@dataclass(frozen=True)
class HeadSummaries:
    """Per-head statistics over every token, each [layers, heads].

    Attributes:
        entropy: mean over query tokens of the entropy of its attention row, in bits.
        to_cls: mean share of attention that goes to the first special token ([CLS], <s>).
        to_sep: mean share that goes to separator tokens ([SEP], </s>).
        to_punct: mean share that goes to punctuation tokens.
        distance: mean |i - j| in tokens between a token and what it attends to, weighted by attention.
        max_entropy: log2 of the token count, the entropy of uniform attention.
    """

    entropy: np.ndarray
    to_cls: np.ndarray
    to_sep: np.ndarray
    to_punct: np.ndarray
    distance: np.ndarray
    max_entropy: float

    def layer_rows(self, layer: int) -> list[dict[str, float]]:
        """One dict per head of ``layer``, for tables and JSON."""
        return [{"head": h, **{name: round(float(getattr(self, name)[layer, h]), 4) for name in SUMMARY_NAMES}}
                for h in range(self.entropy.shape[1])]


@dataclass(frozen=True)
class EncoderRun:
    """Everything one forward (attentions and hidden states) gives the Inside BERT views. Arrays are read-only.

    Attributes:
        model: the model's label.
        model_type: config.model_type ("bert", "roberta", ...).
        text: sentence A as given.
        text_pair: sentence B ("" for one text).
        tokens: the tokens the model read (after truncation).
        token_ids: their ids.
        segments: 0 for sentence A (with [CLS] and its [SEP]), 1 for sentence B.
        word_ids: word number per token within its sentence, None for special tokens.
        kinds: "cls", "sep", "special", "punct" or "word", per token.
        attentions: [layers, heads, tokens, tokens] float32; row i is where token i attends.
        hidden_states: [layers + 1, tokens, width] float32; 0 is the embedding output.
        embedding_parts: the input embedding split into parts (None when the architecture has no tables).
        summaries: per-head statistics.
        total_tokens: tokens before truncation.
        notes: truncation and other things the user should know.
        seconds: time of the forward pass.
    """

    model: str
    model_type: str
    text: str
    text_pair: str
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    segments: tuple[int, ...]
    word_ids: tuple[int | None, ...]
    kinds: tuple[str, ...]
    attentions: np.ndarray
    hidden_states: np.ndarray
    embedding_parts: EmbeddingParts | None
    summaries: HeadSummaries
    total_tokens: int
    notes: tuple[str, ...]
    seconds: float

    @property
    def layers(self) -> int:
        return int(self.attentions.shape[0])

    @property
    def heads(self) -> int:
        return int(self.attentions.shape[1])

    @property
    def nbytes(self) -> int:
        extra = self.embedding_parts.vectors.nbytes * 2 if self.embedding_parts else 0
        return int(self.attentions.nbytes + self.hidden_states.nbytes + extra)


@dataclass(frozen=True)
class AttentionView:
    """The attention of one layer and some heads after the filters.

    Attributes:
        model: the model's label.
        tokens: every token of the run.
        layers: the model's layer count; heads: its head count per layer.
        layer: the layer shown (0 = first).
        heads_shown: the heads shown.
        rows: token indices of the query rows kept.
        cols: token indices of the attended columns kept.
        weights: [len(heads_shown), len(rows), len(cols)] float64.
        kept: [len(heads_shown), len(rows)] share of each row's attention the filters kept (before renormalizing).
        hide_special: special tokens removed from rows and columns.
        direction: "all", "A->B" or "B->A".
        renormalized: whether rows were divided by their kept share (then each sums to 1).
        token: the token whose attention is isolated, or None.
        notes: what the filters did.
    """

    model: str
    tokens: tuple[str, ...]
    segments: tuple[int, ...]
    layers: int
    heads: int
    layer: int
    heads_shown: tuple[int, ...]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    weights: np.ndarray
    kept: np.ndarray
    hide_special: bool
    direction: str
    renormalized: bool
    token: int | None
    notes: tuple[str, ...]

    def mean_weights(self) -> np.ndarray:
        """[rows, cols] average over the heads shown (rows still sum to 1 when renormalized)."""
        return self.weights.mean(0)

    def to_dict(self, summaries: HeadSummaries | None = None, *, max_tokens: int = JSON_TOKENS) -> dict[str, Any]:
        """The JSON result: tokens, layers, heads, and this layer's attention for the heads shown.

        Rows and columns beyond ``max_tokens`` are left out of ``attention`` (said in ``notes``); weights keep
        JSON_DIGITS significant digits.
        """
        rows, cols = self.rows[:max_tokens], self.cols[:max_tokens]
        notes = list(self.notes)
        if len(rows) < len(self.rows) or len(cols) < len(self.cols):
            notes.append(f"attention lists the first {max_tokens} rows and columns only "
                         f"({len(self.rows)} x {len(self.cols)} were computed).")
        return {
            "model": self.model,
            "tokens": list(self.tokens),
            "segments": list(self.segments),
            "layers": self.layers,
            "heads": self.heads,
            "layer": self.layer,
            "heads_shown": list(self.heads_shown),
            "filters": {"hide_special": self.hide_special, "direction": self.direction,
                        "renormalize": self.renormalized, "token": self.token},
            "rows": list(rows),
            "cols": list(cols),
            "attention": [[significant(row[:len(cols)]) for row in head[:len(rows)]] for head in self.weights],
            "kept": [significant(head[:len(rows)]) for head in self.kept],
            "summaries": summaries.layer_rows(self.layer) if summaries is not None else [],
            "notes": notes,
        }


def significant(values: np.ndarray, digits: int = JSON_DIGITS) -> list[float]:
    """Floats with ``digits`` significant digits, each the double nearest its short decimal (so JSON stays short)."""
    return [float(f"{value:.{digits}g}") for value in values.tolist()]


# --- One forward ---------------------------------------------------------------------------------


def _is_punctuation(token: str) -> bool:
    core = token.removeprefix("##").lstrip("\u0120\u2581")
    return bool(core) and all(unicodedata.category(ch).startswith("P") for ch in core)


def _kinds(token_ids: Sequence[int], tokens: Sequence[str], tokenizer: Any) -> tuple[str, ...]:
    special = set(getattr(tokenizer, "all_special_ids", ()) or ())
    cls_id, sep_id = getattr(tokenizer, "cls_token_id", None), getattr(tokenizer, "sep_token_id", None)
    kinds = []
    for index, (token_id, token) in enumerate(zip(token_ids, tokens)):
        if token_id == cls_id and index == 0:
            kinds.append("cls")
        elif token_id == sep_id and sep_id is not None:
            kinds.append("sep")
        elif token_id in special:
            kinds.append("special")
        elif _is_punctuation(token):
            kinds.append("punct")
        else:
            kinds.append("word")
    return tuple(kinds)


def _segments(encoding: Any, length: int) -> tuple[int, ...]:
    """Sentence of each token: token_type_ids when the tokenizer gives them, else its sequence ids.

    Special tokens join the sentence before them ([CLS] and the first [SEP] belong to A), as BERT's token types do.
    """
    types = encoding.get("token_type_ids")
    if types is not None:
        return tuple(int(t) for t in types[0].tolist())
    try:
        sequence_ids = encoding.sequence_ids(0)
    except (ValueError, AttributeError):
        return (0,) * length
    segments, current = [], 0
    for sid in sequence_ids:
        current = sid if sid is not None else current
        segments.append(int(current))
    return tuple(segments)


def _summaries(attentions: np.ndarray, kinds: Sequence[str]) -> HeadSummaries:
    # One layer at a time: float64 copies of all 12 layers' 512 x 512 weights took about 1 GB at once.
    layers, heads, length = attentions.shape[0], attentions.shape[1], attentions.shape[-1]
    kinds_array = np.array(kinds)
    positions = np.arange(length)
    gaps = np.abs(positions[:, None] - positions[None, :])
    masks = {name: kinds_array == kind for name, kind in (("to_cls", "cls"), ("to_sep", "sep"), ("to_punct", "punct"))}
    results = {name: np.zeros((layers, heads)) for name in ("entropy", "distance", *masks)}
    for layer in range(layers):
        weights = attentions[layer].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(weights > 0, np.log2(np.where(weights > 0, weights, 1.0)), 0.0)
        results["entropy"][layer] = -(weights * logs).sum(-1).mean(-1)
        results["distance"][layer] = (weights * gaps).sum(-1).mean(-1)
        for name, mask in masks.items():
            if mask.any():
                results[name][layer] = weights[..., mask].sum(-1).mean(-1)
    return HeadSummaries(**results, max_entropy=float(np.log2(length)) if length > 1 else 0.0)


def run_encoder(text: Any, text_pair: Any = "", *, model: Any, tokenizer: Any, label: str = "",
                budget: Budget | None = None) -> EncoderRun:
    """Run the encoder once over a text or a sentence pair, keeping attentions and hidden states.

    Args:
        text: sentence A (or the whole text).
        text_pair: sentence B; blank for one text.
        model: an encoder loaded with eager attention (sdpa returns no attention weights).
        tokenizer: its tokenizer; text such as "[SEP]" typed by the user stays text (split_special_tokens).
        label: the model's label, shown with the result.
        budget: what one request may cost (default: the default budget); a forward over more is refused up front.

    Returns:
        EncoderRun. Raises BadInput for unusable text, ModelUnavailable for a model that returns no attentions.
    """
    text = check_text(text, "Text")
    text_pair = check_text(text_pair, "Sentence B", required=False)
    limit = model_max_length(tokenizer, model)
    pair = (text_pair,) if text_pair else ()
    full = tokenizer(text, *pair, truncation=False, split_special_tokens=True)
    total = len(full["input_ids"])
    notes = []
    encoding = tokenizer(text, *pair, return_tensors="pt", truncation=total > limit,
                         max_length=limit, split_special_tokens=True)
    length = encoding["input_ids"].shape[1]
    if total > limit:
        notes.append(f"The input is {total} tokens; this model reads at most {limit}, so the first {length} were "
                     "used (longest sentence trimmed first for a pair).")
    (budget or Budget()).check(f"A forward pass over {length} tokens with this model",
                               forward_flops(shape_of(model), int(length)), "Use a shorter text or a smaller model.")
    started = time.perf_counter()
    with torch.inference_mode():
        outputs = model(**model_inputs(model, encoding), output_attentions=True, output_hidden_states=True)
    seconds = time.perf_counter() - started
    attentions = getattr(outputs, "attentions", None)
    if not attentions or any(a is None for a in attentions):
        raise ModelUnavailable("This model returned no attention weights (its attention implementation, such as "
                               "sdpa or flash attention, doesn't compute them). Load it with eager attention, or "
                               "choose another model.")
    stacked = torch.stack([a[0] for a in attentions]).float().cpu().numpy()
    hidden = torch.stack([h[0] for h in outputs.hidden_states]).float().cpu().numpy()
    del outputs, attentions  # the stacked copies are what is kept
    stacked.setflags(write=False)
    hidden.setflags(write=False)
    input_ids = encoding["input_ids"]
    token_ids = tuple(int(i) for i in input_ids[0].tolist())
    tokens = tuple(str(t) for t in tokenizer.convert_ids_to_tokens(list(token_ids)))
    kinds = _kinds(token_ids, tokens, tokenizer)
    word_ids = tuple(encoding.word_ids(0)) if hasattr(encoding, "word_ids") else (None,) * length
    word_ids = tuple(None if kind in ("cls", "sep", "special") else w for kind, w in zip(kinds, word_ids))
    device = next(model.parameters()).device
    types = encoding.get("token_type_ids", None)
    parts = embedding_parts(model, input_ids.to(device), types.to(device) if types is not None else None,
                            torch.from_numpy(hidden[0].copy()))
    return EncoderRun(
        model=label,
        model_type=str(getattr(model.config, "model_type", "")),
        text=text,
        text_pair=text_pair,
        tokens=tokens,
        token_ids=token_ids,
        segments=_segments(encoding, length),
        word_ids=word_ids,
        kinds=kinds,
        attentions=stacked,
        hidden_states=hidden,
        embedding_parts=parts,
        summaries=_summaries(stacked, kinds),
        total_tokens=total,
        notes=tuple(notes),
        seconds=seconds,
    )


# --- Selecting and filtering -----------------------------------------------------------------------


def check_layer(value: Any, run: EncoderRun) -> int:
    """A layer index of ``run``'s model (0 = first), else BadInput."""
    return check_whole_number(value, "Layer", low=0, high=run.layers - 1,
                              hint=f"(0 = first layer; this model has {run.layers})")


def check_heads(value: Any, run: EncoderRun) -> tuple[int, ...]:
    """Head indices of ``run``'s model, sorted and unique; empty or None means every head."""
    if value is None or value == "" or value == []:
        return tuple(range(run.heads))
    if isinstance(value, (str, int, float)):
        value = [value]
    if not isinstance(value, (list, tuple)) or len(value) > 1024:
        raise BadInput("Heads must be a list of head numbers.")
    heads = {check_whole_number(v, "Each head", low=0, high=run.heads - 1,
                                hint=f"(this model has {run.heads} heads per layer)") for v in value}
    return tuple(sorted(heads))


def check_direction(value: Any) -> str:
    """One of DIRECTIONS, else BadInput."""
    return check_choice(value, "Direction", DIRECTIONS, default="all")


def check_token(value: Any, run: EncoderRun) -> int | None:
    """A token index of ``run`` (None, "" or -1: no token isolated)."""
    if value is None or value == "" or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                        and value == -1):
        return None
    return check_whole_number(value, "Token", low=0, high=len(run.tokens) - 1,
                              hint="(its position in the token list; -1 for none)")


def renormalize_rows(weights: np.ndarray) -> np.ndarray:
    """Divide each row (last axis) by its sum; a row with nothing left becomes uniform, so every row sums to 1."""
    weights = weights.astype(np.float64)
    sums = weights.sum(-1, keepdims=True)
    width = weights.shape[-1]
    if width == 0:
        return weights
    uniform = np.full_like(weights, 1.0 / width)
    return np.where(sums > 0, weights / np.where(sums > 0, sums, 1.0), uniform)


def attention_view(run: EncoderRun, layer: Any = 0, heads: Any = None, *, hide_special: bool = False,
                   direction: Any = "all", renormalize: bool = True, token: Any = None) -> AttentionView:
    """The attention of one layer and some heads, after the filters, from a finished run (no model call).

    Args:
        run: one forward's result.
        layer: which layer (0 = first).
        heads: which heads (None or empty: all).
        hide_special: drop [CLS]/[SEP] (and other special tokens) from rows and columns.
        direction: "all", "A->B" (sentence A's tokens attending to B's) or "B->A".
        renormalize: divide each row by what the filters kept, so it sums to 1 again.
        token: isolate this token's row (its index in ``run.tokens``), or None.

    Returns:
        AttentionView. Raises BadInput for an index the model doesn't have.
    """
    layer = check_layer(layer, run)
    chosen = check_heads(heads, run)
    direction = check_direction(direction)
    selected = check_token(token, run)
    notes = []
    keep = np.array([not (hide_special and kind in ("cls", "sep", "special")) for kind in run.kinds])
    segments = np.array(run.segments)
    row_mask, col_mask = keep.copy(), keep.copy()
    if direction != "all":
        if not run.text_pair:
            notes.append("Sentence A -> B needs a sentence B: showing every token.")
            direction = "all"
        else:
            source, target = (0, 1) if direction == "A->B" else (1, 0)
            row_mask &= segments == source
            col_mask &= segments == target
    rows = np.flatnonzero(row_mask)
    cols = np.flatnonzero(col_mask)
    if len(rows) == 0 or len(cols) == 0:
        raise BadInput("No tokens are left after the filters: show special tokens or choose another direction.")
    raw = run.attentions[layer][np.ix_(list(chosen), rows, cols)].astype(np.float64)
    kept = raw.sum(-1)
    filtered = len(rows) < len(run.tokens) or len(cols) < len(run.tokens)
    weights = renormalize_rows(raw) if renormalize and filtered else raw
    if filtered:
        share = float(kept.mean())
        notes.append(f"The filters keep {share:.1%} of the attention on average"
                     + ("; each row is renormalized to sum to 1." if renormalize else "; rows are not renormalized."))
    if selected is not None and selected not in rows:
        notes.append(f"Token {selected} ({run.tokens[selected]}) is hidden by the filters.")
        selected = None
    return AttentionView(model=run.model, tokens=run.tokens, segments=run.segments, layers=run.layers,
                         heads=run.heads, layer=layer, heads_shown=chosen, rows=tuple(int(r) for r in rows),
                         cols=tuple(int(c) for c in cols), weights=weights, kept=kept, hide_special=bool(hide_special),
                         direction=direction, renormalized=bool(renormalize and filtered), token=selected,
                         notes=tuple(notes))


# --- Results kept per app --------------------------------------------------------------------------


class RunCache:
    """A small LRU of finished encoder runs, bounded by count and bytes, safe across threads.

    Switching layer, head or filter re-renders from the kept run instead of running the model again.
    """

    def __init__(self, *, max_entries: int = 8, max_bytes: int = 768 * 2**20):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._runs: OrderedDict[Hashable, EncoderRun] = OrderedDict()

    def get_or_compute(self, key: Hashable, compute: Callable[[], EncoderRun]) -> EncoderRun:
        """The run kept under ``key``, or ``compute()``'s (kept for next time)."""
        with self._lock:
            run = self._runs.get(key)
            if run is not None:
                self._runs.move_to_end(key)
                return run
        run = compute()
        with self._lock:
            self._runs[key] = run
            self._runs.move_to_end(key)
            while len(self._runs) > 1 and (len(self._runs) > self.max_entries
                                           or sum(r.nbytes for r in self._runs.values()) > self.max_bytes):
                self._runs.popitem(last=False)
        return run

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)


def every_layer(run: EncoderRun, *, hide_special: bool = False, direction: Any = "all",
                renormalize: bool = True) -> tuple[AttentionView, ...]:
    """Every layer's attention, all heads, with the same filters (the model view's grid)."""
    return tuple(attention_view(run, layer, None, hide_special=hide_special, direction=direction,
                                renormalize=renormalize) for layer in range(run.layers))
