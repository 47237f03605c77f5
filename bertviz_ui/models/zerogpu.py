"""Hugging Face ZeroGPU support: run GPU work inside spaces.GPU where that package is present."""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def on_zero_gpu() -> bool:
    """True on a ZeroGPU Space (the platform sets SPACES_ZERO_GPU) with the `spaces` package installed."""
    if os.environ.get("SPACES_ZERO_GPU", "").strip().lower() not in {"1", "true"}:
        return False
    return importlib.util.find_spec("spaces") is not None


def gpu_work(duration: int = 60) -> Callable[[F], F]:
    """Decorate a handler that runs a model: on ZeroGPU it gets a GPU for at most ``duration`` seconds.

    Elsewhere the handler is returned unchanged, so local, CPU and dedicated-GPU runs are not affected.
    """

    def decorate(fn: F) -> F:
        if not on_zero_gpu():
            return fn
        spaces = importlib.import_module("spaces")
        return spaces.GPU(duration=duration)(fn)

    return decorate
