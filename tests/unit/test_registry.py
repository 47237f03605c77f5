"""The registry is the one list of tasks: every layer's module, the tabs and the settings follow it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from bertviz_ui.config import OPTIONS
from bertviz_ui.registry import TASKS, Head, task_by_id
from bertviz_ui.ui.tabs import TABS

ROOT = Path(__file__).resolve().parents[2]


def _exists(folder: str, name: str) -> bool:
    base = ROOT / folder
    return (base / f"{name}.py").is_file() or (base / name / "__init__.py").is_file()


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.id)
def test_one_module_per_layer_named_after_the_task(task):
    """One noun per task: tasks/<id>, render/<id>, ui/<id> and tests/unit/test_<id>.py."""
    missing = [f"{folder}/{task.id}" for folder in ("bertviz_ui/tasks", "bertviz_ui/render", "bertviz_ui/ui")
               if not _exists(folder, task.id)]
    if not (ROOT / "tests" / "unit" / f"test_{task.id}.py").is_file():
        missing.append(f"tests/unit/test_{task.id}.py")
    assert missing == []
    assert callable(importlib.import_module(f"bertviz_ui.ui.{task.id}").build)


def test_tabs_follow_the_registry_then_the_models_panel():
    assert [(tab.id, tab.title) for tab in TABS] == [*((t.id, t.title) for t in TASKS), ("models", "Models")]


def test_ids_are_unique_and_every_task_has_a_model_setting():
    ids = [task.id for task in TASKS]
    assert len(ids) == len(set(ids))
    envs = {option.env for option in OPTIONS}
    assert {f"BERTVIZ_UI_MODEL_{task.id.upper()}" for task in TASKS} <= envs


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.id)
def test_defaults_are_offered_and_fallbacks_only_for_heads_the_offline_encoder_has(task):
    assert task.default_model in task.choices
    if task.offline_fallback:
        assert task.head in (Head.TOKENIZER, Head.ENCODER)


def test_unknown_task_names_the_known_ones():
    with pytest.raises(KeyError, match="tokenizer"):
        task_by_id("nope")


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.id)
def test_every_task_has_a_tiny_checkpoint_of_its_head(task, settings, cache):
    """Tiny mode serves each tab the tiny checkpoint its head needs (built from anatomy's Auto class per head)."""
    from bertviz_ui.config import load_settings
    from bertviz_ui.ui.context import AppContext

    tiny = AppContext(settings=load_settings(["--tiny", "--cache-dir", str(settings.cache_dir)], environ={}),
                      cache=cache)
    loaded = cache.load_for_task(task, tiny.default_model(task))
    assert loaded.source.untrained and loaded.tokenizer is not None
    if task.head is not Head.TOKENIZER:
        from bertviz_ui.models import anatomy

        assert type(loaded.model).__name__ == {"AutoModel": "BertModel"}.get(
            anatomy.auto_class(task.head), anatomy.auto_class(task.head).replace("AutoModel", "Bert"))
