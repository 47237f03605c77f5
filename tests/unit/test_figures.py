"""Figure layout: titles below the gr.Plot badge and short enough for a phone; point labels that overlap nothing at
any plot width (checked here by re-drawing the placed boxes at many widths)."""

from __future__ import annotations

import random

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from bertviz_ui.render.figures import (
    BADGE_PX,
    NARROW_PX,
    TITLE_CHARS,
    TITLE_LINE_PX,
    WIDE_PX,
    frame,
    label_annotations,
    place_labels,
    stacked_layout,
    text_px,
    wrap,
)

HEIGHT = 300
FONT = 11


def test_wrap_breaks_at_spaces_within_the_width():
    assert wrap("PCA of the token vectors at the embedding output: PC1 32%, PC2 12% of the variance", 40) == [
        "PCA of the token vectors at the", "embedding output: PC1 32%, PC2 12% of", "the variance"]
    assert wrap("short", 40) == ["short"]
    assert wrap("a<br>b c", 3) == ["a", "b c"]
    assert wrap("supercalifragilistic word", 8) == ["supercalifragilistic", "word"]  # a long word keeps its line


def test_frame_puts_the_title_below_the_badge_and_grows_the_margin_and_height():
    figure = go.Figure(go.Bar(x=[1], y=[1]))
    figure.update_layout(height=300, margin={"t": 40}, title="Contribution of each word to the POSITIVE logit here")
    frame(figure)
    title = figure.layout.title
    assert title.text == "Contribution of each word to the<br>POSITIVE logit here"
    assert (title.yref, title.yanchor, title.y) == ("container", "top", 1)
    assert title.pad.t >= BADGE_PX  # the badge covers the top BADGE_PX of the figure
    assert figure.layout.margin.t >= BADGE_PX + 2 * TITLE_LINE_PX
    assert figure.layout.height == 300 + figure.layout.margin.t - 40  # the plot keeps its height


def test_frame_breaks_subplot_titles_to_fit_their_column_and_makes_room_for_them():
    figure = make_subplots(rows=1, cols=3, subplot_titles=["entropy (bits)", "share to punctuation", "x"])
    figure.update_layout(height=300, margin={"t": 0})
    frame(figure)
    texts = [a.text for a in figure.layout.annotations]
    assert texts[1] == "share to<br>punctuation"  # a third of a phone's plot is about 13 characters wide
    assert all(max(map(len, t.split("<br>"))) <= 13 or " " not in t for t in texts)
    assert figure.layout.margin.t >= BADGE_PX + 2 * 17  # two lines of subplot title above the plots


def test_frame_leaves_a_figure_with_room_to_spare_alone():
    figure = go.Figure(go.Bar(x=[1], y=[1]))
    figure.update_layout(height=300, margin={"t": 200})
    frame(figure)
    assert (figure.layout.margin.t, figure.layout.height) == (200, 300)
    assert len(wrap("x" * TITLE_CHARS, TITLE_CHARS)) == 1


def _boxes_at(width: float, points, texts, placed) -> list[tuple[str, float, float, float, float]]:
    """Every marker and placed label as (name, left, top, right, bottom) pixels on a plot ``width`` wide."""
    height = FONT * 1.35 + 2
    boxes = [(f"marker {i}", x * width - 6, (1 - y) * HEIGHT - 6, x * width + 6, (1 - y) * HEIGHT + 6)
             for i, (x, y) in enumerate(points)]
    for p in placed:
        x, y = points[p.index]
        w = text_px(texts[p.index], FONT)
        left = x * width + p.xshift - {"left": 0, "center": w / 2, "right": w}[p.xanchor]
        top = (1 - y) * HEIGHT - p.yshift - {"top": 0, "middle": height / 2, "bottom": height}[p.yanchor]
        boxes.append((f"label {p.index}", left, top, left + w, top + height))
    return boxes


@pytest.mark.parametrize("seed", range(6))
def test_placed_labels_overlap_nothing_at_any_width(seed):
    rng = random.Random(seed)
    # Clusters, as token vectors form them: some labels can't fit and are left out, the rest must never touch.
    centres = [(rng.random(), rng.random()) for _ in range(3)]
    points = [(min(1, max(0, cx + rng.gauss(0, 0.08))), min(1, max(0, cy + rng.gauss(0, 0.08))))
              for cx, cy in centres for _ in range(8)]
    texts = [f"{rng.choice(['the', 'cat', 'afternoon', '[SEP]', '##ing'])} ·{i}" for i in range(len(points))]
    placed = place_labels(points, texts, plot_height=HEIGHT, font_size=FONT)
    assert len(placed) >= 5  # crowded: many are left out, and none of those placed may touch another
    for width in (NARROW_PX, 260, 390, 700, 1000, 1400, WIDE_PX):
        boxes = _boxes_at(width, points, texts, placed)
        for name, left, top, right, bottom in boxes[len(points):]:
            assert left >= -0.01 and right <= width + 0.01 and top >= -0.01 and bottom <= HEIGHT + 0.01, (width, name)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                if a[0].startswith("marker") and b[0].startswith("marker"):
                    continue
                # The label of point k sits beside marker k, never on it; 1.9 px of the 2 px gap are required.
                apart = a[3] <= b[1] + 0.1 or b[3] <= a[1] + 0.1 or a[4] <= b[2] + 0.1 or b[4] <= a[2] + 0.1
                assert apart, (width, a, b)


def test_label_annotations_use_data_coordinates_and_leader_lines_for_far_labels():
    xs, ys = [0.0, 0.01, 0.02, 5.0], [0.0, 0.01, 0.0, 5.0]
    labels, hidden = label_annotations(xs, ys, ["a ·0", "b ·1", "c ·2", "d ·3"], x_range=[-1, 6], y_range=[-1, 6],
                                       plot_height=HEIGHT)
    assert hidden == 4 - len(labels) and len(labels) >= 3
    assert {(a["x"], a["y"]) for a in labels} <= set(zip(xs, ys))
    for label in labels:
        if label["showarrow"]:  # a far label is joined to its point by a line
            assert label["axref"] == "pixel" and abs(label["ax"]) + abs(label["ay"]) > 0
    many, left_out = label_annotations(list(range(200)), list(range(200)), [str(i) for i in range(200)],
                                       x_range=[0, 200], y_range=[0, 200], plot_height=HEIGHT)
    assert (many, left_out) == ([], 200)  # past MAX_LABELS points, hovering names them


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_stacked_layout_is_make_subplots_one_column_layout(rows):
    titles = [f"mask {i + 1}" for i in range(rows)]
    spacing = min(0.3, 0.6 / rows)
    reference = make_subplots(rows=rows, cols=1, vertical_spacing=spacing, subplot_titles=titles).layout
    ours = go.Figure(layout=stacked_layout(titles, spacing)).layout
    for index in range(rows):
        suffix = "" if index == 0 else str(index + 1)
        for axis in (f"xaxis{suffix}", f"yaxis{suffix}"):
            assert ours[axis].anchor == reference[axis].anchor
            assert ours[axis].domain == pytest.approx(reference[axis].domain)
    assert [(a.text, a.xanchor, a.yanchor, a.xref, a.yref, a.showarrow) for a in ours.annotations] == \
        [(a.text, a.xanchor, a.yanchor, a.xref, a.yref, a.showarrow) for a in reference.annotations]
    assert [(a.x, a.y) for a in ours.annotations] == [(pytest.approx(a.x), pytest.approx(a.y))
                                                     for a in reference.annotations]
