"""Fine-tuning lab tab without a server: each session trains and keeps its own model, one training per session at a
time, Cancel, the evicted model's message, what each handler shows by output name, and what Gradio passes them."""

from __future__ import annotations

import gc
import weakref

import pandas as pd
import pytest
import torch

from bertviz_ui import examples
from bertviz_ui.errors import BadInput
from bertviz_ui.models import lab
from bertviz_ui.models.lab import LabSession, Sessions
from bertviz_ui.tasks.finetune import run as ft_run
from bertviz_ui.ui import finetune as ui
from bertviz_ui.ui.context import AppContext

pytestmark = pytest.mark.usefixtures("one_thread")

SEED_ROWS = [(text, str(label)) for text, label in zip(examples.TUTORIAL_REVIEWS, examples.TUTORIAL_REVIEW_LABELS)]
XSS = '<img src=x onerror="window.__xss=1">'
TRAIN_OUTPUTS = {"session", "status", "loss", "accuracy", "report", "confusion", "predictions", "new_texts", "raw"}


class _Request:
    def __init__(self, session_hash):
        self.session_hash = session_hash


@pytest.fixture
def ctx(settings, cache):
    return AppContext(settings=settings, cache=cache)


def _stream(ctx, sessions, session, request, *, epochs=1, batch=4, new_texts="great film"):
    return ui.run_finetune(ctx, sessions, session, "tiny:encoder", SEED_ROWS, 1e-4, batch, epochs, 0.1, 64, 1.0, 0,
                           False, new_texts, request=request, progress=lambda *a, **k: None)


def _train(ctx, sessions, session, request, epochs=1):
    return list(_stream(ctx, sessions, session, request, epochs=epochs))[-1]


def test_each_session_trains_and_keeps_its_own_model(ctx):
    sessions = Sessions()
    final = _train(ctx, sessions, None, _Request("a"))
    mine = final["session"]
    assert mine.trained is not None and tuple(final["raw"]["labels"]) == ("0", "1")
    shown = ui.run_try(mine, "lovely\nawful")
    table, payload = shown["table"], shown["raw"]
    assert list(table["text"]) == ["lovely", "awful"] and set(payload["rows"][0]["scores"]) == {"0", "1"}
    assert payload["labels"] == ["0", "1"] and [row["text"] for row in payload["rows"]] == ["lovely", "awful"]
    assert all(row["score"] == max(row["scores"].values()) and row["label"] in ("0", "1") for row in payload["rows"])
    with pytest.raises(BadInput, match="No fine-tuned model in this session yet"):
        ui.run_try(LabSession(), "lovely")  # another session sees nothing
    path = ui.run_download(mine)["file"]
    assert path.endswith("finetuned-model.zip") and mine.workdir is not None
    workdir, model = mine.workdir, weakref.ref(mine.trained.model)
    sessions.close("a")  # the tab closed
    gc.collect()
    assert mine.trained is None and not workdir.exists() and model() is None and len(sessions) == 0


def test_a_run_streams_named_outputs_and_ends_with_every_one(ctx):
    shown = list(_stream(ctx, Sessions(), None, _Request("d"), epochs=2))
    first, *live, final = shown
    assert set(first) == TRAIN_OUTPUTS and "Training started." in first["status"]
    assert first["report"] == "" and first["raw"] is None and first["predictions"].empty
    assert set(final) == TRAIN_OUTPUTS and "4 training steps took" in final["status"]
    assert "4-fold cross-validation" in final["report"] and len(final["predictions"]) == 8
    assert [e["epoch"] for e in final["raw"]["epoch_metrics"]] == [1, 2]
    assert all(set(update) <= TRAIN_OUTPUTS for update in live)
    # Live updates leave the report, the tables and the JSON alone until the run finishes.
    assert not any({"report", "predictions", "new_texts", "raw"} & set(update) for update in live)
    assert any("Baseline" in update.get("status", "") for update in live)
    assert any("accuracy" in update for update in live)  # cross-validated epochs plot as they complete


