"""Turn exceptions into messages a user can act on; never a stack trace in the browser."""

from __future__ import annotations

import functools
import html
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from bertviz_ui.errors import BertvizError
from bertviz_ui.models.zerogpu import gpu_work

log = logging.getLogger("bertviz_ui")


def _shown(error: BaseException, action: str) -> BaseException:
    """The exception to raise in the browser's place: gr.Error with a safe message, or ``error`` itself."""
    if isinstance(error, gr.Error | KeyboardInterrupt | SystemExit | GeneratorExit):
        return error
    if isinstance(error, BertvizError):
        # Gradio renders toast messages as (sanitized) HTML; messages quote user input, so escape it.
        return gr.Error(html.escape(str(error), quote=False), print_exception=False)
    # tokenizers' PanicException derives from BaseException
    log.error("Unexpected error while %s", action, exc_info=error)
    return gr.Error(f"Something went wrong while {action}. The server logged the details; "
                    "try other input or another model.", print_exception=False)


def _reraise(error: BaseException, action: str) -> None:
    shown = _shown(error, action)
    if shown is error:
        raise error
    raise shown from None


def user_errors(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a handler: domain errors become gr.Error with their message, anything else a generic one.

    Generator handlers (streaming progress) are wrapped as generators, so errors raised while they stream are
    turned into messages too.

    Args:
        action: what the handler does, for the generic message ("tokenizing").
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def streaming(*args: Any, **kwargs: Any) -> Iterator[Any]:
                try:
                    yield from fn(*args, **kwargs)
                except BaseException as error:  # noqa: BLE001 - _reraise raises it again, or a gr.Error in its place
                    _reraise(error, action)

            return streaming

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - _reraise raises it again, or a gr.Error in its place
                _reraise(error, action)

        return wrapper

    return decorate


def model_work(action: str, duration: int = 60) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """user_errors for a handler that runs a model; on a ZeroGPU Space its work also gets a GPU (spaces.GPU) for at
    most ``duration`` seconds. Elsewhere it is user_errors alone."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        # Messages are made where the work runs (the GPU worker on ZeroGPU), from the handler itself, so a streaming
        # handler is recognised as one before anything wraps it.
        return gpu_work(duration)(user_errors(action)(fn))

    return decorate
