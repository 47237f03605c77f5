"""Rollout and flow rendering: the rollout heatmap of a layer, the chosen token's bars (rollout, raw attention, flow)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from bertviz_ui.render.figures import frame
from bertviz_ui.render.html import esc, notes_html, plot_text
from bertviz_ui.tasks.attention import HEATMAP_TOKENS
from bertviz_ui.tasks.attention_rollout import FLOW_TOKENS, RolloutView
from bertviz_ui.tasks.pieces import PIECES

# One colour per measure, the same in the bars and the notes.
COLOURS = {"rollout": "#1f77b4", "raw attention": "#bbbbbb", "flow": "#d62728"}


def unit_label(view: RolloutView, unit: int) -> str:
    """A unit for a plotly label, with the position of its first token (the token picker's numbers)."""
    return plot_text(f"{view.tokens[unit]} ·{view.members[unit][0]}")


def _cut(view: RolloutView, cap: int) -> str:
    return f", first {cap} of {len(view.tokens)} drawn" if len(view.tokens) > cap else ""


def rollout_heatmap_figure(view: RolloutView, *, cap: int = HEATMAP_TOKENS) -> go.Figure:
    """R of the layer shown as a heatmap: row i is how unit i's vector after that layer draws on the input units (each
    row sums to 1); the chosen unit's row outlined.

    Args:
        view: the rollout of one layer.
        cap: draw at most this many rows and columns.
    """
    shown = min(cap, len(view.tokens))
    labels = [unit_label(view, k) for k in range(shown)]
    figure = go.Figure(go.Heatmap(
        z=view.rollout[:shown, :shown].astype(np.float32), x=labels, y=labels, colorscale="Blues", zmin=0,
        colorbar={"title": {"text": "share"}, "thickness": 12},
        hovertemplate="%{y} draws %{z:.4f} from input %{x}<extra>rollout</extra>"))
    if view.row < shown:
        figure.add_shape(type="rect", x0=-0.5, x1=shown - 0.5, y0=view.row - 0.5, y1=view.row + 0.5,
                         line={"color": "#c0392b", "width": 2})
    size = max(360, min(1100, 16 * shown + 160))
    figure.update_layout(
        height=size, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        title=f"Rollout after layer {view.layer} (rows: tokens, columns: input tokens{_cut(view, cap)})",
        xaxis={"type": "category", "tickangle": -60, "tickfont": {"size": 10}, "title": {"text": "input"}},
        yaxis={"type": "category", "autorange": "reversed", "tickfont": {"size": 10}},
    )
    return frame(figure)


def rollout_bars_figure(view: RolloutView, *, cap: int = HEATMAP_TOKENS) -> go.Figure:
    """The chosen unit over the input units: rollout, the layer's raw attention (heads averaged) and flow when there is
    one, side by side per input unit (horizontal bars: long token lists stay readable on a phone).

    Args:
        view: the rollout of one layer.
        cap: draw at most this many input units.
    """
    shown = min(cap, len(view.tokens))
    labels = [unit_label(view, k) for k in range(shown)]
    series = [("rollout", view.rollout_row), ("raw attention", view.raw_attention)]
    if view.flow is not None:
        series.append(("flow", view.flow))
    figure = go.Figure()
    for name, values in series:
        figure.add_trace(go.Bar(
            x=np.asarray(values[:shown], dtype=np.float32), y=labels, orientation="h", name=name,
            marker={"color": COLOURS[name]}, hovertemplate=f"%{{y}}: %{{x:.4f}}<extra>{name}</extra>"))
    chosen = plot_text(view.tokens[view.row])
    height = max(320, shown * (6 + 7 * len(series)) + 150)
    figure.update_layout(
        height=height, barmode="group", bargap=0.25, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        title=f"Where {chosen} ·{view.members[view.row][0]} draws from, layer {view.layer}{_cut(view, cap)}",
        xaxis={"rangemode": "tozero", "title": {"text": "share of the chosen token"}},
        yaxis={"type": "category", "autorange": "reversed", "tickfont": {"size": 10}},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0, "font": {"size": 11}},
        plot_bgcolor="white",
    )
    return frame(figure)


def rollout_notes_html(view: RolloutView) -> str:
    """Which units are shown and what merging did, whether flow is there (and why not), and the view's notes."""
    if view.unit == PIECES:
        unit = "Showing <b>pieces</b>, the tokens as the model read them."
    else:
        unit = ("Showing <b>words</b>: a word's pieces are merged, attention and rollout summed over its pieces as "
                "inputs and averaged over them as a row, so each row still sums to 1; a word's flow is the sum of "
                "its pieces' (each its own max-flow problem), so it can pass 1.")
    flow = ""
    if view.flow is not None:
        flow = (f" Flow is each input's maximum flow to {esc(view.tokens[view.row])} through the layers (at most 1 "
                f"per input token; they don't add up to 1).")
    line = f'<p class="bv-rollout-unit" data-testid="rollout-unit">{unit}{flow}</p>'
    notes = [*view.notes, *([view.flow_reason] if view.flow_reason else [])]
    return line + notes_html(notes)


def flow_label() -> str:
    """The flow switch's label, with the cap said."""
    return f"Attention flow too (texts of at most {FLOW_TOKENS} tokens)"
