"""ui/progress.py against the installed Gradio: every handler that may download a model shows Gradio a gr.Progress
parameter where Gradio puts it, and the question "is this event still wanted?" reads Gradio's queue as it is.
Progress messages through a running queue are in tests/integration/test_progress_api.py."""

from __future__ import annotations

import functools
import inspect

import gradio as gr
import pytest
from gradio.context import LocalContext
from gradio.helpers import special_args
from gradio.queueing import Event

from bertviz_ui.models import downloads
from bertviz_ui.models.downloads import DownloadProgress
from bertviz_ui.ui.app import build_demo
from bertviz_ui.ui.components import Outputs
from bertviz_ui.ui.errors import model_work
from bertviz_ui.ui.progress import PARAMETER, BrowserProgress, event_still_wanted, watch_downloads

# Every endpoint whose handler loads a model through the cache, so may download one.
MODEL_ENDPOINTS = {
    "tokenize", "fill_mask", "fill_mask_analysis", "masking_lab", "nsp", "nsp_paragraph", "sentiment",
    "sentiment_explain", "explanation_check", "ner", "ner_alignment", "zero_shot", "qa", "similarity", "attention", "attention_json",
    "parameters", "model_comparison", "model_latency", "finetune_preview", "finetune", "finetune_try",
}


def handler(state: dict, model: str, text: str) -> dict:
    state["reporter"] = downloads.reporter()
    return {"out": f"{model}: {text}"}


def test_a_wrapped_partial_shows_gradio_a_progress_after_its_inputs_and_does_not_receive_it():
    box = gr.Textbox(render=False)
    state: dict = {}
    wrapped = Outputs(out=box).wrap(model_work("testing")(functools.partial(handler, state)))
    parameters = inspect.signature(wrapped).parameters
    assert list(parameters) == ["model", "text", PARAMETER]
    assert isinstance(parameters[PARAMETER].default, gr.Progress)
    inputs, index, _event_data, _props = special_args(wrapped, ["m", "t"])
    assert index == 2 and inputs[:2] == ["m", "t"] and isinstance(inputs[2], gr.Progress)
    # Called as Gradio calls it: the handler never sees the progress, downloads inside it report to it.
    assert wrapped(*inputs) == {box: "m: t"}
    assert isinstance(state["reporter"], BrowserProgress)
    assert downloads.reporter() is None


def test_a_handler_with_a_progress_of_its_own_keeps_it():
    def train(session: str, model: str, progress: gr.Progress = gr.Progress()):  # noqa: B008 (gradio's marker)
        yield {"progress_seen": isinstance(progress, gr.Progress), "reporter": downloads.reporter()}

    wrapped = watch_downloads(train)
    assert inspect.isgeneratorfunction(wrapped)
    assert list(inspect.signature(wrapped).parameters) == ["session", "model", "progress"]
    [shown] = list(wrapped("s", "m", gr.Progress()))
    assert shown["progress_seen"] and isinstance(shown["reporter"], BrowserProgress)


def test_outside_a_queued_event_a_download_is_never_stopped_on_a_guess():
    report = BrowserProgress(gr.Progress())
    report(DownloadProgress("org/m", (("model.safetensors", 10),)))  # no event to show it on: nothing happens
    assert event_still_wanted()()


@pytest.fixture
def running_event():
    """An event in Gradio's own queue as a worker runs it, with the context variables Gradio sets for its handler."""
    with gr.Blocks() as demo:
        gr.Button().click(lambda: None, None, None, api_name="work")
    demo.queue()
    fn = next(fn for fn in demo.fns.values() if fn.api_name == "work")
    event = Event("session", fn, None, None)
    demo._queue.active_jobs = [[event]]  # a worker slot running it (the list is made when the queue starts)
    tokens = (LocalContext.blocks.set(demo), LocalContext.event_id.set(event._id))
    yield demo, event
    LocalContext.event_id.reset(tokens[1])
    LocalContext.blocks.reset(tokens[0])


def test_a_running_event_is_wanted_until_its_page_closes(running_event):
    _demo, event = running_event
    wanted = event_still_wanted()
    assert wanted()
    event.alive = False  # what Gradio does when the page's stream disconnects
    assert not wanted()


def test_a_running_event_is_not_wanted_once_cancelled_and_its_reporter_says_so(running_event):
    demo, _event = running_event
    wanted, report = event_still_wanted(), BrowserProgress(gr.Progress())
    report(DownloadProgress("org/m", (("model.safetensors", 10),)))
    demo._queue.active_jobs[0] = None  # what Gradio does when cancels= or /cancel ends the event's task
    assert not wanted()
    with pytest.raises(downloads.DownloadCancelled, match=r"^The download of org/m was cancelled: its request was "
                                                          r"cancelled or its page closed\.$"):
        report(DownloadProgress("org/m", (("model.safetensors", 10),), done_bytes=5))


def test_every_handler_that_may_download_a_model_gets_its_progress_where_gradio_puts_it(settings):
    demo = build_demo(settings)
    tracked = set()
    for fn in demo.fns.values():
        if fn.fn is None:
            continue
        inputs, index, _event_data, _props = special_args(fn.fn, [object() for _ in fn.inputs])
        if index is None:
            continue
        positional = [p for p in inspect.signature(fn.fn).parameters.values() if p.kind in (p.POSITIONAL_ONLY,
                                                                                           p.POSITIONAL_OR_KEYWORD)]
        # Gradio hands the progress at the parameter's own place: after the inputs (and a gr.Request, if any).
        assert isinstance(positional[index].default, gr.Progress) and len(inputs) == len(positional), fn.api_name
        tracked.add(fn.api_name)
    assert MODEL_ENDPOINTS <= tracked, MODEL_ENDPOINTS - tracked
