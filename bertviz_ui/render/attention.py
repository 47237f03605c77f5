"""Attention rendering: head view (weighted lines), model view (layers x heads grid), a large heatmap, head summaries."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bertviz_ui.render.figures import frame
from bertviz_ui.render.html import esc, model_badge_html, notes_html, plot_text
from bertviz_ui.tasks.attention import HEAD_VIEW_TOKENS, HEATMAP_TOKENS, MODEL_VIEW_TOKENS, AttentionView
from bertviz_ui.tasks.encoder import EncoderRun, HeadSummaries
from bertviz_ui.tasks.pieces import PIECES, WORDS, Groups, groups, merge_matrix

# Paul Tol's 12-colour qualitative palette (SRON technical note, 2012): twelve hues that stay apart under
# deuteranopia and protanopia (Dark24, used before, gave two heads nearly the same colour there); checked in
# tests/unit/test_palette.py. Heads past 12 reuse it; the legend and hover name each head, so colour never acts alone.
HEAD_COLOURS = ("#332288", "#6699CC", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#661100", "#CC6677",
                "#AA4466", "#882255", "#AA4499")
# Weight bins of the head view: lines of a bin share one trace (opacity and width grow with the weight).
BINS = ((0.02, 0.1, 0.18, 1.0), (0.1, 0.25, 0.35, 1.6), (0.25, 0.5, 0.6, 2.4), (0.5, 1.01, 0.95, 3.4))
MIN_LINE_WEIGHT = BINS[0][0]


def head_colour(head: int) -> str:
    """The colour of ``head`` in every attention figure."""
    return HEAD_COLOURS[head % len(HEAD_COLOURS)]


def token_label(tokens: Sequence[str], index: int) -> str:
    """A token for a plotly label, with its position (the same word can appear twice)."""
    return plot_text(f"{tokens[index]} ·{index}")


def _caption(view: AttentionView, cap: int) -> str:
    heads = ("all heads" if len(view.heads_shown) == view.heads
             else "heads " + ", ".join(str(h) for h in view.heads_shown))
    cut = ""
    if len(view.rows) > cap or len(view.cols) > cap:
        cut = f" (first {cap} of {max(len(view.rows), len(view.cols))} tokens drawn)"
    return f"layer {view.layer}, {heads}{cut}"


def head_view_figure(view: AttentionView, *, cap: int = HEAD_VIEW_TOKENS) -> go.Figure:
    """BertViz's head view: tokens on the left attend to tokens on the right, one colour per head.

    Lines whose weight is below 2% are left out; opacity and width grow with the weight. With ``view.token`` set,
    only that token's lines are drawn.

    Args:
        view: one layer's attention after the filters.
        cap: draw at most this many rows and columns.
    """
    rows, cols = view.rows[:cap], view.cols[:cap]
    figure = go.Figure()
    y_row = {r: -k for k, r in enumerate(rows)}
    y_col = {c: -k for k, c in enumerate(cols)}
    for h_index, head in enumerate(view.heads_shown):
        weights = view.weights[h_index, :len(rows), :len(cols)]
        first = True
        for low, high, opacity, width in BINS:
            xs: list[float | None] = []
            ys: list[float | None] = []
            for i, row in enumerate(rows):
                if view.token is not None and row != view.token:
                    continue
                for j in np.flatnonzero((weights[i] >= low) & (weights[i] < high)):
                    xs += [0, 1, None]  # integers: "0,1,null" is shorter JSON than "0.0,1.0,null", ~8,000 times
                    ys += [y_row[row], y_col[cols[j]], None]
            if not xs:
                continue
            figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", legendgroup=f"h{head}",
                                        showlegend=first, name=f"head {head}", opacity=opacity,
                                        line={"color": head_colour(head), "width": width}))
            first = False
    mean = view.mean_weights()[:len(rows), :len(cols)]
    hover = []
    for i, row in enumerate(rows):
        best = np.argsort(-mean[i])[:3]
        hover.append("<br>".join(f"{plot_text(view.tokens[cols[j]])}: {mean[i, j]:.3f}" for j in best))
    selected = [view.token == r for r in rows]
    figure.add_trace(go.Scatter(
        x=[0.0] * len(rows), y=[y_row[r] for r in rows], mode="text", showlegend=False,
        text=[token_label(view.tokens, r) for r in rows], textposition="middle left",
        textfont={"color": ["#c0392b" if s else "#222" for s in selected], "size": 12},
        customdata=hover, hovertemplate="%{text} attends to<br>%{customdata}<extra>mean of heads shown</extra>"))
    figure.add_trace(go.Scatter(
        x=[1.0] * len(cols), y=[y_col[c] for c in cols], mode="text", showlegend=False, hoverinfo="skip",
        text=[token_label(view.tokens, c) for c in cols], textposition="middle right",
        textfont={"size": 12, "color": "#222"}))
    height = max(260, 22 * max(len(rows), len(cols)) + 110)
    figure.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10}, plot_bgcolor="white",
        title=f"Head view: {_caption(view, cap)}",
        xaxis={"range": [-0.75, 1.75], "visible": False, "fixedrange": True},
        yaxis={"range": [-max(len(rows), len(cols)) + 0.5, 0.8], "visible": False, "fixedrange": True},
        # Below the plot: with 12 heads on a phone the legend takes several rows, and it grows away from the title.
        legend={"orientation": "h", "y": 0, "yanchor": "top", "x": 0, "font": {"size": 11}},
    )
    return frame(figure)


def _tiles(views: Sequence[AttentionView], cap: int) -> tuple[np.ndarray, list[int], list[int]]:
    rows, cols = list(views[0].rows[:cap]), list(views[0].cols[:cap])
    layers, heads = len(views), views[0].weights.shape[0]
    grid = np.full((layers * (len(rows) + 1) - 1, heads * (len(cols) + 1) - 1), np.nan)
    for layer, view in enumerate(views):
        for head in range(heads):
            top, left = layer * (len(rows) + 1), head * (len(cols) + 1)
            grid[top:top + len(rows), left:left + len(cols)] = view.weights[head, :len(rows), :len(cols)]
    return grid, rows, cols


def _tile_labels(tiles: Sequence[str], tokens: Sequence[str], joint: str) -> list[str]:
    """One label per grid row (or column): each tile's tokens, then a separator line between tiles."""
    labels = []
    for number, tile in enumerate(tiles):
        labels += [f"{tile}{joint}{token}" for token in tokens]
        if number < len(tiles) - 1:
            labels.append(f"{tile} |")
    return labels


