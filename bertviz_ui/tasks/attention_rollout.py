"""Attention rollout and attention flow of one encoder run (Abnar & Zuidema, 2020), in pieces or words (pure compute).

Rollout multiplies the residual-mixed, head-averaged attention of the layers (tasks/rollout.py). Flow treats the
layers as a graph (nodes = (layer, token), an edge from token j one level down to token i with capacity A'_l[i, j])
and asks, for each input token j, how much can flow from j at the input to the chosen token at the chosen layer: one
max-flow problem per input token. Both read the Inside BERT tab's one forward (an EncoderRun).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertviz_ui.errors import BadInput
from bertviz_ui.models.types import Model
from bertviz_ui.tasks.attention import JSON_TOKENS, float32_values
from bertviz_ui.tasks.budget import Budget
from bertviz_ui.tasks.encoder import EncoderRun
from bertviz_ui.tasks.pieces import PIECES, Groups, check_unit, groups, merge_matrix, merge_scores
from bertviz_ui.tasks.rollout import rollout, with_residual
from bertviz_ui.tasks.validation import check_whole_number

# Flow is n max-flow problems over a graph of layers x n^2 edges for each row shown: past this many tokens it is left
# out (rollout, a few matrix products, is shown for any length).
FLOW_TOKENS = 64
# Capacities in units of 2^-24 (SciPy's max-flow takes integers): each is rounded by at most 3e-8.
FLOW_SCALE = 2**24
# What one max-flow problem costs per edge of the graph: SciPy's took 0.14 microseconds per edge here (MiniLM, 6 layers,
# 64 tokens, two cores shared with other work); tripled for safety. The budget counts work in FLOPs, so seconds are
# converted at the budget's own assumed speed.
FLOW_SECONDS_PER_EDGE = 4e-7


@dataclass(frozen=True)
class RolloutRequest:
    """The controls, checked before the model runs.

    Attributes:
        layer: the layer (0 = first), or None for the model's last.
        token: the token whose row is shown (its index among the model's tokens; 0 = [CLS]).
        unit: "pieces" or "words".
        flow: whether to compute attention flow too.
    """

    layer: int | None
    token: int
    unit: str
    flow: bool


def check_request(layer: Any = None, token: Any = 0, unit: Any = PIECES, flow: Any = False, *,
                  model: Model | None = None) -> RolloutRequest:
    """The rollout controls checked, against the model's config when it is loaded (a refused request costs no forward).

    Args:
        layer: a layer index (0 = first); -1, None or blank for the last layer.
        token: a token index (0 = [CLS]); None or blank for 0. Whether the text has that many tokens is known only
            after the forward (rollout_view says what it did then).
        unit: "pieces" (as the model read them) or "words"; blank for pieces.
        flow: True to compute attention flow (a bool; None for False).
        model: the model about to run, when loaded.

    Returns:
        RolloutRequest. Raises BadInput naming the control.
    """
    layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    layers = layers if isinstance(layers, int) and not isinstance(layers, bool) and layers > 0 else math.inf
    checked_layer = None
    if layer is not None and layer != "":
        hint = f"(0 = first; -1 = last; this model has {layers})" if math.isfinite(layers) else "(0 = first; -1 = last)"
        checked_layer = check_whole_number(layer, "Layer", low=-1, high=layers - 1, hint=hint)
        checked_layer = None if checked_layer == -1 else checked_layer
    checked_token = 0 if token is None or token == "" else check_whole_number(
        token, "Token", low=0, high=math.inf, hint="(its position in the token list; 0 = [CLS])")
    checked_unit = PIECES if unit is None or unit == "" else check_unit(unit)
    if flow is None:
        flow = False
    if not isinstance(flow, bool):
        raise BadInput("Flow must be true or false.")
    return RolloutRequest(layer=checked_layer, token=checked_token, unit=checked_unit, flow=flow)


@dataclass(frozen=True)
class RolloutView:
    """Rollout (and flow) of one layer, the chosen token's row, and raw attention for contrast, in the units shown.

    Attributes:
        model: the model's label.
        unit: "pieces" or "words".
        tokens: the units shown (tokens, or words with special tokens on their own).
        members: each unit's token indices.
        layers: the model's layer count.
        layer: the layer shown (0 = first).
        token: the token asked for (an index among the model's tokens).
        row: the unit holding it.
        rollout: [units, units] R of the layer: row i is how unit i's vector draws on the input units (rows sum to 1).
        raw_attention: [units] the same layer's attention of the chosen unit, heads averaged, no residual.
        flow: [units] attention flow from each input unit to the chosen one, or None (flow_reason says why).
        flow_reason: why flow is absent ("" when it is there or was not asked for).
        notes: what the view did that the user should know.
    """

    model: str
    unit: str
    tokens: tuple[str, ...]
    members: tuple[tuple[int, ...], ...]
    layers: int
    layer: int
    token: int
    row: int
    rollout: np.ndarray
    raw_attention: np.ndarray
    flow: np.ndarray | None
    flow_reason: str
    notes: tuple[str, ...]

    @property
    def rollout_row(self) -> np.ndarray:
        """The chosen unit's rollout over the input units."""
        return self.rollout[self.row]

    def to_dict(self, *, max_tokens: int = JSON_TOKENS) -> dict[str, Any]:
        """The JSON result (/attention_rollout's raw): float32 precision; ``rollout`` lists at most ``max_tokens`` rows
        and columns (said in ``notes``), the chosen row's vectors are whole."""
        notes = list(self.notes)
        if len(self.tokens) > max_tokens:
            notes.append(f"rollout lists the first {max_tokens} rows and columns only ({len(self.tokens)} units were "
                         "computed); rollout_row, raw_attention and flow list every unit.")
        return {
            "model": self.model,
            "unit": self.unit,
            "tokens": list(self.tokens),
            "members": [list(m) for m in self.members],
            "layers": self.layers,
            "layer": self.layer,
            "token": self.token,
            "row": self.row,
            "rollout": [float32_values(r[:max_tokens]) for r in self.rollout[:max_tokens]],
            "rollout_row": float32_values(self.rollout_row),
            "raw_attention": float32_values(self.raw_attention),
            "flow": None if self.flow is None else float32_values(self.flow),
            "flow_reason": self.flow_reason or None,
            "notes": notes,
        }


def head_mean(run: EncoderRun) -> np.ndarray:
    """[layers, 1, tokens, tokens] float64: the heads averaged (summed in float64 without a float64 copy of every
    head: 12 x 12 x 512 x 512 of them would take 300 MB)."""
    return run.attentions.mean(axis=1, dtype=np.float64, keepdims=True)


def flow_seconds(tokens: int, layer: int, rows: int) -> float:
    """Estimated time of ``rows`` rows of flow: tokens problems per row, each over (layer + 1) x tokens^2 edges."""
    return rows * tokens * (layer + 1) * tokens ** 2 * FLOW_SECONDS_PER_EDGE


def attention_flow(mixed: np.ndarray, layer: int, rows: Sequence[int]) -> np.ndarray:
    """Attention flow (Abnar & Zuidema, 2020) to some tokens after ``layer``, from every input token.

    The graph has a node per (level, token), level 0 being the input and level l the output of layer l - 1; an edge
    from (l - 1, j) to (l, i) has capacity A'[l - 1][i, j]. flow[k, j] is the maximum flow from (0, j) to
    (layer + 1, rows[k]). It lies in [0, 1]: the chosen node's incoming capacities are a row of A', summing to 1.

    Solved by SciPy's max-flow (Dinic's algorithm, in C) on capacities in units of 2^-24: networkx, whose pure-Python
    solvers the paper's code used, took 0.3-0.5 s per problem at 64 tokens and 6 layers here (half a minute per row),
    SciPy 3 ms, with the same values to 1e-6 (tests/unit/test_attention_rollout.py compares them).

    Args:
        mixed: [layers, tokens, tokens] the residual-mixed, head-averaged attention (rollout.with_residual).
        layer: the layer (0 = first) whose output is the sink.
        rows: the sink tokens.

    Returns:
        [len(rows), tokens] float64.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    n = mixed.shape[-1]
    # SciPy's max-flow works in int32: a node's capacities (a column of A', at most n) must stay below 2^31.
    if n * FLOW_SCALE >= 2**31:
        raise ValueError(f"attention flow takes at most {2**31 // FLOW_SCALE - 1} tokens")
    levels = layer + 1
    # Edge (l - 1, j) -> (l, i) for every layer up to the chosen one: node number level * n + token.
    level, i, j = np.meshgrid(np.arange(1, levels + 1), np.arange(n), np.arange(n), indexing="ij")
    capacities = np.rint(mixed[:levels] * FLOW_SCALE).astype(np.int32)
    size = (levels + 1) * n
    graph = csr_matrix((capacities.ravel(), (((level - 1) * n + j).ravel(), (level * n + i).ravel())),
                       shape=(size, size))
    out = np.zeros((len(rows), n))
    for k, row in enumerate(rows):
        for source in range(n):
            out[k, source] = maximum_flow(graph, source, levels * n + row).flow_value / FLOW_SCALE
    return out


def rollout_view(run: EncoderRun, layer: Any = None, token: Any = 0, unit: Any = PIECES, flow: Any = False, *,
                 budget: Budget | None = None) -> RolloutView:
    """Rollout of one layer, the chosen token's row beside raw attention, and flow when asked, from a finished run.

    Args:
        run: one forward's result (no model call here).
        layer: the layer (0 = first; -1 or None: the last).
        token: the token whose row is shown (index among ``run.tokens``; 0 = [CLS]); beyond the text: 0, with a note.
        unit: "pieces", or "words" (rows averaged and columns summed over a word's pieces, as pieces.merge_matrix).
        flow: compute attention flow for the chosen row (at most FLOW_TOKENS tokens, within the budget).
        budget: what the request may cost; flow over it is left out with the reason.

    Returns:
        RolloutView. Raises BadInput for a layer the model doesn't have or a bad control.
    """
    request = check_request(layer, token, unit, flow)
    if request.layer is not None and request.layer >= run.layers:
        raise BadInput(f"Layer must be at most {run.layers - 1} (0 = first; -1 = last; this model has {run.layers}).")
    chosen_layer = run.layers - 1 if request.layer is None else request.layer
    n = len(run.tokens)
    notes = []
    chosen_token = request.token
    if chosen_token >= n:
        notes.append(f"Token {chosen_token} is beyond this text's {n} tokens: showing [CLS] (token 0).")
        chosen_token = 0
    grouping = groups(run.tokens, run.word_ids, run.segments, request.unit)
    row = next(k for k, members in enumerate(grouping.members) if chosen_token in members)
    means = head_mean(run)
    mixed = with_residual(means)
    rolled = rollout(means[:chosen_layer + 1])[-1]
    raw = means[chosen_layer, 0]
    flow_values, reason = None, ""
    if request.flow:
        flow_values, reason = _flow(mixed, chosen_layer, grouping, row, budget or Budget())
    if request.unit != PIECES:
        rolled, raw = merge_matrix(rolled, grouping), merge_matrix(raw, grouping)
    return RolloutView(model=run.model, unit=request.unit, tokens=grouping.labels, members=grouping.members,
                       layers=run.layers, layer=chosen_layer, token=chosen_token, row=row, rollout=rolled,
                       raw_attention=raw[row], flow=flow_values, flow_reason=reason, notes=tuple(notes))


def _flow(mixed: np.ndarray, layer: int, grouping: Groups, row: int, budget: Budget) -> tuple[np.ndarray | None, str]:
    """The chosen unit's flow, merged into its units (its pieces' rows averaged, columns summed), or why not."""
    n = mixed.shape[-1]
    if n > FLOW_TOKENS:
        return None, (f"Attention flow is computed for texts of at most {FLOW_TOKENS} tokens; this one has {n}. It "
                      "solves one max-flow problem per input token over a graph of layers x tokens^2 edges, so its "
                      "cost grows with the fourth power of the length. Rollout is shown for every token.")
    pieces = grouping.members[row]
    seconds = flow_seconds(n, layer, len(pieces))
    flops = seconds * budget.gflops_per_s * 1e9
    if not budget.fits(flops):
        refusal = budget.refuse(f"Attention flow over {n} tokens to layer {layer} ({len(pieces)} row(s))", flops,
                                "Use a shorter text, an earlier layer, or pieces instead of words.")
        return None, str(refusal)
    values = attention_flow(mixed, layer, pieces)
    merged = merge_scores(values, grouping).mean(axis=0)
    return merged, ""

