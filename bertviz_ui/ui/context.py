"""What every tab receives: the app's settings and its model cache."""

from __future__ import annotations

from dataclasses import dataclass, field

from bertviz_ui.config import Settings
from bertviz_ui.models.cache import ModelCache
from bertviz_ui.models.sources import TINY_PREFIX
from bertviz_ui.registry import Task
from bertviz_ui.tasks.batching import MicroBatcher
from bertviz_ui.tasks.budget import Budget
from bertviz_ui.ui.export_folder import ExportFolder


@dataclass(frozen=True)
class AppContext:
    """Settings plus the one model cache, the one cross-request batcher and the export folder of this app instance."""

    settings: Settings
    cache: ModelCache
    batcher: MicroBatcher | None = None  # None: one made from the settings
    exports: ExportFolder = field(default_factory=ExportFolder)  # where "Download this view (HTML)" writes

    def __post_init__(self) -> None:
        if self.batcher is None:
            object.__setattr__(self, "batcher", MicroBatcher(window_s=self.settings.batch_window_ms / 1000,
                                                             max_rows=self.settings.batch_rows))

    @property
    def light_concurrency(self) -> int:
        """Requests of one light tab running at once: enough to fill a batch when batching is on, else 2."""
        return max(2, self.settings.batch_rows) if self.batcher is not None and self.batcher.enabled else 2

    @property
    def budget(self) -> Budget:
        """What one request may cost here: the settings' budget, scaled to the cache's device."""
        return Budget.for_device(self.cache.device, gflop=self.settings.request_gflop,
                                 memory_gb=self.settings.request_gb)

    def default_model(self, task: Task) -> str:
        """The model a tab starts with: its override, a tiny checkpoint in tiny mode, else the registry default."""
        if task.id in self.settings.models:
            return self.settings.models[task.id]
        if self.settings.tiny:
            return f"{TINY_PREFIX}{'encoder' if task.head.value == 'tokenizer' else task.head.value}"
        return task.default_model

    def model_hint(self) -> str:
        """What a model box accepts on this server (public servers take no local paths)."""
        if self.settings.public:
            return "Pick one, or type a Hub id this server allows."
        return "Pick one or type any Hub id or local directory."

    def model_choices(self, task: Task) -> list[str]:
        """The curated models for a tab, its default first."""
        default = self.default_model(task)
        return [default, *(m for m in task.choices if m != default)]