def _percent_cells(grid: np.ndarray) -> list[list[int | None]]:
    """The grid's weights as whole percents, None between tiles (drawn as gaps).

    A tile is 32 cells in about 45 px on a desktop, 22 on a phone: a percent step of the Blues scale is below what the
    eye tells apart, and a one- or two-digit integer is 2-3 bytes of JSON where a float32 takes 5.3 (base64); most
    weights round to 0. A 6 x 12 grid of 32-token tiles: about 0.17 MB instead of 0.46.
    """
    rounded = np.rint(np.nan_to_num(grid, nan=-1.0) * 100).astype(np.int64).tolist()
    gaps = np.isnan(grid).tolist()
    return [[None if gap else value for value, gap in zip(row, gap_row, strict=True)]
            for row, gap_row in zip(rounded, gaps, strict=True)]


def model_view_figure(views: Sequence[AttentionView], *, layer: int | None = None, head: int | None = None,
                      cap: int = MODEL_VIEW_TOKENS) -> go.Figure:
    """BertViz's model view: a small heatmap per layer (rows) and head (columns), from the top-left layer 0 head 0.

    Args:
        views: one AttentionView per layer, every head, the same filters.
        layer, head: the tile to outline (the one shown large).
        cap: tokens per tile.
    """
    grid, rows, cols = _tiles(views, cap)
    percent = _percent_cells(grid)
    tokens = views[0].tokens
    heads = views[0].weights.shape[0]
    width_r, width_c = len(rows) + 1, len(cols) + 1
    # Hover names come from one label per row and per column (category axes), not one string per cell: a
    # 12 x 12 grid of 32-token tiles is 147,000 cells, and per-cell text made the response megabytes long.
    # The labels are unique (layer or head, then the token's position); plotly.js reads numbers on a category axis
    # as positions, so tick values and the outline stay numeric.
    y = _tile_labels([f"layer {li}" for li in range(len(views))], [token_label(tokens, r) for r in rows], " · ")
    x = _tile_labels([f"head {hi}" for hi in range(heads)], [token_label(tokens, c) for c in cols], " → ")
    top = max((value for row in percent for value in row if value is not None), default=0)
    figure = go.Figure(go.Heatmap(
        z=percent, x=x, y=y, colorscale="Blues", zmin=0, zmax=top or 1, showscale=False, hoverongaps=False,
        hovertemplate="%{y}<br>%{x}: %{z}%<extra></extra>", xgap=0, ygap=0))
    if layer is not None and head is not None:
        figure.add_shape(type="rect", x0=head * width_c - 0.5, x1=head * width_c + len(cols) - 0.5,
                         y0=layer * width_r - 0.5, y1=layer * width_r + len(rows) - 0.5,
                         line={"color": "#c0392b", "width": 2})
    cut = f" (first {cap} tokens per tile)" if len(views[0].rows) > cap or len(views[0].cols) > cap else ""
    tile = 44 if heads <= 12 else 34
    figure.update_layout(
        height=max(300, tile * len(views) + 90), margin={"l": 60, "r": 10, "t": 60, "b": 10},
        title=f"Model view: {len(views)} layers x {heads} heads{cut}", plot_bgcolor="white",
        xaxis={"tickvals": [h * width_c + (len(cols) - 1) / 2 for h in range(heads)],
               "ticktext": [f"h{h}" for h in range(heads)], "side": "top", "showgrid": False, "zeroline": False},
        yaxis={"tickvals": [li * width_r + (len(rows) - 1) / 2 for li in range(len(views))],
               "ticktext": [f"layer {li}" for li in range(len(views))], "autorange": "reversed",
               "showgrid": False, "zeroline": False, "scaleanchor": "x", "constrain": "domain"},
    )
    return frame(figure)


