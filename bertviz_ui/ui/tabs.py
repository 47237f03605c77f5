"""The tabs, in order: one per registry task, its builder found from its id (``bertviz_ui/ui/<id>.py``'s build),
then the Models panel, the one tab that is not a task. A build returns its tab's examples and link (ui/permalink)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from bertviz_ui.registry import TASKS
from bertviz_ui.ui import models_panel
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.permalink import Opening


@dataclass(frozen=True)
class TabSpec:
    """One tab: its id (the task noun), its title and the function that lays it out inside its gr.Tab and returns
    what it opens with (its examples and its link)."""

    id: str
    title: str
    build: Callable[[AppContext, gr.Tab], Opening]


def _tab(task_id: str, title: str) -> TabSpec:
    return TabSpec(task_id, title, importlib.import_module(f"bertviz_ui.ui.{task_id}").build)


TABS: tuple[TabSpec, ...] = (
    *(_tab(task.id, task.title) for task in TASKS),
    TabSpec("models", "Models", models_panel.build),
)
