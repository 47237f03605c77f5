"""Next-sentence rendering: IsNext/NotNext bars, the pair's tokens coloured by segment, paragraph pair table."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from bertviz_ui.render.figures import frame
from bertviz_ui.render.html import esc
from bertviz_ui.tasks.nsp import NspResult, ParagraphNsp


def nsp_figure(result: NspResult) -> go.Figure:
    """Two bars: P(IsNext) and P(NotNext) from the NSP head's softmax."""
    # Listed bottom-up: horizontal bars draw the first category at the bottom, and IsNext belongs on top.
    figure = go.Figure(go.Bar(
        x=[result.not_next, result.is_next], y=["NotNext (index 1)", "IsNext (index 0)"], orientation="h",
        marker_color=["#c0504d", "#2e8b57"], text=[f"{result.not_next:.1%}", f"{result.is_next:.1%}"],
        textposition="auto", textfont={"size": 13}, customdata=[result.logits[1], result.logits[0]],
        hovertemplate="%{y}: p=%{x:.4f}, logit %{customdata:.3f}<extra></extra>"))
    figure.update_layout(height=220, margin={"l": 10, "r": 30, "t": 40, "b": 10},
                         xaxis={"tickformat": ".0%", "range": [0, 1.0001], "dtick": 0.25},
                         title="Does sentence B follow sentence A?")
    return frame(figure)


def segment_chips_html(result: NspResult) -> str:
    """The pair as BERT reads it: [CLS] A [SEP] B [SEP], coloured by token type."""
    chips = []
    for token, type_id in zip(result.tokens, result.token_type_ids or (0,) * len(result.tokens)):
        special = token in ("[CLS]", "[SEP]", "<s>", "</s>")
        css = "bv-special" if special else ("bv-b" if type_id == 1 else "bv-a")
        chips.append(f'<span class="bv-chip {css}">{esc(token)}<small>{type_id}</small></span>')
    verdict = "IsNext" if result.is_next >= result.not_next else "NotNext"
    return (f'<div class="bv-nsp" data-testid="nsp-pair"><p><b>{verdict}</b>: P(IsNext) = {result.is_next:.3f}, '
            f"P(NotNext) = {result.not_next:.3f} (logits {result.logits[0]:.3f}, {result.logits[1]:.3f}). "
            "Small numbers under each token are its token type id.</p>"
            f'<div class="bv-chip-flow">{"".join(chips)}</div></div>')


def paragraph_table(result: ParagraphNsp) -> pd.DataFrame:
    """One row per scored pair: the two sentences, whether B really follows A, P(IsNext) and the verdict."""
    rows = []
    for pair in result.pairs:
        right = (pair.is_next > 0.5) == pair.actually_next
        rows.append((f"{pair.first + 1} → {pair.second + 1}", "consecutive" if pair.actually_next else "shuffled",
                     round(pair.is_next, 4), "right" if right else "wrong", result.sentences[pair.first],
                     result.sentences[pair.second]))
    return pd.DataFrame(rows, columns=["pair", "truth", "IsNext", "verdict", "sentence A", "sentence B"])


def paragraph_summary_html(result: ParagraphNsp) -> str:
    """How many pairs the NSP head got right."""
    right = round(result.accuracy * len(result.pairs))
    return (f'<div class="bv-nsp-summary" data-testid="nsp-paragraph">{len(result.sentences)} sentences, '
            f"{len(result.pairs)} pairs scored in one batch; the NSP head is right on <b>{right} of "
            f"{len(result.pairs)}</b> (IsNext above 0.5 for consecutive pairs, below for shuffled ones).</div>")