def _heatmap_axes(view: AttentionView, word_ids: Sequence[int | None] | None,
                  unit: str) -> tuple[list[str], list[str], np.ndarray, list[tuple[int, ...]]]:
    """The heatmap's row and column labels, its [rows, cols] mean weights, and the token indices of each row: by
    token, or by word (columns summed within a word, rows averaged: rows that summed to 1 still do)."""
    weights = view.mean_weights()
    if unit != WORDS or word_ids is None:
        return ([token_label(view.tokens, c) for c in view.cols], [token_label(view.tokens, r) for r in view.rows],
                weights, [(r,) for r in view.rows])

    def grouping(indices: Sequence[int]) -> Groups:
        return groups([view.tokens[i] for i in indices], [word_ids[i] for i in indices],
                      [view.segments[i] for i in indices], WORDS)

    rows, cols = grouping(view.rows), grouping(view.cols)
    merged = merge_matrix(weights, rows, cols)

    def labels(grouped: Groups, indices: Sequence[int]) -> list[str]:
        return [plot_text(f"{label} ·{indices[members[0]]}") for label, members in zip(grouped.labels, grouped.members)]

    return (labels(cols, view.cols), labels(rows, view.rows), merged,
            [tuple(view.rows[k] for k in members) for members in rows.members])


def heatmap_figure(view: AttentionView, *, cap: int = HEATMAP_TOKENS, word_ids: Sequence[int | None] | None = None,
                   unit: str = PIECES) -> go.Figure:
    """One layer's attention as a large heatmap (the mean of the heads shown, or one head); rows attend to columns.

    With ``unit`` "words" (and the run's ``word_ids``), a word's pieces are merged: attention to a word is the sum
    over its pieces' columns, a word's row the mean of its pieces' rows."""
    x, y, weights, row_members = _heatmap_axes(view, word_ids, unit)
    clipped = len(x) > cap or len(y) > cap
    x, y = x[:cap], y[:cap]
    weights = weights[:len(y), :len(x)]
    which = (f"head {view.heads_shown[0]}" if len(view.heads_shown) == 1
             else f"mean of {len(view.heads_shown)} heads")
    # Category axes named by token (unique with their position) give the hover its names without a string per cell.
    figure = go.Figure(go.Heatmap(
        z=weights.astype(np.float32), x=x, y=y, colorscale="Blues", zmin=0,
        colorbar={"title": {"text": "weight"}}, hovertemplate="%{y} → %{x}: %{z:.4f}<extra></extra>"))
    chosen = [k for k, members in enumerate(row_members[:len(y)]) if view.token in members]
    if view.token is not None and chosen:
        k = chosen[0]
        figure.add_shape(type="rect", x0=-0.5, x1=len(x) - 0.5, y0=k - 0.5, y1=k + 0.5,
                         line={"color": "#c0392b", "width": 2})
    units = "words" if unit == WORDS and word_ids is not None else "tokens"
    cut = f", first {cap} {units} drawn" if clipped else ""
    size = max(360, min(1100, 16 * max(len(y), len(x)) + 160))
    by_words = ", by words" if units == "words" else ""
    figure.update_layout(
        height=size, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        title=f"Layer {view.layer}, {which}{by_words}{cut} (rows attend to columns)",
        # Category axes: plotly names as many tokens as fit (all of them on a desktop, fewer on a phone or for long
        # texts) instead of drawing every name over its neighbours.
        xaxis={"type": "category", "tickangle": -60, "tickfont": {"size": 10}},
        yaxis={"type": "category", "autorange": "reversed", "tickfont": {"size": 10}},
    )
    return frame(figure)


