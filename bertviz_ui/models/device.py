"""Device and precision choice: cuda, else mps, else cpu; half precision for inference on a GPU."""

from __future__ import annotations

import os

import torch

from bertviz_ui.errors import BadInput


def choose_device(setting: str = "auto") -> str:
    """Pick the device models run on.

    Args:
        setting: "auto", "cpu", "mps", "cuda" or "cuda:N" (BERTVIZ_UI_DEVICE).

    Returns:
        A torch device string. Raises BadInput when the asked-for device is not available.
    """
    if setting == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if setting.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInput(f"BERTVIZ_UI_DEVICE={setting} but no CUDA device is available.")
        index = int(setting.split(":")[1]) if ":" in setting else 0
        if index >= torch.cuda.device_count():
            raise BadInput(f"BERTVIZ_UI_DEVICE={setting} but only {torch.cuda.device_count()} CUDA device(s) exist.")
    if setting == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BadInput("BERTVIZ_UI_DEVICE=mps but MPS is not available.")
    return setting


def inference_dtype(device: str) -> torch.dtype:
    """bf16 on GPUs that support it, else fp16 on GPUs; fp32 on CPU (half precision is slow or unsupported there)."""
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def default_budget_bytes(device: str) -> int:
    """Half of free GPU memory on a GPU, else half of the RAM available now."""
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free * 0.5)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def release_memory(device: str) -> None:
    """Give freed memory back to the device after models were dropped."""
    import gc

    gc.collect()
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()
