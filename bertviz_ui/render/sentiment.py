"""Sentiment rendering: class probabilities, the batch table, attribution heatmap and bars, the head's numbers."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from bertviz_ui.render.figures import frame
from bertviz_ui.render.html import esc, percent, plot_text
from bertviz_ui.tasks.pieces import WORDS
from bertviz_ui.tasks.sentiment import Attribution, Classification, HeadInside, SentimentBatch, TokenScore

POSITIVE_RGB = (46, 139, 87)
NEGATIVE_RGB = (192, 80, 77)


def scores_figure(row: Classification) -> go.Figure:
    """Every class's probability for one text, best on top."""
    ordered = sorted(row.scores, key=lambda s: s.score)
    # Escaped: plotly.js reads axis text as pseudo-HTML.
    figure = go.Figure(go.Bar(x=[s.score for s in ordered], y=[plot_text(s.label) for s in ordered], orientation="h",
                              marker_color=["#4a7bd0" if s.label == row.label else "#9db5e0" for s in ordered],
                              text=[percent(s.score) for s in ordered], textposition="auto", textfont={"size": 13},
                              hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
    figure.update_layout(height=100 + 34 * len(ordered), margin={"l": 10, "r": 20, "t": 40, "b": 10},
                         xaxis={"tickformat": ".0%", "range": [0, 1.0001]},
                         title=f"Line 1: {plot_text(row.label)} ({percent(row.score)})")
    return frame(figure)


def batch_table(batch: SentimentBatch) -> pd.DataFrame:
    """One row per line: text, label, confidence, a flag for low confidence or truncation (sortable)."""
    rows = []
    for number, row in enumerate(batch.rows, start=1):
        flags = []
        if row.low_confidence:
            flags.append("low confidence")
        if row.truncated:
            flags.append("truncated")
        rows.append((number, row.text, row.label, round(row.score, 4), ", ".join(flags),
                     *(round(s.score, 4) for s in row.scores)))
    return pd.DataFrame(rows, columns=["line", "text", "label", "confidence", "flag",
                                       *(f"P({label})" for label in batch.labels)])


def _colour(score: float, scale: float) -> str:
    """The shade of a word: the class colour mixed into white by the score's strength, opaque, so that its dark text
    (assets/style.css, .bv-attr) keeps WCAG AA contrast on light and dark themes alike."""
    strength = min(abs(score) / scale, 1.0) if scale > 0 else 0.0
    alpha = 0.08 + 0.6 * strength
    red, green, blue = (round(255 + (c - 255) * alpha) for c in (POSITIVE_RGB if score >= 0 else NEGATIVE_RGB))
    return f"rgb({red},{green},{blue})"


def _away(score: float) -> str:
    # Colour is not the only cue: words that push away from the class are also underlined (the legend shows both).
    return "" if score >= 0 else ' data-sign="away"'


def _scored(attribution: Attribution, unit: str) -> tuple[TokenScore, ...]:
    """The words (pieces' scores summed) or the pieces themselves, special tokens left out (they cover no text)."""
    if unit == WORDS:
        return attribution.words
    return tuple(token for token in attribution.tokens if token.start is not None and token.end != token.start)


def heatmap_html(text: str, attribution: Attribution, unit: str = WORDS) -> str:
    """The text with each word (or piece) shaded by its attribution: green pushes toward the class, red away.

    Args:
        text: the explained text (as given; truncated tokens are shown unshaded).
        attribution: word and token scores with character spans into ``text``.
        unit: "words" or "pieces".

    Returns:
        HTML with every piece of the text escaped.
    """
    scored = _scored(attribution, unit)
    scale = max((abs(w.score) for w in scored), default=0.0)
    parts, cursor = [], 0
    for word in scored:
        parts.append(esc(text[cursor:word.start]))
        parts.append(f'<span class="bv-attr" style="background:{_colour(word.score, scale)}" '
                     f'title="{esc(word.text)}: {word.score:+.4f}"{_away(word.score)}>{esc(text[word.start:word.end])}'
                     '</span>')
        cursor = word.end
    parts.append(esc(text[cursor:]))
    legend = (f'<div class="bv-legend"><span class="bv-attr" style="background:{_colour(1, 1)}">toward '
              f'{esc(attribution.target_label)}</span><span class="bv-attr" '
              f'style="background:{_colour(-1, 1)}"{_away(-1)}>'
              f"away from {esc(attribution.target_label)}</span></div>")
    return f'<div class="bv-heatmap" data-testid="attribution-heatmap">{legend}<p>{"".join(parts)}</p></div>'


def attribution_figure(attribution: Attribution, unit: str = WORDS) -> go.Figure:
    """Word (or piece) attributions as bars, in reading order."""
    words = _scored(attribution, unit)
    figure = go.Figure(go.Bar(
        x=[f"{i + 1}. {plot_text(w.text)}" for i, w in enumerate(words)], y=[w.score for w in words],
        marker_color=[f"rgb{POSITIVE_RGB}" if w.score >= 0 else f"rgb{NEGATIVE_RGB}" for w in words],
        hovertemplate="%{x}: %{y:+.4f}<extra></extra>"))
    figure.update_layout(height=320, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         title=f"Contribution of each {'word' if unit == WORDS else 'piece'} to the "
                               f"{plot_text(attribution.target_label)} logit",
                         yaxis={"title": "attribution", "zeroline": True, "exponentformat": "e"})
    return frame(figure)


def cost_html(attribution: Attribution) -> str:
    """What the explanation cost, and the completeness check for integrated gradients."""
    name = {"integrated_gradients": "Integrated gradients", "gradient_x_input": "Gradient × input"}
    text = (f"<b>{name.get(attribution.method, esc(attribution.method))}</b> for class "
            f"<b>{esc(attribution.target_label)}</b>: {attribution.steps} step(s), {attribution.forward_passes} "
            f"batched forward pass(es) (backward included), {attribution.seconds:.2f} s.")
    if attribution.method == "integrated_gradients":
        text += (f" Completeness: the attributions sum to {attribution.sum_of_attributions:+.4f}; the logit went "
                 f"from {attribution.baseline_logit:+.4f} (all words replaced by [PAD]) to "
                 f"{attribution.target_logit:+.4f}, a difference of "
                 f"{attribution.target_logit - attribution.baseline_logit:+.4f} (gap {attribution.delta:+.2e}; "
                 "more steps shrink it).")
    else:
        text += " A single gradient: fast, but it need not add up to the logit change."
    return f'<p class="bv-cost" data-testid="attribution-cost">{text}</p>'


def head_html(head: HeadInside) -> str:
    """From hidden state to probability: the vector, the linear layer, the logits, the softmax."""
    values = ", ".join(f"{v:+.3f}" for v in head.vector_head)
    rows = "".join(
        f"<tr><td>{esc(label)}</td><td>{logit:+.4f}</td><td>{percent(probability)}</td></tr>"
        for label, logit, probability in zip(head.labels, head.logits, head.probabilities))
    bias = ", ".join(f"{b:+.4f}" for b in head.bias)
    return (
        '<div class="bv-head" data-testid="head-inside">'
        f"<p><b>1. The vector.</b> {esc(head.source)}. It has {head.vector_size} numbers: norm "
        f"{head.vector_norm:.3f}, mean {head.vector_mean:+.4f}, min {head.vector_min:+.3f}, max "
        f"{head.vector_max:+.3f}; the first ones are [{values}, …].</p>"
        f"<p><b>2. The linear layer.</b> A {head.weight_shape[0]}×{head.weight_shape[1]} weight matrix and a "
        f"bias ({bias}): logit = weight · vector + bias, one logit per class.</p>"
        "<p><b>3. Softmax</b> turns the logits into probabilities that sum to 1.</p>"
        '<table class="bv-special-table"><thead><tr><th>class</th><th>logit</th><th>probability</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>")
