"""Masked-word rendering: prediction bars per mask, the completed sentence, context and layer views, the masking lab,
fp32 beside int8."""

from __future__ import annotations

import re

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bertviz_ui.render.figures import frame, label_annotations, padded_range, stacked_layout
from bertviz_ui.render.html import esc, percent, plot_text
from bertviz_ui.tasks.fill_mask import (
    CANONICAL_MASK,
    ROLE_MASKED,
    ROLE_RANDOM,
    ROLE_UNCHANGED,
    ContextComparison,
    FillMaskResult,
    IterativeFill,
    LayerPredictions,
    MaskComparison,
    MaskingLabResult,
    MaskPrediction,
    QuantizedComparison,
)

NB_HYPHEN = "\u2011"
BAR_COLOUR = "#4a7bd0"
LEFT_COLOUR = "#e9a95e"


def _bars(mask: MaskPrediction, colour: str = BAR_COLOUR, textposition: str = "outside") -> go.Bar:
    # Reversed so the best candidate is on top of a horizontal bar chart.
    predictions = mask.predictions[::-1]
    # Escaped: plotly.js reads axis text as pseudo-HTML, and vocabularies hold tokens like "<s>".
    return go.Bar(x=[p.score for p in predictions], y=[plot_text(p.token or p.piece) for p in predictions],
                  orientation="h",
                  marker_color=colour, text=[percent(p.score) for p in predictions], textposition=textposition,
                  textfont={"size": 12}, cliponaxis=False, hovertemplate="%{y}: %{x:.4g}<extra></extra>",
                  showlegend=False)


def probability_axis(largest: float) -> dict:
    """Axis settings that stay readable from 90% down to 0.00005 (untrained models spread probability thin)."""
    if largest >= 0.01:
        return {"tickformat": ".0%", "range": [0, min(1.0, largest * 1.25)]}
    return {"tickformat": ".1e", "range": [0, largest * 1.25], "nticks": 4}


def predictions_figure(result: FillMaskResult) -> go.Figure:
    """One horizontal bar chart of top-k probabilities per mask.

    Args:
        result: the fill-mask result.

    Returns:
        A plotly figure with one subplot per mask.
    """
    count = len(result.masks)
    layout = stacked_layout([f"mask {i + 1} (token {m.position})" for i, m in enumerate(result.masks)],
                            spacing=min(0.3, 0.6 / max(count, 1)))
    data = []
    for row, mask in enumerate(result.masks, start=1):
        suffix = "" if row == 1 else str(row)
        data.append(_bars(mask).update(xaxis=f"x{suffix}", yaxis=f"y{suffix}"))
        layout[f"xaxis{suffix}"].update(probability_axis(mask.predictions[0].score))
    top_k = len(result.masks[0].predictions) if result.masks else 5
    layout.update(height=max(240, count * (70 + 30 * top_k)), margin={"l": 10, "r": 40, "t": 50, "b": 10},
                  title={"text": "Top predictions per mask (probability over the whole vocabulary)"})
    return frame(go.Figure(data=data, layout=layout))


def completed_html(result: FillMaskResult) -> str:
    """The text with each mask replaced by its top prediction, highlighted, and the probability on hover."""
    parts = re.split(f"({re.escape(result.mask_token)})", result.text)
    html, index = [], 0
    for part in parts:
        if part == result.mask_token and index < len(result.masks):
            best = result.masks[index].predictions[0]
            html.append(f'<mark class="bv-fill" title="mask {index + 1}: {esc(best.token)} '
                        f'({percent(best.score)})">{esc(best.token)}</mark>')
            index += 1
        else:
            html.append(esc(part))
    return (f'<div class="bv-completed" data-testid="fill-completed"><b>Top choice for each mask:</b> '
            f'{"".join(html)}</div>')


def mask_token_html(mask_token: str) -> str:
    """The model's own mask token, and, when it is not [MASK], that [MASK] typed in the text is rewritten to it."""
    rewrite = "" if mask_token == CANONICAL_MASK else "; <code>[MASK]</code> typed in the text is rewritten to it"
    return f'<p class="bv-mask-token">This model\'s mask token is <code>{esc(mask_token)}</code>{rewrite}.</p>'


