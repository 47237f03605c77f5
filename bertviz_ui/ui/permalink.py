"""Permalinks in the page: each tab's settings written to the URL as the user works, "Copy link", and a link opened
restores its tab's settings (checked like typed input) and runs it.

The URL is written by the browser itself (a JavaScript-only event, no request): each tab declares which components
are its settings (``Link``), and the script that writes them is generated from that declaration. Opening a link is
read on the server, in the page-load event that also shows the examples (bertviz_ui.permalink does the checking).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from bertviz_ui import permalink
from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models.sources import resolve
from bertviz_ui.registry import TASKS
from bertviz_ui.render.html import notes_html
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.limits import MAX_URL_BYTES
from bertviz_ui.ui.prefill import Prefill

# Settings that name a model: checked against the server's model policy before a link may run them.
MODEL_SETTINGS = frozenset({"model", "compare_with"})
_CUSTOM_INTEGER = (-1, 100_000)  # pickers whose choices follow the model (layer, token): the run checks the range


def _field(name: str, component: gr.components.Component) -> permalink.Field:
    """The query parameter for ``component``, read from its type and its own bounds and choices."""
    label = str(component.label or name)
    if name in MODEL_SETTINGS:
        return permalink.model(name, label)
    if isinstance(component, gr.Textbox):
        return permalink.text(name, label)
    if isinstance(component, gr.Checkbox):
        return permalink.flag(name, label)
    if isinstance(component, (gr.Slider, gr.Number)):
        low = -math.inf if component.minimum is None else component.minimum
        high = math.inf if component.maximum is None else component.maximum
        step = getattr(component, "step", 1)
        whole = isinstance(component.value, int) and float(step).is_integer()
        return permalink.number(name, label, low=low, high=high, whole=whole)
    values = [value for _label, value in getattr(component, "choices", [])]
    if isinstance(component, gr.Dropdown) and component.multiselect:
        return permalink.integers(name, label)
    if getattr(component, "allow_custom_value", False):
        low, high = _CUSTOM_INTEGER
        return permalink.number(name, label, low=low, high=high, whole=True)
    if isinstance(component, (gr.Radio, gr.Dropdown)):
        return permalink.choice(name, label, values)
    raise TypeError(f"No permalink setting for a {type(component).__name__} ({name})")


class Link:
    """A tab's settings as a link: the components (by parameter name, in the URL's order) and the button a link
    presses once its settings are restored (None: the view is too heavy to start from a link, e.g. training)."""

    def __init__(self, tab: str, *, run: gr.Button | None = None, **components: gr.components.Component):
        self.tab = tab
        self.run = run
        self.components = components
        self.fields = tuple(_field(name, component) for name, component in components.items())

    def query(self, values: Mapping[str, Any]) -> str:
        """The link's query string (no "?") for these settings by name (a server-side copy of what the page
        writes: exports carry it)."""
        return permalink.query(self.tab, self.fields, values)

    def write_js(self) -> str:
        """The browser function that writes this tab's settings, given as its arguments, to the page's URL."""
        return _WRITE_JS.replace("__TAB__", json.dumps(self.tab)).replace(
            "__NAMES__", json.dumps([f.name for f in self.fields]))

    def follow(self, tab: gr.Tab) -> None:
        """Keep the URL on this tab's settings: when the tab opens, a setting changes, or the view is run."""
        inputs = list(self.components.values())
        script = self.write_js()
        triggers = [tab.select]
        for component in inputs:
            triggers.append(component.input)
            # Text pasted or filled without a keystroke fires no input event in Gradio 6; leaving the box does.
            if isinstance(component, (gr.Textbox, gr.Number)):
                triggers.append(component.blur)
            elif isinstance(component, gr.Slider):
                triggers.append(component.release)
        if self.run is not None:
            triggers.append(self.run.click)
        # One event for all its triggers: the page's config carries each event (and its script) once.
        gr.on(triggers, None, inputs, None, js=script, queue=False, api_visibility="private")


@dataclass(frozen=True)
class Opening:
    """What a tab's build returns: the examples it opens with and its link (None: nothing to restore but the tab)."""

    examples: Prefill | None
    link: Link | None = None


# Gradio's own query parameters survive; blank settings are left out (the link restores them blank). Nothing is
# written before the page-load event has read the link the page was opened with (Gradio selects the first tab, and
# sends the page's query string with each request, before that event).
_WRITE_JS = """(...values) => {
  if (!window.bvLinkRead) return;
  const names = __NAMES__;
  const old = new URLSearchParams(window.location.search);
  const params = new URLSearchParams();
  for (const kept of ["__theme", "view"]) { if (old.has(kept)) params.set(kept, old.get(kept)); }
  params.set("tab", __TAB__);
  names.forEach((name, i) => {
    let value = values[i];
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) value = value.join(",");
    else if (typeof value === "boolean") value = value ? "true" : "false";
    else value = String(value);
    if (value.trim()) params.set(name, value);
  });
  window.history.replaceState(window.history.state, "", "?" + params.toString());
}"""

