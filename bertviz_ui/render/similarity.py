"""Similarity rendering: the cosine matrix as a heatmap, the pairs ranked, how the numbers were made."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from bertviz_ui.render.figures import frame
from bertviz_ui.render.html import esc, notes_html, plot_text
from bertviz_ui.tasks.similarity import SimilarityResult

LABEL_CHARS = 28
PAIR_COLUMNS = ("rank", "sentence", "paired with", "cosine")


def _short(index: int, sentence: str) -> str:
    text = sentence if len(sentence) <= LABEL_CHARS else sentence[:LABEL_CHARS - 1] + "…"
    return plot_text(f"{index + 1}. {text}")


def matrix_figure(result: SimilarityResult) -> go.Figure:
    """Every pair's cosine as a heatmap (sentence i's row, sentence j's column), values written in the cells."""
    labels = [_short(i, s) for i, s in enumerate(result.sentences)]
    full = [plot_text(s) for s in result.sentences]
    values = [list(row) for row in result.matrix]
    figure = go.Figure(go.Heatmap(
        z=values, x=labels, y=labels, zmin=min(0.0, min(min(row) for row in values)), zmax=1.0,
        colorscale="Blues", text=[[f"{v:.2f}" for v in row] for row in values], texttemplate="%{text}",
        customdata=[[[a, b] for b in full] for a in full],
        hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>cosine %{z:.4f}<extra></extra>",
        colorbar={"title": "cosine"}))
    side = 140 + 38 * len(labels)
    figure.update_layout(height=max(320, side), margin={"l": 10, "r": 10, "t": 40, "b": 10},
                         title="Cosine similarity of the sentence embeddings",
                         yaxis={"autorange": "reversed"}, xaxis={"tickangle": -35})
    return frame(figure)


def pairs_table(result: SimilarityResult) -> pd.DataFrame:
    """Every pair, most similar first."""
    rows = [(rank, f"{p.first + 1}. {result.sentences[p.first]}", f"{p.second + 1}. {result.sentences[p.second]}",
             round(p.cosine, 4)) for rank, p in enumerate(result.pairs, start=1)]
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS))


def summary_html(result: SimilarityResult) -> str:
    """The closest pair in words, each sentence's nearest neighbour, how a sentence becomes a vector."""
    best = result.pairs[0]
    nearest = "".join(f"<li><b>{i + 1}.</b> {esc(s)} &rarr; <b>{result.nearest[i] + 1}</b></li>"
                      for i, s in enumerate(result.sentences))
    return (f'<div class="bv-similarity" data-testid="similarity-summary">'
            f"<p>Closest pair: <b>{best.first + 1}</b> and <b>{best.second + 1}</b> (cosine {best.cosine:.3f}); "
            f"average over all {len(result.pairs)} pairs {result.mean_cosine:.3f}.</p>"
            f"<details><summary>Each sentence's nearest neighbour</summary><ul>{nearest}</ul></details>"
            f"<p class=\"bv-pooling\">{esc(result.pooling)}</p></div>" + notes_html(result.notes))
