"""Model downloads in the browser: models/downloads.py's reports -> gr.Progress, stopped when nobody waits any more.

A handler wrapped by watch_downloads gets a gr.Progress from Gradio (through a parameter its signature shows) and
runs with a download reporter installed (models/downloads.reporting_to): if its model has to come from the Hub, the
tab's progress bar says what is fetched and its size, then bytes, rate and time left. When the request is cancelled
(an event's ``cancels=``, the API's cancel) or its page closes, the reporter raises DownloadCancelled at the next
chunk, and the download stops unless another request still waits for the same model.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr

from bertviz_ui.models.downloads import DownloadCancelled, DownloadProgress, reporting_to

PARAMETER = "download_progress"
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class BrowserProgress:
    """A download reporter for the Gradio event running in this thread, callable from any thread.

    Another request's thread may run the download this one waits for (the model cache loads each model once), so
    everything that identifies this event is captured here, at creation, in the event's own thread.
    """

    def __init__(self, progress: gr.Progress):
        self._progress = progress
        # gr.Progress finds its event through context variables; calls from another thread run in this one's context.
        self._context = contextvars.copy_context()
        self._lock = threading.Lock()  # a Context can't be entered by two threads at once
        self._wanted = event_still_wanted()

    def __call__(self, update: DownloadProgress) -> None:
        if not self._wanted():
            raise DownloadCancelled(f"The download of {update.repo} was cancelled: its request was cancelled or its "
                                    "page closed.")
        with self._lock:
            self._context.run(self._progress, update.fraction, desc=update.describe())


def event_still_wanted() -> Callable[[], bool]:
    """Whether the Gradio event running in this thread is still wanted, as a function to ask later from any thread.

    Gradio has no public way to ask; its queue removes a cancelled event (``cancels=``, the API's /cancel) from its
    running jobs and marks the events of a page that disconnected as not alive (pinned against the installed Gradio by
    tests/unit/test_progress.py). Outside a queued event, or if Gradio changes, the answer is always yes: a download
    is never stopped on a guess.
    """
    from gradio.context import LocalContext

    blocks = LocalContext.blocks.get(None)
    event_id = LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if event_id is None or _running_event(queue, event_id) is None:
        return lambda: True

    def wanted() -> bool:
        event = _running_event(queue, event_id)
        return event is not None and getattr(event, "alive", True) is not False

    return wanted


def _running_event(queue: Any, event_id: str) -> Any:
    for job in list(getattr(queue, "active_jobs", None) or ()):
        for event in list(job or ()):
            if getattr(event, "_id", None) == event_id:
                return event
    return None


def watch_downloads(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with its model downloads shown in the tab and stopped with its event (streaming handlers too).

    The wrapper's signature is ``fn``'s plus a positional ``download_progress=gr.Progress()`` parameter after the
    inputs, unless ``fn`` has a gr.Progress parameter of its own (then that one is used and passed on): Gradio hands
    a handler a gr.Progress only for a positional parameter whose default is one, found through the signature, which
    functools.wraps (Outputs.wrap, user_errors) carries outward.
    """
    signature = inspect.signature(fn)
    parameters = list(signature.parameters.values())
    own = any(isinstance(parameter.default, gr.Progress) for parameter in parameters)
    if not own:
        position = next((i for i, p in enumerate(parameters) if p.kind not in _POSITIONAL), len(parameters))
        parameters.insert(position, inspect.Parameter(PARAMETER, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                      default=gr.Progress()))

    def split(args: tuple, kwargs: dict) -> tuple[BrowserProgress | None, tuple, dict]:
        # Not `found or ...`: a gr.Progress has a length, 0 until it tracks an iterable, so it is falsy.
        found = next((value for value in (*args, *kwargs.values()) if isinstance(value, gr.Progress)), None)
        if not own:
            args = tuple(arg for arg in args if not isinstance(arg, gr.Progress))
            kwargs = {key: value for key, value in kwargs.items() if key != PARAMETER}
        return (BrowserProgress(found) if found is not None else None), args, kwargs

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def streaming(*args: Any, **kwargs: Any) -> Iterator[Any]:
            reporter, args, kwargs = split(args, kwargs)
            steps = fn(*args, **kwargs)
            try:
                while True:
                    # Gradio runs each step in a fresh copy of the event's context: install the reporter for each.
                    with reporting_to(reporter):
                        try:
                            shown = next(steps)
                        except StopIteration:
                            return
                    yield shown
            finally:
                steps.close()

        wrapper = streaming
    else:
        @functools.wraps(fn)
        def once(*args: Any, **kwargs: Any) -> Any:
            reporter, args, kwargs = split(args, kwargs)
            with reporting_to(reporter):
                return fn(*args, **kwargs)

        wrapper = once
    wrapper.__signature__ = signature.replace(parameters=parameters)
    return wrapper
