"""Model sources, device choice and the model cache."""

from __future__ import annotations

from collections.abc import Iterable

from bertviz_ui.config import Settings
from bertviz_ui.models.cache import LoadedModel, ModelCache
from bertviz_ui.models.device import choose_device, default_budget_bytes, inference_dtype
from bertviz_ui.models.policy import ModelPolicy, build_policy
from bertviz_ui.models.quantization import Precision
from bertviz_ui.models.sources import HubProbe
from bertviz_ui.registry import OFFLINE_MODEL_ID, TASKS

__all__ = ["LoadedModel", "ModelCache", "Precision", "build_cache", "model_policy"]


def model_policy(settings: Settings, also_allowed: Iterable[str] = ()) -> ModelPolicy:
    """What requests may load under these settings: every tab's default and curated models, ``also_allowed`` (models
    the app itself names, such as the comparison's), the operator's BERTVIZ_UI_ALLOW_MODELS and BERTVIZ_UI_MODEL_*."""
    curated = [OFFLINE_MODEL_ID, *also_allowed]
    for task in TASKS:
        curated += [task.default_model, *task.choices]
    return build_policy(public=settings.public, patterns=settings.allow_models, curated=curated,
                        configured=settings.models.values())


def build_cache(settings: Settings, also_allowed: Iterable[str] = ()) -> ModelCache:
    """The app's model cache for these settings (nothing is loaded until a tab asks)."""
    device = choose_device(settings.device)
    budget = int(settings.cache_gb * 2**30) if settings.cache_gb else default_budget_bytes(device)
    return ModelCache(
        device=device,
        dtype=inference_dtype(device),
        budget_bytes=budget,
        cache_dir=settings.cache_dir,
        probe=HubProbe(settings.hub_timeout),
        policy=model_policy(settings, also_allowed),
        max_download_bytes=int(settings.max_model_gb * 1e9),
        quantize=settings.quantize,
    )
