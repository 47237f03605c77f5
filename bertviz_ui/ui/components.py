"""Pieces every tab lays out the same way, and the one way handlers hand their results to components."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import gradio as gr

from bertviz_ui.models.lru import BoundedLRU
from bertviz_ui.render.html import error_panel_html

# What a handler returns: values by output name; names it leaves out keep what they show.
Shown = Mapping[str, Any]


def raw_output(elem_id: str, label: str = "Raw output (JSON)") -> gr.JSON:
    """The collapsed "Raw output (JSON)" view of a tab's result dataclass, as the API returns it."""
    with gr.Accordion(label, open=False):
        return gr.JSON(elem_id=elem_id)


class ErrorPanel:
    """Where a tab explains a failure: in the tab, where the results would be, until the tab's next run succeeds.

    Gradio's own toast fades after seconds and marks every output "Error"; the panel keeps the message (with what
    works instead) in view. Events keep raising gr.Error, so API clients still get an error; the message is noted
    per browser session when it is raised (``Outputs(..., errors=panel)``), and a follow-up event shows it.
    """

    def __init__(self, elem_id: str):
        self.html = gr.HTML("", visible=False, padding=False, elem_id=elem_id, elem_classes=["bv-error-panel"])
        self._messages: BoundedLRU[str, str] = BoundedLRU(max_entries=1024)

    def note(self, message: str) -> None:
        """Keep ``message`` (already escaped, as gr.Error carries it) for this session's follow-up event."""
        self._messages.put(_session(), message)

    def follow(self, event: Any, *, clears: bool = True) -> Any:
        """Show the noted message when ``event`` fails; hide the panel when it succeeds, unless ``clears`` is False
        (a side event, such as refreshing a word list when the tab opens, must not hide the failure of the run the
        user just asked for when it happens to finish after it). Returns ``event``."""
        event.failure(self._show, None, self.html, queue=False, api_visibility="private")
        if clears:
            event.success(lambda: gr.update(value="", visible=False), None, self.html, queue=False,
                          api_visibility="private")
        return event

    def _show(self) -> Any:
        message = self._messages.pop(_session())
        if message is None:  # nothing noted (an error Gradio raised itself): the toast said it
            return gr.update(value="", visible=False)
        return gr.update(value=error_panel_html(message), visible=True)


def _session() -> str:
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return str(getattr(request, "session_hash", None) or "")


def integer_api(*components: gr.components.Component) -> None:
    """Describe each of ``components`` to API clients as taking an integer (a list of them for a multiselect).

    Gradio describes a Number or Slider as a float (``precision=0`` would say integer, but rounds 2.5 to 2 where the
    task refuses it with a message) and a Dropdown by its current choices, as strings (the layer picker's '0'..'11'
    until a model has run). The handlers take whole numbers, as numbers or strings, and check them. An override on
    the instance, not a subclass: Gradio writes a .pyi stub beside any module that subclasses a component.
    """
    for component in components:
        if getattr(component, "multiselect", False):
            schema = {"type": "array", "items": {"type": "integer"}}
        else:
            schema = {key: value for key, value in component.api_info().items() if key != "enum"} | {"type": "integer"}
        component.api_info_as_input = functools.partial(dict, schema)


def result_table(label: str, elem_id: str, **options: Any) -> gr.Dataframe:
    """A read-only table of results. It shows nothing until its first result (no columns: assets/style.css hides it,
    instead of Gradio's placeholder header "1 2 3"), and its columns size to their content: text wraps at spaces,
    numbers and one-word headers stay whole, a table wider than its frame scrolls inside it (assets/style.css)."""
    return gr.Dataframe(headers=[], column_count=0, interactive=False, wrap=True, label=label, elem_id=elem_id,
                        elem_classes="bv-result-table", **options)


class Outputs:
    """An event's output components by name: handlers return ``{name: value}`` (testable without components, no
    padded tuples), and Gradio gets ``{component: value}`` in the order given here (the API's output order).

    Example::

        out = Outputs(header=header, plot=plot, raw=raw)
        button.click(out.wrap(predict), [model, text], out.components, api_name="nsp")
    """

    def __init__(self, *, errors: ErrorPanel | None = None, **components: gr.components.Component):
        self._by_name = components
        self._errors = errors

    @property
    def components(self) -> list[gr.components.Component]:
        return list(self._by_name.values())

    def wrap(self, handler: Callable[..., Shown | Iterator[Shown]]) -> Callable[..., Any]:
        """``handler`` with its name-keyed results turned into component-keyed ones (streaming handlers too).
        The wrapper keeps the handler's signature: Gradio names the API's parameters after it."""
        if inspect.isgeneratorfunction(handler) or inspect.isgeneratorfunction(getattr(handler, "func", None)):
            @functools.wraps(handler)
            def streaming(*args: Any, **kwargs: Any) -> Iterator[dict]:
                try:
                    for shown in handler(*args, **kwargs):
                        yield self._to_components(shown)
                except gr.Error as error:
                    raise self._noted(error) from None

            return streaming

        @functools.wraps(handler)
        def once(*args: Any, **kwargs: Any) -> dict:
            try:
                return self._to_components(handler(*args, **kwargs))
            except gr.Error as error:
                raise self._noted(error) from None

        return once

    def _noted(self, error: gr.Error) -> gr.Error:
        """With an error panel: the message noted for it, and the same error without a toast (the panel shows it;
        API clients get the message either way)."""
        if self._errors is None:
            return error
        self._errors.note(str(error.message))
        return gr.Error(error.message, duration=error.duration, visible=False, title=error.title,
                        print_exception=False)

    def _to_components(self, shown: Shown) -> dict:
        unknown = set(shown) - set(self._by_name)
        if unknown:  # a handler naming an output this event doesn't have is a bug, not a user error
            raise KeyError(f"No output named {', '.join(sorted(unknown))}; this event has {', '.join(self._by_name)}")
        return {self._by_name[name]: value for name, value in shown.items()}