def test_training_twice_at_once_in_one_session_is_refused(ctx):
    session = LabSession()
    session.lock.acquire()
    try:
        with pytest.raises(BadInput, match="already training a model: wait for it to finish, or press Cancel"):
            _train(ctx, Sessions(), session, _Request("b"))
    finally:
        session.lock.release()
    assert "Nothing to cancel" in ui.run_cancel(session)["status"]


def test_cancel_from_the_tab_discards_the_partial_model(ctx):
    session = LabSession()
    stream = _stream(ctx, Sessions(), session, _Request("c"), epochs=5, batch=1, new_texts="")
    next(stream)
    assert session.training
    assert "Cancelled" in ui.run_cancel(session, wait_s=0)["status"]  # the paused stream can't stop by itself
    last = list(stream)[-1]
    assert "Cancelled" in last["status"] and session.trained is None and not session.training
    assert "loss" not in last and "accuracy" not in last  # the plots keep what they showed
    assert last["report"] == "" and last["raw"] is None


def test_a_model_freed_for_other_sessions_says_so():
    sessions = Sessions(max_kept=1)
    first, second = LabSession(), LabSession()

    class Trained:  # what keep() needs of a TrainedModel: a model whose parameters say where it lives
        def __init__(self):
            self.model = torch.nn.Linear(1, 1)

    sessions.keep(first, Trained())
    sessions.keep(second, Trained())
    with pytest.raises(BadInput, match="freed to make room: this server keeps at most 8 at a time"):
        ui.run_try(first, "lovely")
    with pytest.raises(BadInput, match="freed to make room"):
        ui.run_download(first)


def test_pasted_rows_fill_the_table_and_the_summary():
    shown = ui.load_pasted(f'text,label\n"{XSS.replace(chr(34), chr(34) * 2)}", pos \nfine,pos\nbad,neg\npoor,neg\n')
    assert set(shown) == {"table", "summary"}
    assert shown["table"].equals(pd.DataFrame([[XSS, "pos"], ["fine", "pos"], ["bad", "neg"], ["poor", "neg"]],
                                              columns=["text", "label"]))
    assert "4 examples, 2 labels" in shown["summary"] and "<img" not in shown["summary"]


def test_an_uploaded_file_is_size_checked_before_it_is_read(tmp_path):
    good = tmp_path / "rows.csv"
    good.write_text("great,pos\nlovely,pos\nawful,neg\npoor,neg\n")
    assert list(ui.load_file(str(good))["table"]["label"]) == ["pos", "pos", "neg", "neg"]
    big = tmp_path / "big.csv"
    big.write_bytes(b"a,b\n" * 300_000)
    with pytest.raises(BadInput, match="The file is 1,200,000 bytes; the lab reads CSV files of up to 1,000,000."):
        ui.load_file(str(big))
    with pytest.raises(BadInput, match="No file was uploaded."):
        ui.load_file(None)


def test_the_handlers_keep_their_api_parameters_and_outputs(settings):
    from bertviz_ui.ui.app import build_demo

    demo = build_demo(settings)
    info = demo.get_api_info()["named_endpoints"]
    train = [p["parameter_name"] for p in info["/finetune"]["parameters"]]
    assert train == ["model", "table", "lr", "batch", "epochs", "warmup", "max_length", "clip", "seed", "frozen",
                     "new_texts"]
    preview = [p["parameter_name"] for p in info["/finetune_preview"]["parameters"]]
    assert preview == ["model", "table", "lr", "batch", "epochs", "warmup", "max_length", "clip", "seed", "frozen"]
    assert len(info["/finetune"]["returns"]) == 8 and len(info["/finetune_preview"]["returns"]) == 4
    assert [p["parameter_name"] for p in info["/finetune_try"]["parameters"]] == ["text"]
    assert len(info["/finetune_try"]["returns"]) == 2 and len(info["/finetune_csv"]["returns"]) == 2


