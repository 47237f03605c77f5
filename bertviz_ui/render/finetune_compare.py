"""Before vs after fine-tuning, drawn: what the comparison says in plain words, the neighbours by each encoder, CKA
per layer, the attention change per head and the most-changed heads' maps side by side."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bertviz_ui.render.attention import token_label
from bertviz_ui.render.figures import frame
from bertviz_ui.render.html import esc, percent, plot_text
from bertviz_ui.tasks.finetune import FinetuneComparison

NEIGHBOUR_COLUMNS = ["encoder", "rank", "example", "label", "cosine"]
# Above this many tokens the head maps name no tokens on their axes (hovering still does).
NAMED_TOKENS = 24
EXPLAINED = (
    "<b>CKA</b> (centered kernel alignment, Kornblith et al. 2019) compares the two models' hidden states token by "
    "token at each layer: 1 means the same geometry (the same tokens close and far apart, whatever rotation or scale), "
    "lower means fine-tuning reshaped that layer. Fine-tuning usually moves the last layers most and leaves the "
    "lower ones nearly as they were (Merchant et al. 2020, \u201cWhat happens to BERT embeddings during "
    "fine-tuning?\u201d)."
)
EXPLAINED_HEADS = (
    "<b>The heatmap</b> shows, for every layer and head, how differently the fine-tuned model spreads its attention "
    "on this text: the Jensen-Shannon distance between each token's attention before and after, averaged over the "
    "tokens (0 = the same, 1 = nothing in common). Kovaleva et al. (2019, \u201cRevealing the Dark Secrets of "
    "BERT\u201d) found that fine-tuning changes the last layers' heads most."
)
NO_BEFORE = (
    "There is no \u201cbefore\u201d prediction: the classification head is new, its first weights random, so the base "
    "model's class probabilities would mean nothing. Instead, see which training examples each encoder finds nearest "
    "to the text (cosine of mean-pooled embeddings): fine-tuning pulls examples of the same label together."
)


def compare_html(result: FinetuneComparison) -> str:
    """The fine-tuned model's probabilities, the plain-words reading of CKA and the attention change, and the notes
    (every label, text and note escaped).

    Args:
        result: the comparison.

    Returns:
        HTML for a gr.HTML.
    """
    rows = "".join(f"<tr><td>{esc(name)}</td><td>{percent(p)}</td></tr>"
                   for name, p in sorted(zip(result.labels, result.probabilities), key=lambda item: -item[1]))
    shares = [(name, result.same_label_share(neighbours)) for name, neighbours in
              (("base", result.neighbours_base), ("fine-tuned", result.neighbours_tuned))]
    agreement = ", ".join(f"{name} encoder {share:.0%}" for name, share in shares if share is not None)
    neighbours = (f"<p><b>Neighbours.</b> Of the {len(result.neighbours_tuned)} training examples nearest to the text "
                  f"(searched: {result.searched}), the share labelled <b>{esc(result.predicted)}</b>: {agreement}.</p>"
                  if agreement else "<p><b>Neighbours.</b> No training examples could be searched.</p>")
    scored = [(name, value) for name, value in zip(result.cka_layers, result.cka) if value is not None]
    moved = ", ".join(f"{esc(name)} (CKA {dict(scored)[name]:.4f})" for name in result.moved_layers)
    cka = (f"Moved most: {moved}." if moved else "No layer moved: CKA is 1 everywhere.")
    top = result.top_heads[0] if result.top_heads else None
    heads = (f"Most changed: layer {top.layer}, head {top.head} (JS {top.js:.3g})." if top and top.js > 1e-6
             else "No head's attention changed.")
    notes = "".join(f"<li>{esc(note)}</li>" for note in result.notes)
    return (
        '<div class="bv-finetune-before-after" data-testid="finetune-before-after">'
        f"<p><b>Your fine-tuned model</b> (from {esc(result.model)}) predicts <b data-testid=\"finetune-compare-label\">"
        f"{esc(result.predicted)}</b>.</p>"
        '<table class="bv-special-table" data-testid="finetune-compare-probabilities"><thead><tr><th>class</th>'
        f"<th>probability</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p>{NO_BEFORE}</p>{neighbours}"
        f"<p>{EXPLAINED} {cka}</p>"
        f"<p>{EXPLAINED_HEADS} {heads}</p>"
        + (f'<ul class="bv-finetune-notes">{notes}</ul>' if notes else "")
        + "</div>")


def neighbours_table(result: FinetuneComparison | None) -> pd.DataFrame:
    """The nearest training examples by the base encoder, then by the fine-tuned one (None: no columns, no table)."""
    if result is None:
        return pd.DataFrame()
    rows = [(encoder, rank, n.text, n.label, round(n.cosine, 4))
            for encoder, neighbours in (("base", result.neighbours_base), ("fine-tuned", result.neighbours_tuned))
            for rank, n in enumerate(neighbours, start=1)]
    return pd.DataFrame(rows, columns=NEIGHBOUR_COLUMNS)


def cka_figure(result: FinetuneComparison) -> go.Figure:
    """Linear CKA of base vs fine-tuned hidden states per layer; the layers that moved most in red."""
    names = list(result.cka_layers)
    values = [None if v is None else round(v, 6) for v in result.cka]
    figure = go.Figure(go.Scatter(x=names, y=values, mode="lines+markers", name="CKA",
                                  hovertemplate="%{x}: CKA %{y:.5f}<extra></extra>"))
    moved = [names.index(name) for name in result.moved_layers]
    if moved:
        figure.add_trace(go.Scatter(x=[names[i] for i in moved], y=[values[i] for i in moved], mode="markers+text",
                                    marker={"color": "#c0392b", "size": 12}, name="moved most",
                                    text=[f"{values[i]:.4f}" for i in moved], textposition="bottom center",
                                    hovertemplate="%{x}: CKA %{y:.5f} (moved most)<extra></extra>"))
    known = [v for v in values if v is not None]
    low = min(known, default=1.0)
    # The axis reaches 1 (same geometry) and leaves room under the lowest point for its label.
    span = max(1.0 - low, 1e-4)
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 50, "b": 10}, showlegend=False,
                         title="Linear CKA per layer, base vs fine-tuned (1 = same geometry)",
                         xaxis={"type": "category", "tickangle": -45},
                         yaxis={"title": "CKA", "range": [max(0.0, low - 0.35 * span), 1.0 + 0.1 * span],
                                "tickformat": ".4f" if span < 0.01 else ".2f"})
    return frame(figure)


def attention_change_figure(result: FinetuneComparison) -> go.Figure:
    """Layers x heads: the Jensen-Shannon distance between base and fine-tuned attention; the top heads numbered."""
    change = [list(row) for row in result.attention_change]
    layers, heads = len(change), len(change[0]) if change else 0
    rank = {(h.layer, h.head): str(k) for k, h in enumerate(result.top_heads, start=1) if h.js > 1e-6}
    text = [[rank.get((layer, head), "") for head in range(heads)] for layer in range(layers)]
    peak = max((v for row in change for v in row), default=0.0)
    figure = go.Figure(go.Heatmap(
        z=change, x=list(range(heads)), y=list(range(layers)), colorscale="Reds", zmin=0, zmax=max(peak, 0.01),
        text=text, texttemplate="%{text}", colorbar={"title": {"text": "JS"}, "thickness": 12},
        hovertemplate="layer %{y}, head %{x}: JS %{z:.4f}<extra></extra>"))
    figure.update_layout(height=140 + 26 * layers, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         title="Attention change per head (JS distance)",
                         xaxis={"title": "head (numbered: the most changed)", "dtick": 1}, yaxis={"title": "layer", "dtick": 1,
                                                                      "autorange": "reversed"})
    return frame(figure)


def top_heads_figure(result: FinetuneComparison) -> go.Figure:
    """The most-changed heads, one row each: the base model's attention map beside the fine-tuned one's."""
    heads = result.top_heads
    tokens = result.tokens
    labels = [token_label(tokens, i) for i in range(len(tokens))]
    titles = [title for h in heads for title in (f"L{h.layer} H{h.head}: base", f"fine-tuned (JS {h.js:.3g})")]
    rows = max(1, len(heads))
    panel = 240 if len(tokens) <= NAMED_TOKENS else 200
    # Between the rows: the upper row's token names (turned) and the lower row's two-line titles.
    between = 110
    figure = make_subplots(rows=rows, cols=2, subplot_titles=titles or ["no heads"], horizontal_spacing=0.04,
                           vertical_spacing=between / (rows * panel + (rows - 1) * between) if rows > 1 else 0.1)
    named = len(tokens) <= NAMED_TOKENS
    positions = list(range(len(tokens)))
    hover = [[f"{labels[r]} → {labels[c]}" for c in positions] for r in positions]
    for k, head in enumerate(heads, start=1):
        peak = max(max(max(row) for row in head.base), max(max(row) for row in head.tuned), 1e-6)
        for col, weights in ((1, head.base), (2, head.tuned)):
            figure.add_trace(go.Heatmap(z=[list(row) for row in weights], x=positions, y=positions,
                                        colorscale="Blues", zmin=0, zmax=peak, showscale=False, customdata=hover,
                                        hovertemplate="%{customdata}: %{z:.4f}<extra></extra>"), row=k, col=col)
            axis = {"tickvals": positions if named else [], "ticktext": labels if named else [],
                    "tickfont": {"size": 9}}
            figure.update_xaxes(axis | {"tickangle": -60}, row=k, col=col)
            # The right map's rows are the left one's tokens: named once, so they never run into the left map.
            figure.update_yaxes(axis | {"autorange": "reversed", "showticklabels": col == 1}, row=k, col=col)
    figure.update_layout(height=rows * panel + (rows - 1) * between + 40, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         title=f"The {len(heads)} most changed heads on {plot_text(_short(result.text))} "
                               "(rows attend to columns)")
    return frame(figure)


def _short(text: str, chars: int = 40) -> str:
    text = " ".join(text.split())
    return f"\u201c{text}\u201d" if len(text) <= chars else f"\u201c{text[:chars - 1]}\u2026\u201d"
