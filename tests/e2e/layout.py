"""Layout checks on the rendered page: table cells that break a number or a word, plot labels that overlap or are
cut off. Each returns readable problems (an empty list when the layout holds), measured in the browser."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

# A number as the tables show it: 1,011,360 / 0.1253 / -768 / 98.21% / 1.6x / 5.2e-05.
NUMBER = re.compile(r"^[-+−]?\d[\d.,]*(?:e[-+−]?\d+)?[%x]?$")

# Each header and body cell of a gr.Dataframe: its text, how many lines it renders on (the distinct tops of the
# text's line boxes, from Range.getClientRects) and whether the text runs past its cell (clipped by the cell).
_CELLS_JS = """(root) => {
  const out = [];
  for (const cell of root.querySelectorAll('[role=columnheader], [role=gridcell]')) {
    const span = cell.querySelector('span') || cell;
    const text = span.textContent.trim();
    if (!text) continue;
    const range = document.createRange();
    range.selectNodeContents(span);
    const tops = new Set();
    for (const rect of range.getClientRects()) if (rect.width > 0 && rect.height > 0) tops.add(Math.round(rect.top));
    const r = range.getBoundingClientRect(), c = cell.getBoundingClientRect();
    out.push({header: cell.getAttribute('role') === 'columnheader', text, lines: tops.size,
              clipped: r.right > c.right + 1 || r.left < c.left - 1});
  }
  return out;
}"""

# Every label of one gr.Plot as boxes: Gradio's label badge over the figure, the title, annotations (subplot titles
# and point labels included), axis titles, tick labels, the legend, text on points and bars. Problems: two boxes that
# intersect (tick labels among themselves excepted: plotly lays those out), a title or annotation cut off by the
# figure's edge, and any text drawn inside a range slider (a squashed copy of the plot's labels).
_PLOT_JS = """(block) => {
  const items = [];
  const add = (kind, el, text) => {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) items.push({kind, text: (text ?? el.textContent).trim().slice(0, 40), r});
  };
  const badge = block.querySelector('[data-testid=block-label]');
  if (badge) add('badge', badge);
  const plot = block.querySelector('.js-plotly-plot');
  if (!plot || !plot.querySelector('.main-svg')) return ['no figure drawn'];
  const main = plot.querySelector('.main-svg').getBoundingClientRect();
  const slider = (el) => el.closest('.rangeslider-container');
  plot.querySelectorAll('.g-gtitle .gtitle').forEach(e => add('title', e));
  plot.querySelectorAll('g.annotation .annotation-text').forEach(e => add('annotation', e));
  plot.querySelectorAll('[class*="title"]:not(.gtitle) > text, text[class*="title"]:not(.gtitle)').forEach(e => {
    if (!e.closest('.annotation, .legend, .colorbar, .g-gtitle')) add('axis title', e);
  });
  plot.querySelectorAll('[class*="tick"] > text').forEach(e => { if (!slider(e)) add('tick', e); });
  plot.querySelectorAll('.legend').forEach(e => add('legend', e.querySelector('.bg') || e, 'legend'));
  plot.querySelectorAll('.textpoint text, text.bartext').forEach(e => { if (!slider(e)) add('point label', e); });
  const out = [];
  for (const a of items) {
    if (a.kind === 'tick' || a.kind === 'point label' || a.kind === 'badge') continue;
    if (a.r.left < main.left - 1 || a.r.right > main.right + 1 || a.r.top < main.top - 1
        || a.r.bottom > main.bottom + 1) out.push(`${a.kind} "${a.text}" is cut off by the figure's edge`);
  }
  const hit = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  for (let i = 0; i < items.length; i++) for (let j = i + 1; j < items.length; j++) {
    const a = items[i], b = items[j];
    if (a.kind === 'tick' && b.kind === 'tick') continue;
    if (hit(a.r, b.r)) out.push(`${a.kind} "${a.text}" overlaps ${b.kind} "${b.text}"`);
  }
  const rangeslider = plot.querySelector('.rangeslider-container');
  if (rangeslider && rangeslider.querySelector('text')) out.push('text drawn inside the range slider');
  return [...new Set(out)];
}"""


def table_problems(table: Locator) -> list[str]:
    """Cells of the gr.Dataframe ``table`` that break a number or a one-word header over lines, or whose text runs
    past its cell. (A value longer than a column may be, such as a long model id, wraps like text.)"""
    problems = []
    for cell in table.evaluate(_CELLS_JS):
        whole = NUMBER.match(cell["text"]) or (cell["header"] and not re.search(r"\s", cell["text"]))
        kind = "header" if cell["header"] else "cell"
        if whole and cell["lines"] > 1:
            problems.append(f"{kind} {cell['text']!r} breaks over {cell['lines']} lines")
        if cell["clipped"]:
            problems.append(f"{kind} {cell['text']!r} runs past its cell")
    return problems


def plot_problems(plot: Locator) -> list[str]:
    """Overlapping or cut-off labels in the gr.Plot ``plot`` (its block: the label badge is part of it)."""
    return plot.evaluate(_PLOT_JS)


def plots_settle_without_overlaps(page: Page, elem_ids: list[str], timeout_ms: float = 15_000) -> list[str]:
    """Wait (up to a deadline, no sleeping) until the plots with ``elem_ids`` are drawn and none has a layout
    problem; return the problems still there at the deadline, by plot."""
    script = f"ids => ids.every(id => ({_PLOT_JS})(document.getElementById(id)).length === 0)"
    try:
        page.wait_for_function(script, arg=elem_ids, timeout=timeout_ms)
    except PlaywrightTimeout:  # the deadline passed: report what is still wrong
        pass
    return [f"#{elem_id}: {problem}" for elem_id in elem_ids
            for problem in plot_problems(page.locator(f"#{elem_id}"))]