SUMMARY_TITLES = {
    "entropy": "entropy (bits)",
    "to_cls": "share to [CLS]",
    "to_sep": "share to [SEP]",
    "to_punct": "share to punctuation",
    "distance": "mean distance (tokens)",
}


def summaries_figure(summaries: HeadSummaries) -> go.Figure:
    """Five small layer x head heatmaps, three to a row (their titles stay apart on a phone): entropy, attention to
    [CLS], [SEP], punctuation, and distance."""
    names = list(SUMMARY_TITLES)
    columns = 3
    rows = -(-len(names) // columns)
    layers = summaries.entropy.shape[0]
    panel = max(90, 14 * layers)
    # Between the rows: the upper row's head numbers and axis title, then the lower row's subplot titles (two lines).
    between = 90
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=[SUMMARY_TITLES[n] for n in names],
                           horizontal_spacing=0.06, vertical_spacing=between / (rows * panel + (rows - 1) * between))
    for k, name in enumerate(names):
        row, col = k // columns + 1, k % columns + 1
        values = getattr(summaries, name)
        figure.add_trace(go.Heatmap(
            z=values.astype(np.float32), colorscale="Viridis", showscale=False, zmin=0,
            zmax=summaries.max_entropy if name == "entropy" else (1 if name.startswith("to_") else None),
            hovertemplate=f"layer %{{y}} head %{{x}}<br>{SUMMARY_TITLES[name]}: %{{z:.3f}}<extra></extra>"),
            row=row, col=col)
        figure.update_yaxes(autorange="reversed", showticklabels=col == 1, title_text="layer" if col == 1 else None,
                            dtick=1 if layers <= 12 else 2, row=row, col=col)
        figure.update_xaxes(title_text="head", dtick=2 if values.shape[1] > 8 else 1, row=row, col=col)
    figure.update_layout(height=rows * panel + (rows - 1) * between + 60, margin={"l": 10, "r": 10, "t": 0, "b": 10},
                         font={"size": 11})
    return frame(figure)


def summary_table(summaries: HeadSummaries, layer: int) -> pd.DataFrame:
    """One row per head of ``layer``: entropy, attention to [CLS], [SEP], punctuation, mean distance."""
    rows = summaries.layer_rows(layer)
    return pd.DataFrame([(r["head"], r["entropy"], r["to_cls"], r["to_sep"], r["to_punct"], r["distance"])
                         for r in rows],
                        columns=["head", "entropy (bits)", "to [CLS]", "to [SEP]", "to punctuation", "distance"])


def run_header_html(run: EncoderRun, *, untrained: bool) -> str:
    """Which model, how many tokens, layers and heads, what the caps leave out, and the run's notes."""
    caps = []
    if len(run.tokens) > HEAD_VIEW_TOKENS:
        caps.append(f"{len(run.tokens)} tokens: the head view draws the first {HEAD_VIEW_TOKENS}, the large heatmap "
                    f"the first {HEATMAP_TOKENS} and the model view the first {MODEL_VIEW_TOKENS}; summaries and the "
                    "JSON use every token.")
    elif len(run.tokens) > MODEL_VIEW_TOKENS:
        caps.append(f"{len(run.tokens)} tokens: the model view draws the first {MODEL_VIEW_TOKENS} per tile.")
    stats = (f'<div class="bv-stats" data-testid="attention-stats"><span class="bv-stat"><b>{len(run.tokens)}</b> '
             f'tokens</span> <span class="bv-stat"><b>{run.layers}</b> layers</span> <span class="bv-stat">'
             f"<b>{run.heads}</b> heads per layer</span> <span class=\"bv-stat\">one forward: "
             f"{run.seconds * 1000:.0f} ms</span></div>")
    return model_badge_html(run.model, untrained=untrained) + stats + notes_html([*run.notes, *caps])


def view_notes_html(view: AttentionView) -> str:
    """What the filters did to this view (escaped)."""
    return notes_html(view.notes)


def token_choices(run: EncoderRun) -> list[tuple[str, int]]:
    """(label, index) pairs for the token picker; labels are plain text (Gradio escapes dropdown labels)."""
    return [("(every token)", -1)] + [(f"{i}: {token}", i) for i, token in enumerate(run.tokens)]


def legend_html(view: AttentionView) -> str:
    """The head colours as chips (escaped), for readers of the figures."""
    # The name is in the page's text colour (readable on any theme); the colour is a swatch beside it.
    chips = "".join(f'<span class="bv-chip bv-head-key"><span class="bv-swatch" aria-hidden="true" '
                    f'style="background:{esc(head_colour(h))}"></span>head {h}</span>' for h in view.heads_shown)
    return f'<div class="bv-chip-flow" data-testid="attention-heads">{chips}</div>'
