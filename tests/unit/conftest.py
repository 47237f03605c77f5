"""Unit-test fixtures: one model cache for the session and the uncased tokenizer through it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bertviz_ui.config import Settings
from bertviz_ui.models import build_cache
from bertviz_ui.models.cache import ModelCache
from bertviz_ui.registry import Head


@pytest.fixture(scope="session")
def settings(cache_dir: Path) -> Settings:
    return Settings(tiny=True, device="cpu", cache_dir=cache_dir)


@pytest.fixture(scope="session")
def cache(settings: Settings) -> ModelCache:
    return build_cache(settings)


@pytest.fixture(scope="session")
def uncased(cache: ModelCache):
    """bert-base-uncased's tokenizer, as shipped with the offline all-MiniLM-L6-v2."""
    return cache.load("sentence-transformers/all-MiniLM-L6-v2", Head.TOKENIZER).tokenizer


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a loaded 2-core machine their spin-waits made
    model-heavy test files 3-6x slower; modules opt in with usefixtures, and the setting is restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
