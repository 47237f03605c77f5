"""A view as one self-contained HTML document: our CSS and plotly.js inlined, figures as escaped JSON, nothing fetched."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from bertviz_ui.render.html import esc

STYLE = Path(__file__).resolve().parent.parent.parent / "assets" / "style.css"
# What a part's value may be: an escaped HTML fragment from a renderer, a plotly figure or a table.
PartValue = str | go.Figure | pd.DataFrame


@dataclass(frozen=True)
class Part:
    """One piece of the view, in the order shown: its name (an id in the document) and what it shows."""

    name: str
    label: str
    value: PartValue


@dataclass(frozen=True)
class ViewExport:
    """What an exported view carries besides its parts: which view, model, texts and settings, and its permalink."""

    title: str
    model: str
    texts: Mapping[str, str] = field(default_factory=dict)  # label -> text, shown whole
    settings: Mapping[str, Any] = field(default_factory=dict)  # label -> value
    permalink: str = ""
    created: str = ""
    version: str = ""


@functools.cache
def plotly_js() -> str:
    """plotly.js as plotly.py ships it (about 4.8 MB): inlined once per document that holds a figure."""
    from plotly.offline import get_plotlyjs

    script = get_plotlyjs()
    # The bundle goes inside a <script> element: it must not hold anything that closes one.
    if "</script" in script.lower() or "<!--" in script:
        raise ValueError("this plotly.js bundle can't be inlined in a <script> element")
    return script


def script_json(value: Any) -> str:
    """``value`` as JSON that can sit inside a <script> element: <, > and & as \\u escapes, so neither </script> nor
    <!-- in a text can end the element, and JSON.parse gives the same text back."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _table_html(table: pd.DataFrame) -> str:
    # Built here rather than by DataFrame.to_html, which leaves quotes unescaped.
    head = "".join(f"<th>{esc(column)}</th>" for column in table.columns)
    rows = "".join("<tr>" + "".join(f"<td>{esc('' if pd.isna(cell) else cell)}</td>" for cell in row) + "</tr>"
                   for row in table.itertuples(index=False))
    return f'<table class="bv-export-table"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _part_html(part: Part, number: int) -> str:
    name = f"part-{esc(part.name)}"
    label = f'<h2 class="bv-export-label">{esc(part.label)}</h2>' if part.label else ""
    if isinstance(part.value, go.Figure):
        data = script_json(part.value.to_json())
        return (f'<section class="bv-export-part" id="{name}">{label}'
                f'<div class="bv-export-plot" data-figure="fig-{number}" role="img" aria-label="{esc(part.label)}">'
                f'</div><script type="application/json" id="fig-{number}">{data}</script></section>')
    if isinstance(part.value, pd.DataFrame):
        return f'<section class="bv-export-part" id="{name}">{label}{_table_html(part.value)}</section>'
    # Our renderers' fragments, escaped where they were made (tests/unit/test_escaping.py holds each to that).
    return f'<section class="bv-export-part" id="{name}">{label}{part.value}</section>'


def _header_html(view: ViewExport) -> str:
    rows = [f"<tr><th>Model</th><td>{esc(view.model)}</td></tr>"]
    rows += [f'<tr><th>{esc(label)}</th><td><pre class="bv-export-text">{esc(text)}</pre></td></tr>'
             for label, text in view.texts.items()]
    rows += [f"<tr><th>{esc(label)}</th><td>{esc(_setting(value))}</td></tr>" for label, value in view.settings.items()]
    link = ""
    if view.permalink:
        href = view.permalink if view.permalink.startswith(("http://", "https://", "?")) else ""
        link = (f'<p class="bv-export-link">Open this view in the app: <a href="{esc(href)}">{esc(view.permalink)}</a>'
                "</p>") if href else ""
    made = " ".join(x for x in (f"Exported {esc(view.created)}" if view.created else "",
                                f"by bertviz_ui {esc(view.version)}" if view.version else "") if x)
    return (f'<header class="bv-export-header"><h1>{esc(view.title)}</h1>'
            f'<table class="bv-export-settings">{"".join(rows)}</table>{link}'
            f'<p class="bv-export-made">{made}. A standalone file: it opens offline, nothing is fetched.</p></header>')


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "(none)"
    return "" if value is None else str(value)


_EXPORT_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1100px;
  padding: 16px 20px 40px; color: #1f2937; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 8px; } h2.bv-export-label { font-size: 1.05em; margin: 22px 0 6px; color: #374151; }
.bv-export-header { border-bottom: 1px solid #e5e7eb; padding-bottom: 10px; }
.bv-export-settings th { text-align: left; padding: 2px 14px 2px 0; vertical-align: top; color: #4b5563; font-weight: 600;
  width: 14em; }
.bv-export-link { overflow-wrap: anywhere; }
.bv-export-text { margin: 0; white-space: pre-wrap; font-family: inherit; }
.bv-export-made { color: #4b5563; font-size: 0.85em; }
.bv-export-table { border-collapse: collapse; font-size: 0.9em; }
.bv-export-table th, .bv-export-table td { border-bottom: 1px solid #e5e7eb; padding: 3px 8px; text-align: left; }
.bv-export-plot { width: 100%; }
"""

# Each figure is drawn from its JSON (parsed, never evaluated) by the inlined plotly.js.
_DRAW = """
document.querySelectorAll(".bv-export-plot").forEach(function (div) {
  var figure = JSON.parse(document.getElementById(div.dataset.figure).textContent);
  Plotly.newPlot(div, figure.data, figure.layout || {}, {responsive: true, displaylogo: false});
});
"""


def standalone_html(view: ViewExport, parts: Sequence[Part], *, css: str | None = None) -> str:
    """One HTML document showing ``parts`` under a header naming the view's model, texts, settings and permalink.

    Args:
        view: what the view shows and how to open it again.
        parts: the view's pieces in order: escaped HTML fragments, plotly figures, tables.
        css: the app's stylesheet (default: assets/style.css).

    Returns:
        The document: no external script, style, font or image; plotly.js inlined once if a part is a figure.
    """
    style = (STYLE.read_text(encoding="utf-8") if css is None else css) + _EXPORT_CSS
    if "</" in style:  # our own stylesheet; nothing in it may close the <style> element
        raise ValueError("the stylesheet can't be inlined in a <style> element")
    body = "".join(_part_html(part, number) for number, part in enumerate(parts))
    figures = any(isinstance(part.value, go.Figure) for part in parts)
    scripts = f"<script>{plotly_js()}</script><script>{_DRAW}</script>" if figures else ""
    # No page may reach the network: the policy refuses anything not inline, as a second line behind the content.
    policy = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline' 'unsafe-eval'; "
              "img-src data: blob:; font-src data:")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(view.title)}: {esc(view.model)}</title><style>{style}</style></head>"
            f"<body>{_header_html(view)}<main>{body}</main>{scripts}</body></html>\n")
