"""ZeroGPU: handlers are wrapped by spaces.GPU only on a ZeroGPU Space with the package present."""

from __future__ import annotations

import sys
import types

from bertviz_ui.models import zerogpu


def handler(x: int) -> int:
    return x + 1


def test_unchanged_elsewhere(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert zerogpu.gpu_work()(handler) is handler


def test_wrapped_on_zero_gpu(monkeypatch):
    calls = []

    def gpu(duration):
        def wrap(fn):
            calls.append(duration)
            return lambda *a: ("on-gpu", fn(*a))
        return wrap

    fake = types.ModuleType("spaces")
    fake.GPU = gpu
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setattr(zerogpu.importlib.util, "find_spec", lambda name: object() if name == "spaces" else None)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    wrapped = zerogpu.gpu_work(duration=30)(handler)
    assert wrapped(1) == ("on-gpu", 2) and calls == [30]


def test_model_handlers_get_the_gpu_and_keep_their_error_messages(monkeypatch):
    import gradio as gr
    import pytest

    from bertviz_ui.errors import BadInput
    from bertviz_ui.ui.errors import model_work

    entered = []

    def gpu(duration):
        def wrap(fn):
            def on_gpu(*a):
                entered.append(duration)
                return fn(*a)
            return on_gpu
        return wrap

    fake = types.ModuleType("spaces")
    fake.GPU = gpu
    monkeypatch.setitem(sys.modules, "spaces", fake)
    monkeypatch.setattr(zerogpu.importlib.util, "find_spec", lambda name: object() if name == "spaces" else None)
    monkeypatch.setenv("SPACES_ZERO_GPU", "1")

    def refuse(text):
        raise BadInput(f"No <b>{text}</b> here.")

    assert model_work("answering")(handler)(1) == 2 and entered == [60]
    with pytest.raises(gr.Error, match="No &lt;b&gt;x&lt;/b&gt; here."):
        model_work("answering", duration=20)(refuse)("x")
    assert entered == [60, 20]


def test_every_tab_that_runs_a_model_asks_for_the_gpu():
    from pathlib import Path

    ui = Path(__file__).resolve().parents[2] / "bertviz_ui" / "ui"
    for name in ("fill_mask", "nsp", "sentiment", "ner", "zero_shot", "qa", "attention", "finetune"):
        assert "model_work(" in (ui / f"{name}.py").read_text(), name