def click_masked_html(masked: str, original: str, result: FillMaskResult) -> str:
    """The sentence with the clicked word masked, the model's top choice there, and whether it is that word.

    Args:
        masked: the sentence with the word replaced by the mask token.
        original: the word that was masked.
        result: the predictions for ``masked`` (one mask).

    Returns:
        One escaped paragraph.
    """
    best = result.masks[0].predictions[0]
    verdict = "the word you masked" if best.token.lower() == original.lower() else f"not “{esc(original)}”"
    return (f'<p data-testid="click-masked">Masked: <code>{esc(masked)}</code> — the model\'s top choice is '
            f"<b>{esc(best.token)}</b> ({percent(best.score)}), {verdict}.</p>")


def iterative_table(fill: IterativeFill, independent: FillMaskResult) -> pd.DataFrame:
    """Iterative filling step by step, beside the independent top choice for the same mask."""
    independent_top = {m.position: m.predictions[0] for m in independent.masks}
    rows = []
    for number, step in enumerate(fill.steps, start=1):
        alone = independent_top.get(step.position)
        rows.append((number, step.position, step.prediction.token, percent(step.prediction.score),
                     alone.token if alone else "", "same" if alone and alone.token_id == step.prediction.token_id
                     else "different"))
    return pd.DataFrame(rows, columns=["step", "token position", "filled with", "probability",
                                       "independent top choice", "same?"])


def context_figure(comparison: ContextComparison) -> go.Figure:
    """Predictions for one mask with both sides of its context, beside the left side only."""
    figure = make_subplots(rows=1, cols=2, subplot_titles=["both sides (BERT)", "left side only"],
                           horizontal_spacing=0.18)
    # Side by side there is no room beside a bar for its value on a phone: values go inside the bars, and where one
    # doesn't fit at the common size it is left to the hover.
    figure.add_trace(_bars(comparison.both_sides, textposition="inside"), row=1, col=1)
    figure.add_trace(_bars(comparison.left_only, LEFT_COLOUR, textposition="inside"), row=1, col=2)
    figure.update_layout(uniformtext={"minsize": 10, "mode": "hide"})
    largest = max(comparison.both_sides.predictions[0].score, comparison.left_only.predictions[0].score)
    figure.update_xaxes(**probability_axis(largest))
    figure.update_layout(height=120 + 30 * len(comparison.both_sides.predictions),
                         margin={"l": 10, "r": 40, "t": 60, "b": 10},
                         title=f"Mask {comparison.mask_index + 1}: what the right-hand context changes")
    return frame(figure)


def left_text_html(comparison: ContextComparison) -> str:
    """What the model reads when the text right of the mask is cut off (escaped)."""
    return (f'<p class="bv-left-text">Left side only, the model reads: <code>{esc(comparison.left_text)}</code> '
            "(then [SEP]). A left-to-right model like GPT only ever has this side.</p>")


# The layer plot's area is LAYERS_PLOT_PX tall inside fixed margins, on fixed ranges: its labels are placed knowing
# where every point lands at any page width (render/figures.place_labels).
LAYERS_PLOT_PX = 240
LAYERS_MARGIN = {"l": 70, "r": 20, "t": 10, "b": 50}


def layers_figure(layers: LayerPredictions) -> go.Figure:
    """Probability of the final answer at each layer (0 = embeddings), each point labelled with that layer's top guess
    where the label overlaps nothing at any page width; hover shows every one."""
    x = [step.layer for step in layers.layers]
    y = [step.final_token_score for step in layers.layers]
    guesses = [plot_text(step.top[0].token) for step in layers.layers]
    figure = go.Figure(go.Scatter(
        x=x, y=y, mode="lines+markers", text=guesses, customdata=[step.final_token_rank for step in layers.layers],
        hovertemplate="layer %{x}: p(final)=%{y:.4f}, rank %{customdata}; top guess %{text}<extra></extra>",
        line={"color": BAR_COLOUR}, marker={"size": 8}))
    axis = probability_axis(max(y))
    x_range, y_range = padded_range(x, 0.05), [0, axis["range"][1] * 1.35]
    labels, hidden = label_annotations(x, y, guesses, x_range=x_range, y_range=y_range, plot_height=LAYERS_PLOT_PX,
                                       marker_px=8)
    left_out = (f"; {hidden} left out where {'they' if hidden > 1 else 'it'} would overlap, hover the points"
                if hidden else "")
    figure.update_layout(height=LAYERS_PLOT_PX + LAYERS_MARGIN["t"] + LAYERS_MARGIN["b"], margin=LAYERS_MARGIN,
                         annotations=labels,
                         title=f"Probability of the final answer “{plot_text(layers.final_token)}” layer by layer "
                               f"(labels: each layer's top guess{left_out})",
                         xaxis={"title": "layer (0 = embeddings)", "dtick": 1, "range": x_range, "automargin": False},
                         yaxis={"title": "probability", **axis, "range": y_range, "automargin": False})
    return frame(figure)


