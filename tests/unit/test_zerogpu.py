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
