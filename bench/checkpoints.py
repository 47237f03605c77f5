"""bert-base-sized checkpoints with random weights, saved on disk once, for benchmarks that start the real app.

The app loads models only through its cache (a Hub id or a directory); the in-memory random:* models of
bench/random_models.py can't reach it. Random weights cost exactly what trained ones do.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from bertviz_ui.models.sources import offline_model_dir

RANDOM_SEED = 0


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def cache_root() -> Path:
    return Path(os.environ.get("BERTVIZ_UI_CACHE_DIR", "~/.cache/bertviz_ui")).expanduser()


def checkpoints_dir() -> Path:
    return cache_root() / "bench-checkpoints"


def checkpoint_for(head: str) -> Path:
    """The directory of a bert-base-sized random checkpoint with ``head`` ("masked_lm"), built on first use."""
    import transformers

    architectures = {"masked_lm": transformers.BertForMaskedLM}
    target = checkpoints_dir() / f"bert-base-{head}"
    if (target / "config.json").exists():
        return target
    partial = target.with_name(target.name + ".partial")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        model = architectures[head](transformers.BertConfig())
    model.save_pretrained(partial)
    for name in TOKENIZER_FILES:  # the offline MiniLM's tokenizer is bert-base-uncased's
        source = offline_model_dir(cache_root()) / name
        if source.exists():
            shutil.copy(source, partial / name)
    partial.rename(target)
    return target
