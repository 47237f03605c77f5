"""Zero-shot rendering: ranked label scores, the hypotheses and raw logits behind them, how a score is computed."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from bertviz_ui.render.figures import frame
from bertviz_ui.render.html import esc, percent, plot_text
from bertviz_ui.tasks.zero_shot import METHOD_NLI, ZeroShotResult


def scores_figure(result: ZeroShotResult) -> go.Figure:
    """Label scores as horizontal bars, best on top."""
    # Escaped: plotly.js reads axis text as pseudo-HTML (<b> would turn bold instead of showing as typed).
    labels, scores = [plot_text(label) for label in result.labels][::-1], list(result.scores)[::-1]
    figure = go.Figure(go.Bar(x=scores, y=labels, orientation="h", marker_color="#4a7bd0",
                              text=[percent(s) for s in scores], textposition="auto", textfont={"size": 13},
                              hovertemplate="%{y}: %{x:.4f}<extra></extra>"))
    mode = "independent per label (multi-label)" if result.multi_label else "softmax across labels (single-label)"
    if result.method != METHOD_NLI:
        mode = "embedding similarity (not NLI)"
    figure.update_layout(height=120 + 34 * len(labels), margin={"l": 10, "r": 20, "t": 40, "b": 10},
                         xaxis={"tickformat": ".0%", "range": [0, 1.0001]}, title=f"Scores: {mode}")
    return frame(figure)


def hypotheses_table(result: ZeroShotResult) -> pd.DataFrame:
    """One row per label: the hypothesis sentence the model read, its raw logits, and the score."""
    rows = [(d.label, d.hypothesis, *(round(v, 4) for v in d.logits), round(d.score, 4)) for d in result.details]
    return pd.DataFrame(rows, columns=["label", "hypothesis fed to the model", *result.logit_names, "score"])


def explanation_html(result: ZeroShotResult) -> str:
    """How the shown scores come from the logits in the chosen mode, with the top label's numbers."""
    if not result.details:
        return ""
    top = result.details[0]
    if result.method != METHOD_NLI:
        body = (f"Each label's hypothesis and the text are embedded (mean-pooled all-MiniLM-L6-v2); the score is "
                f"the softmax of cosine / 0.05 across labels. “{esc(top.label)}”: cosine {top.logits[0]:+.3f} → "
                f"{percent(top.score)}.")
    else:
        names = list(result.logit_names)
        entail = next(i for i, n in enumerate(names) if n.lower().startswith("entail"))
        contradiction = len(names) - 1 if entail == 0 else 0
        if result.multi_label:
            body = (f"Multi-label: for each label on its own, softmax over its [{esc(names[contradiction])}, "
                    f"{esc(names[entail])}] logits, keeping the {esc(names[entail])} share (neutral is ignored). "
                    f"“{esc(top.label)}”: e^{top.logits[entail]:.3f} / (e^{top.logits[contradiction]:.3f} + "
                    f"e^{top.logits[entail]:.3f}) = {percent(top.score)}. Scores need not sum to 1.")
        else:
            total = " + ".join(f"e^{d.logits[entail]:.3f}" for d in result.details[:4])
            more = " + …" if len(result.details) > 4 else ""
            body = (f"Single-label: softmax of the {esc(names[entail])} logits across all labels, so scores sum to 1. "
                    f"“{esc(top.label)}”: e^{top.logits[entail]:.3f} / ({total}{more}) = {percent(top.score)}.")
    passes = "1 batched forward pass" if result.forward_passes == 1 else f"{result.forward_passes} batched forward passes"
    cost = f" {len(result.details)} hypotheses scored in {passes} in {result.seconds * 1000:.0f} ms."
    return f'<p class="bv-zs-explain" data-testid="zero-shot-explain">{body}{esc(cost)}</p>'