def test_closing_the_tab_frees_the_model_it_trained(settings):
    """As Gradio calls them: the training handler gets the gr.Request (type hints that resolve), so the session is
    registered under its hash, and demo.unload's handler gets it too, so closing the tab frees that session now."""
    import gradio as gr
    from gradio.helpers import special_args

    from bertviz_ui.ui.app import build_demo

    demo = build_demo(settings)
    (train,) = [fn for fn in demo.fns.values() if fn.api_name == "finetune"]
    (unload,) = [fn for fn in demo.fns.values() if fn.targets == [(None, "unload")] and fn.api_name == "close_tab"]
    request = _Request("closed-tab")
    inputs, progress_index, *_ = special_args(
        train.fn, [None, "tiny:encoder", SEED_ROWS, 1e-4, 4, 1, 0.1, 64, 1.0, 0, False, ""], request=request)
    assert inputs[12] is request and progress_index == 13
    inputs[progress_index] = lambda *a, **k: None  # no Gradio progress tracker outside a queued event
    final = list(train.fn(*inputs))[-1]
    (session,) = [value for component, value in final.items() if isinstance(component, gr.State)]
    assert session.trained is not None
    model = weakref.ref(session.trained.model)
    arguments, *_ = special_args(unload.fn, [], request=request)
    assert arguments == [request]
    unload.fn(*arguments)
    del final
    gc.collect()
    assert session.closed and session.trained is None and model() is None


@pytest.mark.parametrize("cancel", [False, True], ids=["finished", "cancelled"])
def test_a_run_is_freed_before_its_memory_is_given_back(ctx, monkeypatch, cancel):
    encoded = []

    class Tracked(ft_run.Encoded):  # the run's encoded texts live as long as the run's other tensors
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            encoded.append(weakref.ref(self))

    monkeypatch.setattr(ft_run, "Encoded", Tracked)
    alive_when_released = []
    monkeypatch.setattr(lab, "release_memory",
                        lambda device: alive_when_released.append([ref() is not None for ref in encoded]))
    session = LabSession()
    stream = _stream(ctx, Sessions(), session, _Request("e"), epochs=5 if cancel else 1, batch=1 if cancel else 4)
    statuses = []
    for shown in stream:
        statuses.append(shown.get("status", ""))
        if cancel and "final: step" in statuses[-1]:
            session.cancel.set()
    assert ("Cancelled" if cancel else "Finished") in statuses[-1]
    assert alive_when_released == [[], [False]]  # the previous model dropped; then the run over and gone


def test_compare_checks_the_text_first_then_uses_the_sessions_model_and_its_base(ctx, monkeypatch):
    loads = []
    original = ctx.cache.load_for_task
    monkeypatch.setattr(ctx.cache, "load_for_task", lambda *a, **k: loads.append((a, k)) or original(*a, **k))
    with pytest.raises(BadInput, match="Text is empty"):
        ui.run_compare(ctx, None, "  ", 5)
    with pytest.raises(BadInput, match="No fine-tuned model in this session yet"):
        ui.run_compare(ctx, LabSession(), "lovely", 5)
    assert loads == []  # refused before any model was looked up
    session = _train(ctx, Sessions(), None, _Request("c"))["session"]
    assert session.trained.base_ref == "tiny:encoder"
    assert session.trained.examples == tuple(text for text, _ in SEED_ROWS)
    loads.clear()
    shown = ui.run_compare(ctx, session, "lovely film", 2)
    assert set(shown) == {"summary", "cka", "heads", "top_heads", "neighbours", "raw"}
    ((args, kwargs),) = loads
    assert args[1] == "tiny:encoder" and kwargs["attentions"] is True and kwargs["precision"].value == "full"
    assert session.trained.model.config._attn_implementation == "eager"
    assert len(shown["raw"]["neighbours"]["tuned"]) == 2 and list(shown["neighbours"]["rank"]) == [1, 2, 1, 2]



def test_cancel_answers_once_the_run_has_stopped():
    """A progress message the stopped run had sent could reach the page after the cancel's answer and stay on screen
    (seen in a full browser run): the answer waits (bounded) until the run has let go of the session."""
    import threading

    session = LabSession()
    session.lock.acquire()
    release = threading.Timer(0.3, session.lock.release)
    release.start()
    assert "Cancelled" in ui.run_cancel(session, wait_s=10)["status"]
    assert session.cancel.is_set() and not session.training  # it answered after the release, not before
    session.lock.acquire()
    assert "Cancelled" in ui.run_cancel(session, wait_s=0.01)["status"]  # a run slow to stop: still answered
    session.lock.release()
