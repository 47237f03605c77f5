"""Attention: one forward with attentions and hidden states per text, then filters and per-head summaries (pure compute)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertviz_ui.errors import BadInput
from bertviz_ui.models.types import Model
from bertviz_ui.tasks.encoder import EncoderRun, HeadSummaries
from bertviz_ui.tasks.validation import check_choice, check_whole_number

# Drawing caps: computing every token is cheap, drawing thousands of lines or cells in a browser is not.
HEAD_VIEW_TOKENS = 64
HEATMAP_TOKENS = 128
MODEL_VIEW_TOKENS = 32
JSON_TOKENS = 128
# Every /attention response carries the summary JSON (no weights; the share kept per row to 4 significant digits). The
# weights themselves come on request, at full precision (/attention_json): 12 heads x 128 x 128 of them are about 2 MB
# of JSON, which made each response three times as long as everything it draws.
SUMMARY_DIGITS = 4
DIRECTIONS = ("all", "A->B", "B->A")


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
        """The full JSON result (/attention_json): tokens, layers, heads, and this layer's attention for the heads shown.

        Rows and columns beyond ``max_tokens`` are left out of ``attention`` (said in ``notes``); weights keep float32
        precision, as the model computed them (see ``float32_values``).
        """
        rows, cols = self.rows[:max_tokens], self.cols[:max_tokens]
        data = self._described(summaries, max_tokens)
        data["attention"] = [[float32_values(row[:len(cols)]) for row in head[:len(rows)]] for head in self.weights]
        data["kept"] = [float32_values(head[:len(rows)]) for head in self.kept]
        return _ordered(data)

    def summary_dict(self, summaries: HeadSummaries | None = None, *, max_tokens: int = JSON_TOKENS) -> dict[str, Any]:
        """The light JSON of every /attention response: ``to_dict`` without ``attention`` (the weights), with
        ``kept`` to SUMMARY_DIGITS significant digits."""
        rows = self.rows[:max_tokens]
        data = self._described(summaries, max_tokens)
        data["kept"] = [significant(head[:len(rows)]) for head in self.kept]
        return _ordered(data)

    def _described(self, summaries: HeadSummaries | None, max_tokens: int) -> dict[str, Any]:
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
            "summaries": summaries.layer_rows(self.layer) if summaries is not None else [],
            "notes": notes,
        }


_KEY_ORDER = ("model", "tokens", "segments", "layers", "heads", "layer", "heads_shown", "filters", "rows", "cols",
              "attention", "kept", "summaries", "notes")


def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in _KEY_ORDER if key in data}


def significant(values: np.ndarray, digits: int = SUMMARY_DIGITS) -> list[float]:
    """Floats with ``digits`` significant digits, each the double nearest its short decimal (so JSON stays short)."""
    return [float(f"{value:.{digits}g}") for value in values.tolist()]


def float32_values(values: np.ndarray) -> list[float]:
    """Each value at float32 precision (the model's), as the double nearest float32's shortest decimal: 0.12345679,
    not the float64 expansion 0.12345679104328156 (JSON half as long, nothing lost that the model computed)."""
    return [float(str(value)) for value in np.asarray(values, dtype=np.float32)]


# --- One forward ---------------------------------------------------------------------------------


# --- Selecting and filtering -----------------------------------------------------------------------


def check_layer(value: Any, layers: float = math.inf) -> int:
    """A layer index (0 = first; 3 or "3"), below ``layers`` when the model's count is known, else BadInput."""
    return check_whole_number(value, "Layer", low=0, high=layers - 1,
                              hint=f"(0 = first layer; this model has {layers})" if math.isfinite(layers) else
                              "(0 = first layer)")


def check_heads(value: Any, heads: float = math.inf) -> tuple[int, ...]:
    """Head indices, sorted and unique, below ``heads`` when the model's count is known; empty or None: ()."""
    if value is None or value == "" or value == []:
        return ()
    if isinstance(value, (str, int, float)):
        value = [value]
    if not isinstance(value, (list, tuple)) or len(value) > 1024:
        raise BadInput("Heads must be a list of head numbers.")
    hint = f"(this model has {heads} heads per layer)" if math.isfinite(heads) else "(0 = first head)"
    return tuple(sorted({check_whole_number(v, "Each head", low=0, high=heads - 1, hint=hint) for v in value}))


def check_direction(value: Any) -> str:
    """One of DIRECTIONS, else BadInput."""
    return check_choice(value, "Direction", DIRECTIONS, default="all")


def check_token(value: Any, tokens: float = math.inf) -> int | None:
    """A token index below ``tokens`` when the count is known (None, "", -1 or "-1": no token isolated)."""
    if value is None or value == "":
        return None
    index = check_whole_number(value, "Token", low=-1, high=tokens - 1,
                               hint="(its position in the token list; -1 for none)")
    return None if index == -1 else index


@dataclass(frozen=True)
class Selection:
    """The attention controls, checked: ``heads`` empty means every head, ``token`` None every token."""

    layer: int
    heads: tuple[int, ...]
    token: int | None
    direction: str


def check_selection(layer: Any, heads: Any, token: Any, direction: Any, *, model: Model | None = None) -> Selection:
    """The attention controls checked before the model runs, so a request that would be refused costs no forward.

    Args:
        layer: a layer index (0 = first), as an int or a string of one.
        heads: head indices (a list; empty: every head).
        token: a token index to isolate (-1 or blank: every token); whether the text has that many tokens is only
            known after the forward (attention_view checks it then).
        direction: one of DIRECTIONS.
        model: the model about to run, when loaded: the layer and heads must exist in it, as far as its config says
            (transformers' configs map every architecture's own names to num_hidden_layers and num_attention_heads).

    Returns:
        Selection. Raises BadInput naming the control.
    """
    return Selection(layer=check_layer(layer, _config_count(model, "num_hidden_layers")),
                     heads=check_heads(heads, _config_count(model, "num_attention_heads")),
                     token=check_token(token), direction=check_direction(direction))


def _config_count(model: Model | None, name: str) -> float:
    """A positive count from ``model``'s config, or infinity when there is none to check against (the run then
    checks)."""
    value = getattr(getattr(model, "config", None), name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else math.inf


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
    layer = check_layer(layer, run.layers)
    chosen = check_heads(heads, run.heads) or tuple(range(run.heads))
    direction = check_direction(direction)
    selected = check_token(token, len(run.tokens))
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


def every_layer(run: EncoderRun, *, hide_special: bool = False, direction: Any = "all",
                renormalize: bool = True) -> tuple[AttentionView, ...]:
    """Every layer's attention, all heads, with the same filters (the model view's grid)."""
    return tuple(attention_view(run, layer, None, hide_special=hide_special, direction=direction,
                                renormalize=renormalize) for layer in range(run.layers))
