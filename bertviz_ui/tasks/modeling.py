"""Helpers every task shares for feeding a model: its input limit and the tensors its forward accepts."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from bertviz_ui.models.types import Model, Tokenizer

# Tokenizers without a real limit report a huge model_max_length; no encoder here reads more than this.
LENGTH_CAP = 4096


def model_max_length(tokenizer: Tokenizer, model: Model = None) -> int:
    """How many tokens the model reads: the tokenizer's limit, capped by the model's position embeddings.

    A tokenizer saved without a limit reports 1e30; the model's config then decides (RoBERTa-family
    models offset positions by padding_idx + 1, so 514 positions hold 512 tokens).
    """
    limit = int(min(getattr(tokenizer, "model_max_length", LENGTH_CAP) or LENGTH_CAP, LENGTH_CAP))
    config = getattr(model, "config", None)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        if "roberta" in str(getattr(config, "model_type", "")) or "camembert" in str(getattr(config, "model_type", "")):
            positions -= (getattr(config, "pad_token_id", 1) or 1) + 1
        limit = min(limit, positions)
    return limit


def model_inputs(module: Any, encoding: Any) -> dict[str, torch.Tensor]:
    """The tensors of ``encoding`` that ``module.forward`` accepts, on the module's device.

    DistilBERT takes no token_type_ids, for example; passing them would raise.
    """
    accepted = inspect.signature(module.forward).parameters
    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else None
    return {k: v.to(device) if device is not None else v for k, v in encoding.items()
            if k in accepted and isinstance(v, torch.Tensor)}
