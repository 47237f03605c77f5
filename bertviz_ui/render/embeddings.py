"""Embeddings rendering: part norms per token, change through the layers, a 2-D PCA projection."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from bertviz_ui.render.attention import token_label
from bertviz_ui.render.figures import frame, label_annotations, padded_range
from bertviz_ui.render.html import esc, notes_html, plot_text
from bertviz_ui.tasks.embeddings import EmbeddingsResult

PART_COLOURS = {"token": "#4a7bd0", "position": "#e3a33b", "segment": "#8e6bbf"}
SEGMENT_COLOURS = ("#4a7bd0", "#e3823b")


def parts_figure(result: EmbeddingsResult) -> go.Figure:
    """Per token: the norm of each embedding part (bars), of their sum and of the LayerNorm output (markers)."""
    # A category axis named by token: plotly names as many as fit the width instead of drawing them over each other.
    x = [token_label(result.tokens, i) for i in range(len(result.tokens))]
    figure = go.Figure()
    for name, norms in zip(result.part_names, result.part_norms):
        figure.add_trace(go.Bar(x=x, y=norms, name=f"{name} embedding", marker_color=PART_COLOURS.get(name, "#888"),
                                hovertemplate=f"{name}: %{{y:.3f}}<extra></extra>"))
    if result.sum_norms:
        figure.add_trace(go.Scatter(x=x, y=result.sum_norms, mode="markers", name="sum (before LayerNorm)",
                                    marker={"symbol": "diamond", "size": 9, "color": "#222"},
                                    hovertemplate="sum: %{y:.3f}<extra></extra>"))
        figure.add_trace(go.Scatter(x=x, y=result.layernorm_norms, mode="markers+lines", name="after LayerNorm",
                                    marker={"size": 7, "color": "#2e8b57"}, line={"width": 1, "dash": "dot"},
                                    hovertemplate="after LayerNorm: %{y:.3f}<extra></extra>"))
    figure.update_layout(
        barmode="group", height=380, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        title="Input embedding = token + position + segment, then LayerNorm (L2 norms)",
        xaxis={"type": "category", "categoryorder": "array", "categoryarray": x, "tickangle": -50,
               "tickfont": {"size": 10}},
        yaxis={"title": {"text": "L2 norm"}},
        legend={"orientation": "h", "y": -0.35},
    )
    return frame(figure)


def change_figure(result: EmbeddingsResult) -> go.Figure:
    """Two token x layer heatmaps: cosine of each layer's vector to the token's input embedding and to its final one."""
    # Side by side, each heatmap is about 100 px wide on a phone: short subplot titles, the sentence in the title.
    figure = make_subplots(rows=1, cols=2, subplot_titles=("to its input embedding", "to its final vector"),
                           horizontal_spacing=0.12)
    y = list(range(len(result.tokens)))
    layers = list(range(len(result.cos_to_input)))
    for col, values in ((1, result.cos_to_input), (2, result.cos_to_final)):
        z = [[values[layer][t] for layer in layers] for t in y]
        figure.add_trace(go.Heatmap(z=z, x=layers, y=y, colorscale="RdBu", zmin=-1, zmax=1, showscale=col == 2,
                                    hovertemplate="layer %{x}, token %{y}: %{z:.3f}<extra></extra>"), row=1, col=col)
        figure.update_yaxes(tickvals=y, ticktext=[token_label(result.tokens, t) for t in y], autorange="reversed",
                            tickfont={"size": 10}, showticklabels=col == 1, row=1, col=col)
        figure.update_xaxes(title_text="layer", dtick=1, row=1, col=col)
    figure.update_layout(height=max(320, 18 * len(y) + 140), margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         title="Cosine of each token's vector at every layer (0 = the embedding output) to its input "
                               "embedding and to its final vector")
    return frame(figure)


# The projection's plot area is PCA_PLOT_PX tall, inside fixed margins, on fixed axis ranges: its labels are placed
# knowing where every point lands at any page width (render/figures.place_labels).
PCA_PLOT_PX = 380
PCA_MARGIN = {"l": 50, "r": 10, "t": 10, "b": 50}


def pca_figure(result: EmbeddingsResult, color_by: str = "word") -> go.Figure:
    """The token vectors at ``result.pca_layer`` on their first two principal components, coloured by word or segment;
    each point labelled with its token where the label overlaps nothing at any page width (hover shows every one)."""
    figure = go.Figure()
    groups: dict[str, list[int]] = {}
    for index in range(len(result.tokens)):
        if color_by == "segment":
            key = f"sentence {'AB'[min(result.segments[index], 1)]}"
        else:
            word = result.words[index]
            key = "special tokens" if word is None else f"word {word} ({'AB'[min(result.segments[index], 1)]})"
        groups.setdefault(key, []).append(index)
    palette = qualitative.Dark24
    for number, (key, members) in enumerate(groups.items()):
        colour = (SEGMENT_COLOURS[0 if key.endswith("A") else 1] if color_by == "segment"
                  else "#999" if key == "special tokens" else palette[number % len(palette)])
        figure.add_trace(go.Scatter(
            x=[result.pca[i][0] for i in members], y=[result.pca[i][1] for i in members], mode="markers",
            name=plot_text(" ".join(result.tokens[i] for i in members) if color_by == "word" else key),
            text=[token_label(result.tokens, i) for i in members],
            marker={"size": 10, "color": colour}, hovertemplate="%{text}<extra></extra>",
            showlegend=color_by == "segment"))
    xs, ys = [point[0] for point in result.pca], [point[1] for point in result.pca]
    x_range, y_range = padded_range(xs, 0.1), padded_range(ys, 0.08)
    labels, hidden = label_annotations(xs, ys, [token_label(result.tokens, i) for i in range(len(xs))],
                                       x_range=x_range, y_range=y_range, plot_height=PCA_PLOT_PX)
    where = "at the embedding output" if result.pca_layer == 0 else f"after layer {result.pca_layer}"
    left_out = (f" ({hidden} label{'s' if hidden > 1 else ''} left out where {'they' if hidden > 1 else 'it'} would "
                "overlap: hover the points)") if hidden else ""
    figure.update_layout(
        height=PCA_PLOT_PX + PCA_MARGIN["t"] + PCA_MARGIN["b"], margin=PCA_MARGIN, plot_bgcolor="#fafafa",
        annotations=labels,
        title=(f"PCA of the token vectors {where}: PC1 {result.explained[0]:.0%}, PC2 "
               f"{result.explained[1]:.0%} of the variance{left_out}"),
        xaxis={"title": {"text": "PC1"}, "zeroline": False, "range": x_range, "automargin": False},
        yaxis={"title": {"text": "PC2"}, "zeroline": False, "range": y_range, "automargin": False},
        legend={"orientation": "h", "x": 0, "y": 1, "yanchor": "bottom"},
    )
    return frame(figure)


def embeddings_header_html(result: EmbeddingsResult) -> str:
    """The reconstruction check (parts summed, then LayerNorm, against the model's own output) and the notes."""
    if result.reconstruction_error is None:
        check = "The sum of the parts was not compared with the model's embedding output."
    else:
        check = (f"LayerNorm(token + position + segment) reproduces the model's own embedding output to within "
                 f"{result.reconstruction_error:.1e} (largest difference).")
    parts = " + ".join(esc(name) for name in result.part_names) or "none"
    return (f'<div class="bv-summary" data-testid="embeddings-check"><p><b>Parts:</b> {parts}. {esc(check)}</p>'
            f"</div>{notes_html(result.notes)}")