# Copy the page's URL (kept current by the scripts above) and show it; the clipboard may be refused (plain http on
# another host), the box still shows it to copy by hand.
_COPY_JS = """() => {
  const url = window.location.href;
  if (url.length > __MAX__) {
    return "This view's text is too long for a link (" + Math.ceil(url.length / 1024) + " KB; this server opens "
      + "links of up to __MAX_KB__ KB): shorten the text to share it as a link.";
  }
  if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {});
  return url;
}""".replace("__MAX_KB__", str(MAX_URL_BYTES // 1024)).replace("__MAX__", str(MAX_URL_BYTES))

# Press the restored tab's button once it is on the page (a tab's contents mount when it is first shown).
_PRESS_JS = """(id) => {
  window.bvLinkRead = true;
  if (!id) return;
  const deadline = Date.now() + 30000;
  const press = () => {
    const button = document.getElementById(id);
    if (button && button.offsetParent !== null) { button.click(); return; }
    if (Date.now() < deadline) window.setTimeout(press, 50);
  };
  press();
}"""


@dataclass(frozen=True)
class LinkBar:
    """The page's "Copy link" button, the box showing the link, the notes about a link opened, and the hidden box
    holding the button a link presses."""

    copy: gr.Button
    box: gr.Textbox
    notes: gr.HTML
    press: gr.Textbox


def link_bar() -> LinkBar:
    """Lay out the link bar in the current gr.Blocks context (under the page's title)."""
    with gr.Row(elem_id="bv-link-bar"):
        copy = gr.Button("Copy link to this view", size="sm", scale=0, min_width=200, elem_id="bv-copy-link")
        box = gr.Textbox(label="Link to this view", interactive=False, show_label=False, container=False, scale=4,
                         placeholder="A link to the tab and settings you see: press Copy link",
                         elem_id="bv-link")
    notes = gr.HTML(padding=False, elem_id="bv-link-notes")
    press = gr.Textbox(visible=False, elem_id="bv-link-press")
    copy.click(None, None, [box], js=_COPY_JS, queue=False, api_visibility="private")
    return LinkBar(copy, box, notes, press)


def _model_notes(ctx: AppContext, tab: str, values: dict[str, Any]) -> tuple[list[str], bool]:
    """Check a link's models like typed ones: refused ones are dropped with a note; one that is not among the tab's
    own models (local mode) is kept but not run by itself, so a link can't start a download or a local load
    unasked. Returns the notes and whether the view may run."""
    task = next((t for t in TASKS if t.id == tab), None)
    if task is None:
        return [], True
    offered = set(ctx.model_choices(task)) | {""}
    notes: list[str] = []
    runs = True
    for name in MODEL_SETTINGS & set(values):
        ref = values[name]
        if ref in offered:
            continue
        if ctx.settings.public:
            try:
                resolve(ref, ctx.cache.cache_dir, ctx.cache.policy)
                continue
            except (BadInput, ModelUnavailable) as error:
                notes.append(f"{error} (from the link; ignored)")
                del values[name]
                continue
        notes.append(f"This link names a model this tab doesn't offer ({ref[:80]}): it is in the box; press the "
                     "tab's button to load it.")
        runs = False
    return notes, runs


def restore_on_load(demo: gr.Blocks, ctx: AppContext, tabs: gr.Tabs, bar: LinkBar,
                    openings: Sequence[Opening]) -> None:
    """Register the page-load event (not in the API, not queued): every tab's examples, then, for a link, its tab
    selected, its settings restored (a setting the link leaves out is blank or the tab's default) and its button
    pressed."""
    examples: dict[gr.components.Component, Any] = {}
    links: dict[str, Link] = {}
    for opening in openings:
        examples.update(opening.examples or {})
        if opening.link is not None:
            links[opening.link.tab] = opening.link
    titles = {tab.id: tab.title for tab in TASKS} | {"models": "Models"}
    known = {tab: (titles.get(tab, tab), link.fields) for tab, link in links.items()}
    settings = [component for link in links.values() for component in link.components.values()]
    outputs = list(dict.fromkeys([*examples, *settings, tabs, bar.notes, bar.press]))

    def opened(request: gr.Request) -> dict[gr.components.Component, Any]:
        shown: dict[gr.components.Component, Any] = dict(examples)
        restored = permalink.read(request.query_params.multi_items(), known)
        if restored.tab is None:
            return shown | {bar.notes: notes_html(restored.notes), bar.press: ""}
        link = links[restored.tab]
        values = dict(restored.values)
        model_notes, runs = _model_notes(ctx, restored.tab, values)
        for name, component in link.components.items():
            shown[component] = values.get(name, _neutral(component))
        press = link.run.elem_id if runs and link.run is not None else ""
        notes = (*restored.notes, *model_notes)
        return shown | {tabs: gr.Tabs(selected=restored.tab), bar.notes: notes_html(notes), bar.press: press}

    demo.load(opened, None, outputs, api_visibility="private", queue=False, show_progress="hidden").then(
        None, [bar.press], None, js=_PRESS_JS, queue=False, api_visibility="private")


def _neutral(component: gr.components.Component) -> Any:
    """What a component holds before the page's examples arrive: its API default (blank text, default model)."""
    return component.value
