"""Explanation check rendering: the deletion curves, the AOPC ranking, each method's word scores, what it all means."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from bertviz_ui.render.figures import frame
from bertviz_ui.render.html import esc, notes_html, percent, plot_text
from bertviz_ui.tasks.explanation_check import RANDOM, SENTIMENT, ExplanationCheck

NAMES = {"integrated_gradients": "Integrated gradients", "gradient_x_input": "Gradient × input",
         "attention": "Attention (last layer)", "rollout": "Attention rollout", RANDOM: "Random order"}
# The legend's names: short, so that five fit in two rows on a phone.
SHORT = {"integrated_gradients": "Int. gradients", "gradient_x_input": "Grad × input", "attention": "Attention",
         "rollout": "Rollout", RANDOM: "Random"}
COLOURS = {"integrated_gradients": "#2e8b57", "gradient_x_input": "#4a7bd0", "attention": "#d08a2e",
           "rollout": "#9b59b6", RANDOM: "#7f7f7f"}
# One plain sentence: what the curves mean, and whose test this is.
MEANING = ("Each line deletes the words its explanation ranks highest first: the more faithful the explanation, the "
           "faster the probability falls and the higher its AOPC (area over the curve; deletion test of Samek et al., "
           "2017; comprehensiveness in ERASER, DeYoung et al., 2020); an explanation that does no better than the "
           "random order found nothing the model relies on.")


def _what(result: ExplanationCheck) -> str:
    """"P(POSITIVE)" or "P(capital at [MASK] (mask 1))", as plain text."""
    if result.task == SENTIMENT:
        return f"P({result.target})"
    return f"P({result.target} at {result.read_from})"


def curves_figure(result: ExplanationCheck) -> go.Figure:
    """Probability of the prediction vs. the share of words deleted: one line per method, the random order dashed.

    Args:
        result: the check.

    Returns:
        A framed plotly figure.
    """
    figure = go.Figure()
    for name in (*result.methods, RANDOM):
        figure.add_trace(go.Scatter(
            x=list(result.fractions), y=list(result.curves[name]), mode="lines+markers", name=SHORT.get(name, name),
            line={"color": COLOURS.get(name), "dash": "dash" if name == RANDOM else "solid",
                  "width": 2 if name == RANDOM else 2.5},
            customdata=list(result.removed),
            hovertemplate=(f"{NAMES.get(name, name)}<br>%{{customdata}} word(s) deleted (%{{x:.0%}})<br>"
                           f"{plot_text(_what(result))} = %{{y:.4g}}<extra></extra>")))
    figure.update_layout(
        height=400, margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title=f"{plot_text(_what(result))} as the top-ranked words go",
        xaxis={"title": "share of words deleted", "tickformat": ".0%", "range": [-0.02, 1.02]},
        yaxis={"title": "probability", "exponentformat": "e"},
        legend={"orientation": "h", "x": 0, "y": -0.22, "yanchor": "top", "font": {"size": 12},
                "entrywidth": 118, "entrywidthmode": "pixels"})
    figure.layout.margin.b = 100  # the legend below the axis title: two rows on a phone
    return frame(figure)


def _figures(value: float) -> float:
    """Four significant figures: a tiny model's AOPC of 1e-8 stays readable instead of rounding to 0."""
    return float(f"{value:.4g}")


def aopc_table(result: ExplanationCheck) -> pd.DataFrame:
    """The methods ranked by AOPC, best first, with how far each is above the random order (four significant
    figures)."""
    floor = result.aopc[RANDOM]
    rows = [(NAMES.get(name, name), _figures(result.aopc[name]), _figures(result.aopc[name] - floor))
            for name in result.ranking]
    return pd.DataFrame(rows, columns=["method", "AOPC", "minus random"])


def _shade(score: float, scale: float, rgb: tuple[int, int, int]) -> str:
    strength = min(abs(score) / scale, 1.0) if scale > 0 else 0.0
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{0.06 + 0.6 * strength:.3f})"


def scores_html(result: ExplanationCheck) -> str:
    """Each method's word scores as shaded words (darker = ranked higher; red: a negative gradient score), escaped."""
    rows = []
    for name in result.methods:
        scores = result.scores[name]
        scale = max((abs(s) for s in scores), default=0.0)
        ranks = {index: rank for rank, index in enumerate(sorted(range(len(scores)), key=lambda i: -scores[i]), 1)}
        words = "".join(
            f'<span class="bv-attr" style="background:{_shade(s, scale, (46, 139, 87) if s >= 0 else (192, 80, 77))}" '
            f'title="{esc(word.text)}: {s:+.4g} (rank {ranks[i]})">{esc(word.text)}</span> '
            for i, (word, s) in enumerate(zip(result.words, scores)))
        rows.append(f'<p class="bv-check-row"><b>{esc(NAMES.get(name, name))}</b><br>{words}</p>')
    return ('<div class="bv-check-scores bv-heatmap" data-testid="explanation-scores"><div><small>Each method\'s '
            "word scores: darker = ranked higher (deleted earlier); red = a negative gradient score.</small></div>"
            f"{''.join(rows)}</div>")


def summary_html(result: ExplanationCheck) -> str:
    """What was explained, the best method, what the curves mean (one sentence, papers named), and the notes."""
    best = next((name for name in result.ranking if name != RANDOM), result.ranking[0])
    above = result.aopc[best] - result.aopc[RANDOM]
    verdict = (f"<b>{esc(NAMES.get(best, best))}</b> has the highest AOPC ({result.aopc[best]:.4g}, "
               f"{above:+.4g} over the random order)." if above > 0 else
               "No explanation beats the random order here: none found words the model relies on.")
    explained = (f"Explaining <b>{esc(result.target)}</b> ({esc(_what(result))} = {percent(result.p0)}) over "
                 f"{len(result.words)} word(s); deleted words become <code>{esc(result.replacement)}</code>.")
    return (f'<div class="bv-check" data-testid="explanation-summary"><p>{explained} {verdict}</p>'
            f"<p>{esc(MEANING)}</p>{notes_html(result.notes)}</div>")
