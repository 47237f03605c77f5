"""Model sources, device choice and the model cache."""

from __future__ import annotations

from bertviz_ui.config import Settings
from bertviz_ui.models.cache import LoadedModel, ModelCache
from bertviz_ui.models.device import choose_device, default_budget_bytes, inference_dtype
from bertviz_ui.models.sources import HubProbe

__all__ = ["LoadedModel", "ModelCache", "build_cache"]


def build_cache(settings: Settings) -> ModelCache:
    """The app's model cache for these settings (nothing is loaded until a tab asks)."""
    device = choose_device(settings.device)
    budget = int(settings.cache_gb * 2**30) if settings.cache_gb else default_budget_bytes(device)
    return ModelCache(
        device=device,
        dtype=inference_dtype(device),
        budget_bytes=budget,
        cache_dir=settings.cache_dir,
        probe=HubProbe(settings.hub_timeout),
        max_download_bytes=int(settings.max_model_gb * 1e9),
    )
