"""Download this view (HTML): the view's own handler run again on the same inputs, its results in one standalone file."""

from __future__ import annotations

import datetime
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from bertviz_ui import __version__
from bertviz_ui.render.export import Part, ViewExport, standalone_html
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown
from bertviz_ui.ui.errors import model_work
from bertviz_ui.ui.permalink import Link

LABEL = "Download this view (HTML)"
# Once the file is in the gr.File, save it: one click on the button downloads the file (the link stays to click again).
SAVE_JS = """(id) => {
  const deadline = Date.now() + 10000;
  const save = () => {
    const link = document.querySelector(`#${id} a[download]`);
    if (link) { link.click(); return; }
    if (Date.now() < deadline) window.setTimeout(save, 50);
  };
  save();
}"""


def shown_parts(shown: Shown, parts: Sequence[tuple[str, str]]) -> list[Part]:
    """The view's results as parts, in ``parts``' order (output name, label); hidden or empty outputs left out."""
    found = []
    for name, label in parts:
        value = shown.get(name)
        if isinstance(value, dict) and value.get("__type__") == "update":
            if value.get("visible") is False:
                continue
            value = value.get("value")
        if isinstance(value, (go.Figure, pd.DataFrame)) or (isinstance(value, str) and value.strip()):
            if isinstance(value, pd.DataFrame) and value.columns.empty:
                continue
            found.append(Part(name, label, value))
    return found


def permalink(link: Link | None, values: Mapping[str, Any]) -> str:
    """The view's link (absolute when the request's address is known), from its settings by link name."""
    if link is None:
        return ""
    query = "?" + link.query(values)
    from gradio.context import LocalContext
    from gradio.route_utils import get_root_url

    request = LocalContext.request.get(None)
    try:
        # Behind a proxy Gradio reads X-Forwarded-Host/Proto, as it does for its own file URLs.
        # The event's own route (/gradio_api/queue/join) is cut off the URL, leaving the app's root.
        root = (get_root_url(request=request.request, route_path=request.request.url.path, root_path=None)
                if request is not None and request.request is not None else "")
    except Exception:  # noqa: BLE001 - a link without the host still restores the view on the page it is opened on
        root = ""
    return f"{root.rstrip('/')}/{query}" if root.startswith(("http://", "https://")) else query


def write_export(ctx: Any, view: ViewExport, shown: Shown, parts: Sequence[tuple[str, str]], stem: str) -> str:
    """The document for ``shown``, written to the app's export folder; returns its path (for a gr.File)."""
    dated = ViewExport(title=view.title, model=view.model, texts=view.texts, settings=view.settings,
                       permalink=view.permalink, version=__version__,
                       created=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return str(ctx.exports.write(stem, standalone_html(dated, shown_parts(shown, parts))))


def export_id(view: str) -> str:
    """The elem_id of a view's export file (its button's: ``-run`` added)."""
    return f"{view.replace('_', '-')}-export"


def export_control(elem_id: str) -> tuple[gr.Button, gr.File]:
    """The button and the file it fills (hidden until the first export), laid out in the current context."""
    button = gr.Button(LABEL, size="sm", elem_id=f"{elem_id}-run", elem_classes=["bv-export-button"])
    file = gr.File(label="Standalone HTML (opens offline)", interactive=False, visible=False, elem_id=elem_id)
    return button, file


def saved(event: Any, file: gr.File) -> None:
    """After ``event`` fills ``file``, the browser saves it."""
    script = f"() => ({SAVE_JS})({json.dumps(file.elem_id)})"
    event.success(None, None, None, js=script, queue=False, api_visibility="private")


def export_view(ctx: Any, *, view: str, title: str, handler: Callable[..., Shown],
                inputs: Mapping[str, gr.components.Component], parts: Sequence[tuple[str, str]],
                link: Link | None = None, concurrency_id: str, concurrency_limit: int | None = 1,
                panel: ErrorPanel | None = None, control: tuple[gr.Button, gr.File] | None = None) -> gr.Button:
    """Lay out "Download this view (HTML)" for a view and connect it: ``handler`` (the view's own, unwrapped, taking
    ``inputs`` in order) runs again with the same validation, budget and concurrency group as the view's button, and
    the parts it returns go into one standalone file with the view's model, texts, settings and permalink.

    Args:
        view: the view's id (the file's name).
        title: the document's heading.
        handler: the view's handler, ``(*values) -> {output name: value}``.
        inputs: its parameters by name, in order ("model" names the model); a link's other settings are added.
        parts: (output name, label) of what the document shows, in order.
        link: the tab's permalink (its settings are read from ``inputs`` and the link's own components).
        control: the button and file, laid out earlier by export_control (default: laid out here).
    """
    button, file = control or export_control(export_id(view))
    names = list(inputs)
    extra = {name: c for name, c in (link.components.items() if link else ()) if all(c is not i for i in inputs.values())}
    components = [*inputs.values(), *extra.values()]

    def export(*values: Any) -> Shown:
        by_name = dict(zip(names, values[:len(names)], strict=True))
        shown = handler(*values[:len(names)])
        if link is not None:
            settings = {name: values[components.index(component)] for name, component in link.components.items()}
        else:
            settings = {}
        texts, others = {}, {}
        for name, component in zip([*names, *extra], components, strict=True):
            if name == "model":
                continue
            value = values[components.index(component)]
            label = str(getattr(component, "label", None) or name)
            if isinstance(component, gr.Textbox):
                if value:
                    texts[label] = str(value)
            else:
                others[label] = value
        described = ViewExport(title=title, model=str(by_name.get("model", "")), texts=texts, settings=others,
                               permalink=permalink(link, settings))
        return {"file": gr.update(value=write_export(ctx, described, shown, parts, view), visible=True)}

    parameters = [inspect.Parameter(f"input_{i}", inspect.Parameter.POSITIONAL_OR_KEYWORD)
                  for i in range(len(components))]
    export.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined] - Gradio reads the inputs here
    out = Outputs(file=file, errors=panel)
    event = button.click(out.wrap(model_work(f"exporting the {title} view")(export)), components, out.components,
                         api_visibility="private", concurrency_id=concurrency_id, concurrency_limit=concurrency_limit)
    if panel is not None:
        panel.follow(event, clears=False)
    saved(event, file)
    return button
