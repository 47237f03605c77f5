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
from bertviz_ui.ui.progress import watch_downloads

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
    most ``duration`` seconds. A model it has to download shows its progress in the tab (ui/progress.py)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        # Messages are made where the work runs (the GPU worker on ZeroGPU), from the handler itself, so a streaming
        # handler is recognised as one before anything wraps it. Progress is outermost: Gradio must see its parameter.
        return watch_downloads(gpu_work(duration)(user_errors(action)(fn)))

    return decorate


MALFORMED = ("This request's inputs don't fit this endpoint: see \"Use via API\" at the bottom of the page for the "
             "parameters it takes.")


def short_payload_errors() -> None:
    """Give Gradio's own errors (a malformed payload fails in Gradio before any handler runs) one short message.

    With show_error=False Gradio answers them with an empty error ({"error": null}); with True it sends texts that name
    Python objects. Handlers never reach this: user_errors turns all of theirs into gr.Error, which Gradio always shows
    as written. Gradio has no hook for it, so its error_payload is wrapped where the queue and the /run route call it
    (pinned by tests/unit/test_ui_errors.py against the installed Gradio). Idempotent.
    """
    import gradio.queueing
    import gradio.utils

    original = gradio.utils.error_payload
    if getattr(original, "bertviz_short", False):
        return

    def error_payload(error: BaseException | None, show_error: bool) -> dict:
        if show_error or error is None or isinstance(error, gr.Error):
            return original(error, show_error)
        log.info("Refused a malformed request: %s", _first_line(error))
        return {**original(gr.Error(MALFORMED), show_error), "title": "Error"}

    error_payload.bertviz_short = True
    gradio.utils.error_payload = error_payload
    gradio.queueing.error_payload = error_payload


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
