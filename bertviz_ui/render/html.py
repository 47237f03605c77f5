"""HTML helpers shared by the renderers; everything a user or a model controls goes through esc()."""

from __future__ import annotations

import html
from collections.abc import Iterable


def esc(value: object) -> str:
    """Escape any value for HTML text and attribute context (quotes included)."""
    return html.escape(str(value), quote=True)


def notes_html(notes: Iterable[str], *, kind: str = "info") -> str:
    """A list of notes (escaped) in a callout box; empty string when there are none."""
    items = "".join(f"<li>{esc(note)}</li>" for note in notes)
    if not items:
        return ""
    return f'<div class="bv-notes bv-notes-{esc(kind)}" role="status"><ul>{items}</ul></div>'


def model_badge_html(label: str, *, untrained: bool) -> str:
    """Which model produced a result, with a plain warning when its weights are untrained."""
    warning = ""
    if untrained:
        warning = ('<span class="bv-untrained">untrained random weights: outputs are meaningless, '
                   "shapes and mechanics are real</span>")
    return f'<div class="bv-model-badge" data-testid="model-badge"><b>Model</b> {esc(label)} {warning}</div>'


def percent(score: float) -> str:
    """A probability for display: 42.0% normally, scientific notation when it would round to 0.0%."""
    return f"{score:.1%}" if score >= 0.0005 else f"{score:.1e}"


def plot_text(value: object) -> str:
    """Text for a plotly label or title: plotly.js reads it as pseudo-HTML and decodes &lt; &gt; &amp; but not
    &quot;, so only those three are escaped; the label then shows exactly as typed."""
    return html.escape(str(value), quote=False)


def tiny_banner_html() -> str:
    """The banner over every tab in tiny mode: the weights are random, the mechanics real."""
    return ('<div class="bv-tiny-banner" role="note"><b>Tiny mode.</b> Every model here has tiny <b>random, untrained'
            "</b> weights built on this machine: predictions are meaningless, while tokenization, shapes and mechanics "
            "are real. Run without <code>--tiny</code> for real models.</div>")


def error_panel_html(message: str) -> str:
    """A failure explained where the results would be.

    ``message`` usually arrives escaped (gr.Error carries ui/errors.py's escaped text), but the panel does not rely on
    it: the message is unescaped once and escaped again, so a raw message is made safe and an escaped one is not
    escaped twice.
    """
    shown = esc(html.unescape(str(message)))
    return (f'<div class="bv-error" role="alert" data-testid="error-panel"><b>This didn\'t run.</b> {shown}'
            "<br><small>Change the input or the model and run again; this note stays until a run succeeds.</small>"
            "</div>")
