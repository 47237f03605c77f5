"""Figure layout shared by the renderers: titles clear of the gr.Plot label badge and short enough for a phone, and
point labels placed so that none overlaps another at any plot width."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

# Gradio draws a gr.Plot's label as a badge over the figure's top-left corner: 6 px down, 29 px tall.
BADGE_PX = 40
TITLE_SIZE = 15
TITLE_LINE_PX = 20
# plotly.js draws a title of two or more lines (<br>) about 11 px higher than its pad says (one line: as it says).
MULTILINE_RISE_PX = 11
# A title line that fits the narrowest plot we lay out for (a 360 px phone: the figure is about 300 px wide).
TITLE_CHARS = 40
SUBPLOT_TITLE_SIZE = 13
SUBPLOT_LINE_PX = 17
# The plot area's width at the narrowest and widest page we lay out for: a 360 px phone leaves a figure about 296 px
# wide, 220 px inside its margins and tick labels; a wide desktop about 1600 px.
NARROW_PX = 220
WIDE_PX = 1600


def text_px(text: str, size: float) -> float:
    """A generous estimate of the width of ``text`` in pixels at font ``size`` (plotly's sans-serif)."""
    wide = sum(unicodedata.east_asian_width(ch) in "WF" for ch in text)
    return (len(text) - wide) * 0.62 * size + wide * size + 4


def wrap(text: str, chars: int) -> list[str]:
    """``text`` broken at spaces into lines of at most ``chars`` characters (a longer word keeps a line of its own).
    Lines already broken with <br> stay broken."""
    lines: list[str] = []
    for part in text.split("<br>"):
        line = ""
        for word in part.split(" "):
            if line and len(line) + 1 + len(word) > chars:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return lines


def frame(figure: go.Figure) -> go.Figure:
    """Lay out ``figure``'s top for a gr.Plot: its title below the label badge, broken into lines that fit a phone;
    the subplot titles of the top row broken to fit their column; the top margin made to hold all of it (and a legend
    drawn above the plot), the figure's height grown by as much so the plot keeps its size.

    Args:
        figure: a finished figure (its layout's title, margin and height are read and replaced).

    Returns:
        The same figure.
    """
    layout = figure.layout
    top = BADGE_PX
    title = layout.title.text or ""
    # Set as properties, not with update_layout: its path parsing and change dispatch cost milliseconds a call,
    # a light tab's whole answer.
    changes: dict = {}
    if title:
        lines = wrap(title, TITLE_CHARS)
        changes["title"] = {"text": "<br>".join(lines), "x": 0, "xref": "container", "xanchor": "left",
                            "y": 1, "yref": "container", "yanchor": "top", "font": {"size": TITLE_SIZE},
                            "pad": {"t": BADGE_PX + (MULTILINE_RISE_PX if len(lines) > 1 else 0), "l": 8}}
        top += len(lines) * TITLE_LINE_PX + 6
    # Subplot titles (make_subplots puts them over each subplot, anchored at their bottom): broken to fit their column;
    # the top row's need room in the top margin.
    subplot_titles = [a for a in layout.annotations
                      if a.yref == "paper" and a.yanchor == "bottom" and a.showarrow is False and a.xref == "paper"]
    domains = _x_domains(figure) if subplot_titles else []
    top_lines = 0
    for annotation in subplot_titles:
        # As many characters as fit over its subplot on the narrowest plot.
        width = next((d[1] - d[0] for d in domains if abs((d[0] + d[1]) / 2 - (annotation.x or 0)) < 1e-3), 1.0)
        broken = wrap(annotation.text or "", max(8, int(width * NARROW_PX / (0.62 * SUBPLOT_TITLE_SIZE))))
        annotation.text = "<br>".join(broken)
        annotation.font.size = SUBPLOT_TITLE_SIZE
        if (annotation.y or 0) >= 0.999:
            top_lines = max(top_lines, len(broken))
    if top_lines:
        top += top_lines * SUBPLOT_LINE_PX + 6
    legend = layout.legend
    # plotly shows a legend when told to, or by default when two or more traces would be listed in it.
    listed = sum(trace.showlegend is not False for trace in figure.data)
    shown = layout.showlegend if layout.showlegend is not None else listed >= 2
    if shown and legend.orientation == "h" and (legend.y or 0) >= 1:
        top += 24
    old = layout.margin.t if layout.margin.t is not None else 100  # plotly's default
    if top > old:
        changes.update(height=(layout.height or 450) + top - old)
        layout.margin.t = top
    for name, value in changes.items():
        layout[name] = value
    return figure


def stacked_layout(titles: Sequence[str], spacing: float) -> dict:
    """The layout ``make_subplots(rows=len(titles), cols=1, subplot_titles=titles, vertical_spacing=spacing)`` makes:
    one column of plots, top first, each titled above (same domains, anchors and title annotations).

    Hand-written because make_subplots costs about 6 ms of one core per figure, more than the rest of a light tab's
    answer: a classroom's requests queue behind it. tests/unit/test_figures.py compares it with make_subplots.
    """
    count = len(titles)
    height = (1 - spacing * (count - 1)) / count
    layout: dict = {"annotations": []}
    for index, title in enumerate(titles):
        top = 1 - index * (height + spacing)
        suffix = "" if index == 0 else str(index + 1)
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "domain": [0.0, 1.0]}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [max(0.0, top - height), top]}
        layout["annotations"].append({"text": title, "x": 0.5, "xanchor": "center", "xref": "paper", "y": top,
                                      "yanchor": "bottom", "yref": "paper", "showarrow": False,
                                      "font": {"size": 16}})
    return layout


