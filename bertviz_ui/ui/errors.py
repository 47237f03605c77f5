"""Turn exceptions into messages a user can act on; never a stack trace in the browser."""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from bertviz_ui.errors import BertvizError
from bertviz_ui.models.zerogpu import gpu_work

log = logging.getLogger("bertviz_ui")


def user_errors(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a handler: domain errors become gr.Error with their message, anything else a generic one.

    Args:
        action: what the handler does, for the generic message ("tokenizing").
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except gr.Error:
                raise
            except BertvizError as error:
                # Gradio renders toast messages as (sanitized) HTML; messages quote user input, so escape it.
                raise gr.Error(html.escape(str(error), quote=False), print_exception=False) from None
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # tokenizers' PanicException derives from BaseException
                log.exception("Unexpected error while %s", action)
                raise gr.Error(f"Something went wrong while {action}. The server logged the details; "
                               "try other input or another model.", print_exception=False) from None

        return wrapper

    return decorate


def model_work(action: str, duration: int = 60) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """user_errors for a handler that runs a model; on a ZeroGPU Space its work also gets a GPU (spaces.GPU) for at
    most ``duration`` seconds. Elsewhere it is user_errors alone."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        return user_errors(action)(gpu_work(duration)(fn))

    return decorate
