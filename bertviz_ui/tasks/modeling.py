"""Helpers every task shares for feeding a model: its input limit and the tensors its forward accepts."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from bertviz_ui.models import anatomy

# How many tokens a model reads is architecture knowledge: models/anatomy.py answers it.
model_max_length = anatomy.max_length


def model_inputs(module: Any, encoding: Any) -> dict[str, torch.Tensor]:
    """The tensors of ``encoding`` that ``module.forward`` accepts, on the module's device.

    DistilBERT takes no token_type_ids, for example; passing them would raise.
    """
    accepted = inspect.signature(module.forward).parameters
    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else None
    return {k: v.to(device) if device is not None else v for k, v in encoding.items()
            if k in accepted and isinstance(v, torch.Tensor)}