def layers_table(layers: LayerPredictions) -> pd.DataFrame:
    """Each layer's top guesses with probabilities, and the rank of the final answer there."""
    # A non-breaking hyphen in "5.2e‑05": the guesses wrap as text, and Chrome breaks lines after "e-".
    rows = [(step.layer, ", ".join(f"{p.token} ({percent(p.score).replace('-', NB_HYPHEN)})" for p in step.top),
             step.final_token_rank,
             percent(step.final_token_score)) for step in layers.layers]
    return pd.DataFrame(rows, columns=["layer", "top guesses", f"rank of “{layers.final_token}”",
                                       f"p(“{layers.final_token}”)"])


_ROLE_CLASS = {ROLE_MASKED: "bv-role-masked", ROLE_RANDOM: "bv-role-random", ROLE_UNCHANGED: "bv-role-unchanged"}


def masking_lab_html(result: MaskingLabResult) -> str:
    """Original and corrupted tokens aligned, coloured by what the 80/10/10 rule did, with loss per position."""
    columns = []
    for token in result.tokens:
        css = _ROLE_CLASS.get(token.role, "bv-role-special" if token.role == "special" else "bv-role-none")
        guess = ""
        if token.loss is not None:
            guess = (f'<span class="bv-lab-guess" title="model\'s top guess and its probability">'
                     f"{esc(token.prediction)} {percent(token.prediction_score)}</span>"
                     f'<span class="bv-lab-loss" title="-log p(original)">loss {token.loss:.2f}</span>')
        columns.append(f'<div class="bv-lab-col {css}" title="{esc(token.role)}">'
                       f'<span class="bv-lab-orig">{esc(token.original)}</span>'
                       f'<span class="bv-lab-corr">{esc(token.corrupted)}</span>{guess}</div>')
    counts = result.counts
    selected = sum(counts.values())
    loss = "no position selected" if result.mean_loss is None else f"{result.mean_loss:.3f}"
    legend = ('<div class="bv-legend"><span class="bv-lab-key bv-role-masked">[MASK] (80%)</span>'
              '<span class="bv-lab-key bv-role-random">random token (10%)</span>'
              '<span class="bv-lab-key bv-role-unchanged">kept, still predicted (10%)</span>'
              '<span class="bv-lab-key bv-role-none">not selected: no loss</span></div>')
    summary = (f'<p class="bv-lab-summary">Seed {result.seed}, rate {result.probability:g}: {selected} of '
               f'{sum(1 for t in result.tokens if t.role != "special")} tokens selected — '
               f'{counts.get(ROLE_MASKED, 0)} masked, {counts.get(ROLE_RANDOM, 0)} random, '
               f'{counts.get(ROLE_UNCHANGED, 0)} unchanged. Mean loss over selected positions '
               f"(the MLM loss): <b>{esc(loss)}</b></p>")
    rows = ('<div class="bv-lab-rows"><div class="bv-lab-col bv-lab-head"><span>original</span><span>model input</span>'
            '<span>top guess</span><span>loss</span></div>' + "".join(columns) + "</div>")
    return f'<div class="bv-lab" data-testid="masking-lab">{legend}{summary}{rows}</div>'


INT8_COLOUR = "#5aa469"
QUANTIZED_COLUMNS = ("mask", "rank", "fp32", "fp32 probability", "int8", "int8 probability")