def _x_domains(figure: go.Figure) -> list[tuple[float, float]]:
    """The horizontal domain of every x axis of ``figure`` (its subplots' columns)."""
    # select_xaxes, not layout.to_plotly_json(): that deep-copies the whole template (most of a light answer's time).
    return [tuple(axis.domain) for axis in figure.select_xaxes() if axis.domain]


@dataclass(frozen=True)
class Placed:
    """Where a point's label goes: the annotation's anchors and its shift from the point in pixels."""

    index: int
    xanchor: str
    yanchor: str
    xshift: float
    yshift: float
    # The label box's centre relative to its point, in pixels (y down): where a leader line from the point ends.
    centre: tuple[float, float] = (0.0, 0.0)
    leader: bool = False


@dataclass(frozen=True)
class _Box:
    """A box on the plot area whose left edge sits at ``fraction`` of the plot's width plus ``offset`` pixels (the
    width varies with the page; the height is fixed, so ``top`` is in pixels)."""

    fraction: float
    offset: float
    width: float
    top: float
    height: float

    def clear_of(self, other: _Box, gap: float, widths: tuple[float, float]) -> bool:
        """Whether the two boxes stay apart at every plot width in ``widths``. Apart vertically, they always are;
        otherwise their horizontal distance is linear in the width, so they overlap on one interval of widths, which
        must miss ``widths``."""
        if self.top >= other.top + other.height + gap or other.top >= self.top + self.height + gap:
            return True
        slope = self.fraction - other.fraction
        offset = (self.offset + self.width / 2) - (other.offset + other.width / 2)
        reach = (self.width + other.width) / 2 + gap
        if slope == 0:
            return abs(offset) >= reach
        low, high = sorted(((-reach - offset) / slope, (reach - offset) / slope))
        return high <= widths[0] or low >= widths[1]

    def inside(self, plot_height: float, narrowest: float) -> bool:
        """Within the plot area at every width: the left edge moves right as the plot widens while the room to the
        right of the box grows, so the narrowest plot is the one to check."""
        left = self.fraction * narrowest + self.offset
        return self.top >= 0 and self.top + self.height <= plot_height and left >= 0 and left + self.width <= narrowest


# Candidate spots around a marker, nearest first: (xanchor, yanchor, xshift, yshift), yshift upwards as in plotly;
# each clears the marker (radius + 1 px + the 2 px gap) on its own side. From LEADER_PX out, a thin line joins the
# label to its point.
LEADER_PX = 24
_SPOTS = tuple(
    (xanchor, yanchor, dx * distance, dy * distance)
    for distance in (9, 16, LEADER_PX, 34)
    for xanchor, yanchor, dx, dy in (("left", "middle", 1, 0), ("center", "bottom", 0, 1), ("right", "middle", -1, 0),
                                     ("center", "top", 0, -1), ("left", "bottom", 0.9, 0.9),
                                     ("right", "bottom", -0.9, 0.9), ("left", "top", 0.9, -0.9),
                                     ("right", "top", -0.9, -0.9))
)
# More points than this get no labels (hovering names each): past it, few labels could be placed, slowly.
MAX_LABELS = 128


