"""Pieces every tab lays out the same way, and the one way handlers hand their results to components."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import gradio as gr

# What a handler returns: values by output name; names it leaves out keep what they show.
Shown = Mapping[str, Any]


def raw_output(elem_id: str) -> gr.JSON:
    """The collapsed "Raw output (JSON)" view of a tab's result dataclass, as the API returns it."""
    with gr.Accordion("Raw output (JSON)", open=False):
        return gr.JSON(elem_id=elem_id)


class Outputs:
    """An event's output components by name: handlers return ``{name: value}`` (testable without components, no
    padded tuples), and Gradio gets ``{component: value}`` in the order given here (the API's output order).

    Example::

        out = Outputs(header=header, plot=plot, raw=raw)
        button.click(out.wrap(predict), [model, text], out.components, api_name="nsp")
    """

    def __init__(self, **components: gr.components.Component):
        self._by_name = components

    @property
    def components(self) -> list[gr.components.Component]:
        return list(self._by_name.values())

    def wrap(self, handler: Callable[..., Shown | Iterator[Shown]]) -> Callable[..., Any]:
        """``handler`` with its name-keyed results turned into component-keyed ones (streaming handlers too).
        The wrapper keeps the handler's signature: Gradio names the API's parameters after it."""
        if inspect.isgeneratorfunction(handler) or inspect.isgeneratorfunction(getattr(handler, "func", None)):
            @functools.wraps(handler)
            def streaming(*args: Any, **kwargs: Any) -> Iterator[dict]:
                for shown in handler(*args, **kwargs):
                    yield self._to_components(shown)

            return streaming

        @functools.wraps(handler)
        def once(*args: Any, **kwargs: Any) -> dict:
            return self._to_components(handler(*args, **kwargs))

        return once

    def _to_components(self, shown: Shown) -> dict:
        unknown = set(shown) - set(self._by_name)
        if unknown:  # a handler naming an output this event doesn't have is a bug, not a user error
            raise KeyError(f"No output named {', '.join(sorted(unknown))}; this event has {', '.join(self._by_name)}")
        return {self._by_name[name]: value for name, value in shown.items()}