def quantized_figure(result: QuantizedComparison) -> go.Figure:
    """Per mask, one bar chart with each candidate's fp32 and int8 probability side by side: fp32's top-k in its
    order, then any int8 candidate fp32's list lacks (a side's bar is missing where the token is not in its top-k).

    One axis of tokens shared by both precisions keeps the comparison direct and fits a phone (two charts side by
    side would put one's labels over the other's bars at 390 px).
    """
    count = len(result.masks)
    titles = [f"mask {i + 1} (token {m.full.position})" for i, m in enumerate(result.masks)]
    figure = make_subplots(rows=count, cols=1, vertical_spacing=min(0.3, 0.6 / max(count, 1)), subplot_titles=titles)
    rows_shown = 0
    for row, mask in enumerate(result.masks, start=1):
        candidates = (*mask.full.predictions, *mask.int8.predictions)
        names = {p.token_id: plot_text(p.token or p.piece) for p in candidates}
        ids = list(dict.fromkeys(p.token_id for p in candidates))[::-1]  # reversed: the best on top
        rows_shown = max(rows_shown, len(ids))
        # Added int8 first: in a horizontal group the first trace is drawn lowest, so fp32 sits above int8.
        for side, name, colour in ((mask.int8, "int8", INT8_COLOUR), (mask.full, "fp32", BAR_COLOUR)):
            scores = {p.token_id: p.score for p in side.predictions}
            figure.add_trace(go.Bar(x=[scores.get(i) for i in ids], y=[names[i] for i in ids], orientation="h",
                                    name=name, legendgroup=name, showlegend=row == 1, marker_color=colour,
                                    text=[percent(scores[i]) if i in scores else "" for i in ids],
                                    textposition="outside", textfont={"size": 11}, cliponaxis=False,
                                    hovertemplate=f"{name} %{{y}}: %{{x:.4g}}<extra></extra>"), row=row, col=1)
        largest = max(mask.full.predictions[0].score, mask.int8.predictions[0].score)
        figure.update_xaxes(**probability_axis(largest), row=row, col=1)
    figure.update_layout(barmode="group", bargap=0.25, legend={"orientation": "h", "traceorder": "reversed"},
                         height=max(260, count * (90 + 34 * rows_shown)), margin={"l": 10, "r": 50, "t": 60, "b": 10},
                         title="The same masks: fp32 weights and int8 weights")
    return frame(figure)


def quantized_table(result: QuantizedComparison) -> pd.DataFrame:
    """Every rank of every mask: the fp32 candidate and the int8 candidate with their probabilities."""
    rows = [(number, rank, full.token or full.piece, percent(full.score), int8.token or int8.piece,
             percent(int8.score))
            for number, mask in enumerate(result.masks, start=1)
            for rank, (full, int8) in enumerate(zip(mask.full.predictions, mask.int8.predictions), start=1)]
    return pd.DataFrame(rows, columns=list(QUANTIZED_COLUMNS))


def _quantized_mask_line(number: int, mask: MaskComparison) -> str:
    full, int8 = (side.predictions[0].token or side.predictions[0].piece for side in (mask.full, mask.int8))
    guess = (f"the same top guess, <b>{esc(full)}</b>" if mask.same_top1 else
             f"a different top guess: fp32 <b>{esc(full)}</b>, int8 <b>{esc(int8)}</b>")
    return (f"Mask {number}: {guess}; {mask.shared} of {len(mask.full.predictions)} candidates in both lists; "
            f"{mask.moved:.1%} of the probability moved.")


def quantized_html(result: QuantizedComparison) -> str:
    """Both weight sizes, both forwards' times and, per mask, how much the predictions changed (escaped)."""
    share = result.int8_bytes / result.full_bytes
    speed = result.full_seconds / max(result.int8_seconds, 1e-9)
    items = "".join(f"<li>{_quantized_mask_line(number, mask)}</li>"
                    for number, mask in enumerate(result.masks, start=1))
    return (f'<div class="bv-quantized" data-testid="quantized-summary"><p><b>Weights</b>: fp32 '
            f"{result.full_bytes / 2**20:.1f} MB, int8 (dynamic) {result.int8_bytes / 2**20:.1f} MB "
            f"({share:.0%} of the size). <b>This forward</b>: fp32 {result.full_seconds * 1e3:.0f} ms, int8 "
            f"{result.int8_seconds * 1e3:.0f} ms ({speed:.1f}x; one run, so only indicative).</p><ul>{items}</ul>"
            "<p>int8 stores each weight of the transformer layers' linear maps as one of 256 levels (a scale per "
            "output neuron) and rounds each token's input the same way as it arrives; the products are summed in "
            "integers, then scaled back. Embeddings, LayerNorms, attention scores and the vocabulary head stay "
            "fp32. Training and gradients need the fp32 weights: int8 is for inference only.</p></div>")