def place_labels(points: Sequence[tuple[float, float]], texts: Sequence[str], *, plot_height: float,
                 font_size: float = 11, marker_px: float = 10,
                 widths: tuple[float, float] = (NARROW_PX, WIDE_PX)) -> list[Placed]:
    """Spots for the labels of points given as fractions of the plot area (x from the left, y from the bottom), such
    that no label overlaps another label or a marker, or leaves the plot area, at any plot width in ``widths`` (the
    height is fixed). Labels are placed in order; one that fits nowhere is left out (hovering shows it).

    Args:
        points: (x, y) of each point, each in [0, 1] of the plot area.
        texts: the label of each point (as displayed).
        plot_height: the plot area's height in pixels.
        font_size: the labels' font size.
        marker_px: the markers' diameter.
        widths: the narrowest and widest plot area to guarantee, in pixels.

    Returns:
        The placed labels in point order; points missing from it get no label.
    """
    height, gap, radius = font_size * 1.35 + 2, 2.0, marker_px / 2 + 1
    taken = [_Box(x, -radius, 2 * radius, (1 - y) * plot_height - radius, 2 * radius) for x, y in points]

    def neighbours(i: int) -> int:
        return sum(abs(points[i][0] - x) < 0.08 and abs(points[i][1] - y) < 0.08 for x, y in points) - 1

    placed: list[Placed] = []
    # Crowded points first: an isolated point finds a spot later, a crowded one only while its neighbours' labels
    # have not taken them all.
    for index in sorted(range(len(points)), key=lambda i: -neighbours(i)):
        (x, y), width = points[index], text_px(texts[index], font_size)
        for xanchor, yanchor, xshift, yshift in _SPOTS:
            left = xshift - {"left": 0.0, "center": width / 2, "right": width}[xanchor]
            top = -yshift - {"top": 0.0, "middle": height / 2, "bottom": height}[yanchor]
            box = _Box(x, left, width, (1 - y) * plot_height + top, height)
            if box.inside(plot_height, widths[0]) and all(box.clear_of(other, gap, widths) for other in taken):
                taken.append(box)
                placed.append(Placed(index, xanchor, yanchor, xshift, yshift, centre=(left + width / 2,
                                     top + height / 2), leader=max(abs(xshift), abs(yshift)) >= LEADER_PX * 0.9))
                break
    return sorted(placed, key=lambda p: p.index)


def padded_range(values: Sequence[float], pad: float = 0.12) -> list[float]:
    """An axis range around ``values`` with ``pad`` of their spread on each side (room for labels)."""
    low, high = min(values), max(values)
    spread = high - low if high > low else max(1.0, abs(high))
    return [low - pad * spread, high + pad * spread]


def label_annotations(xs: Sequence[float], ys: Sequence[float], texts: Sequence[str], *, x_range: Sequence[float],
                      y_range: Sequence[float], plot_height: float, font_size: float = 11,
                      marker_px: float = 10) -> tuple[list[dict], int]:
    """Annotations labelling the points (xs, ys) on axes fixed to ``x_range`` and ``y_range`` without overlaps
    (see place_labels), and how many labels were left out.

    Args:
        xs, ys: the points in data coordinates.
        texts: their labels (plot_text-escaped).
        x_range, y_range: the axes' fixed ranges.
        plot_height: the plot area's height in pixels.
        font_size: the labels' font size.
        marker_px: the markers' diameter.

    Returns:
        (annotations for layout.annotations, count of labels left out).
    """
    if len(texts) > MAX_LABELS:
        return [], len(texts)
    x0, x1 = x_range
    y0, y1 = y_range
    points = [((x - x0) / (x1 - x0), (y - y0) / (y1 - y0)) for x, y in zip(xs, ys)]
    visible = [not (math.isnan(px) or math.isnan(py)) for px, py in points]
    placed = place_labels([p if ok else (0.5, 0.5) for p, ok in zip(points, visible)], texts,
                          plot_height=plot_height, font_size=font_size, marker_px=marker_px)
    annotations = []
    for p in placed:
        if not visible[p.index]:
            continue
        label = {"x": xs[p.index], "y": ys[p.index], "xref": "x", "yref": "y", "text": texts[p.index],
                 "font": {"size": font_size}}
        if p.leader:
            # With a line, plotly centres the text on the line's far end: (ax, ay) pixels from the point, y down.
            label |= {"showarrow": True, "arrowhead": 0, "arrowwidth": 0.7, "arrowcolor": "#999", "standoff": 6,
                      "axref": "pixel", "ayref": "pixel", "ax": p.centre[0], "ay": p.centre[1]}
        else:
            label |= {"showarrow": False, "xanchor": p.xanchor, "yanchor": p.yanchor, "xshift": p.xshift,
                      "yshift": p.yshift}
        annotations.append(label)
    return annotations, len(texts) - len(annotations)
