"""Download progress through Gradio's queue, against the installed Gradio: handlers wrapped as the tabs wrap theirs
(Outputs.wrap(model_work(functools.partial(...)))) get a gr.Progress, their downloads' reports arrive as progress
messages, another request waiting for the same model sees them too, and a cancelled or closed request stops the
download. The download is a stand-in driven step by step; the real one is in tests/security/test_hub_app.py."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator

import gradio as gr
import pytest
import torch

from bertviz_ui.models import downloads
from bertviz_ui.models.cache import ModelCache
from bertviz_ui.models.downloads import DownloadCancelled, DownloadProgress
from bertviz_ui.models.loading import LoadedModel, ThreadSafeTokenizer
from bertviz_ui.registry import Head
from bertviz_ui.ui.components import Outputs
from bertviz_ui.ui.errors import model_work
from tests import queue_stream
from tests.conftest import free_port

pytestmark = pytest.mark.integration

DEADLINE_S = 30
FILES = (("model.safetensors", 4_000_000), ("tokenizer.json", 500_000))


class SteppedDownload:
    """A model loader that "downloads" in steps: it reports to whatever the cache installed, then waits for the test
    to release the next step (or, once ``free_run`` is set, goes on by itself)."""

    def __init__(self, steps: int = 3):
        self.steps = steps
        self.step = threading.Semaphore(0)
        self.free_run = threading.Event()
        self.stopped = threading.Event()
        self.calls = 0
        self.error: BaseException | None = None

    def __call__(self, source, head, device, dtype, online) -> LoadedModel:
        self.calls += 1
        report = downloads.reporter()
        try:
            for step in range(self.steps + 1):
                report(DownloadProgress(source.ref, FILES, step * 1_500_000 if step else 0, "model.safetensors",
                                        elapsed_s=float(step)))
                # Waits after the last report too: Gradio drops a report still pending when the event completes.
                while not self.step.acquire(timeout=0.05):
                    if self.free_run.is_set():
                        break
            return LoadedModel(source=source, head=head, model=None, tokenizer=ThreadSafeTokenizer(object()),
                               device=device, dtype=None, size_bytes=0, load_seconds=0.0)
        except BaseException as error:
            self.error = error
            raise
        finally:
            self.stopped.set()


class App:
    def __init__(self, url: str, cache: ModelCache, loader: SteppedDownload, fn_index: int):
        self.url, self.cache, self.loader, self.fn_index = url, cache, loader, fn_index

    def call(self, model: str, **options) -> queue_stream.Call:
        return queue_stream.call(self.url, self.fn_index, [model], timeout_s=DEADLINE_S, **options)


def run_load(cache: ModelCache, model: str) -> dict:
    return {"out": cache.load(model, Head.MASKED_LM).source.ref}


@pytest.fixture
def app(tmp_path) -> Iterator[App]:
    loader = SteppedDownload()
    cache = ModelCache(device="cpu", dtype=torch.float32, budget_bytes=1 << 30, cache_dir=tmp_path, loader=loader)
    with gr.Blocks() as demo:
        model, box = gr.Textbox(), gr.Textbox()
        out = Outputs(out=box)
        handler = out.wrap(model_work("loading")(functools.partial(run_load, cache)))
        gr.Button().click(handler, [model], out.components, api_name="load", concurrency_limit=4)
    demo.queue()
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_port=port, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        yield App(url, cache, loader, queue_stream.fn_indexes(url)["load"])
    finally:
        loader.free_run.set()
        demo.close()


def step_on_each_report(app: App):
    """A leave_when that never leaves: each progress message that arrives releases the download's next step."""
    seen = [0]

    def on_message(running: queue_stream.Call) -> bool:
        if len(running.progress) > seen[0]:
            seen[0] = len(running.progress)
            app.loader.step.release()
        return False

    return on_message


def test_the_handler_gets_a_progress_parameter_and_every_report_reaches_the_page(app):
    result = app.call("org/model", leave_when=step_on_each_report(app))
    assert result.output == ["org/model"]
    assert result.progress == [
        ("Downloading org/model from the Hub: 2 files, 4.5 MB (model.safetensors: 4.0 MB)", 0.0),
        ("Downloading org/model: 1.5 MB of 4.5 MB at 1.5 MB/s, about 2 s left (model.safetensors)", 1 / 3),
        ("Downloading org/model: 3.0 MB of 4.5 MB at 1.5 MB/s, about 1 s left (model.safetensors)", 2 / 3),
        ("Downloading org/model: 4.5 MB of 4.5 MB at 1.5 MB/s (model.safetensors)", 1.0),
    ]


def test_a_request_waiting_for_the_same_model_sees_its_download_and_keeps_it_going_when_the_first_page_closes(app):
    under_way = threading.Event()

    def leave_once_under_way(running: queue_stream.Call) -> bool:
        if running.progress:
            under_way.set()
            return True
        return False

    worker = threading.Thread(target=app.call, args=("org/shared",), kwargs={"leave_when": leave_once_under_way})
    worker.start()
    assert under_way.wait(DEADLINE_S)  # the first request's download is at its first step, and its page closes

    second = app.call("org/shared", leave_when=step_on_each_report(app))
    worker.join(DEADLINE_S)
    assert second.output == ["org/shared"] and app.loader.calls == 1 and app.loader.error is None
    descriptions = [desc for desc, _fraction in second.progress]
    # It joined after the plan was shown: it gets the latest report at once, then every one after it.
    assert descriptions == [
        "Downloading org/shared from the Hub: 2 files, 4.5 MB (model.safetensors: 4.0 MB)",
        "Downloading org/shared: 1.5 MB of 4.5 MB at 1.5 MB/s, about 2 s left (model.safetensors)",
        "Downloading org/shared: 3.0 MB of 4.5 MB at 1.5 MB/s, about 1 s left (model.safetensors)",
        "Downloading org/shared: 4.5 MB of 4.5 MB at 1.5 MB/s (model.safetensors)",
    ]


def test_cancelling_the_event_stops_its_download_at_the_next_report(app):
    def cancel_once_under_way(running: queue_stream.Call) -> bool:
        if running.progress:
            queue_stream.cancel(app.url, app.fn_index, running)
            return True
        return False

    app.call("org/cancelled", leave_when=cancel_once_under_way)
    app.loader.step.release()
    assert app.loader.stopped.wait(DEADLINE_S)
    assert isinstance(app.loader.error, DownloadCancelled)
    assert app.cache.report().entries == ()


def test_closing_the_page_stops_its_download(app):
    app.call("org/left", leave_when=lambda running: bool(running.progress))
    app.loader.free_run.set()  # it reports on until it learns the page has gone
    assert app.loader.stopped.wait(DEADLINE_S)
    assert isinstance(app.loader.error, DownloadCancelled)
    assert app.cache.report().entries == ()
