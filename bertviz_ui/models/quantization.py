"""Dynamic int8 quantization for inference on CPU: the transformer layers' Linear weights stored in int8 (one scale
per output channel), each input row quantized to int8 as it arrives, the product taken in int8 by torch._int_mm.

Why not torch.ao.quantization.quantize_dynamic (deprecated; 4x faster here): it quantizes activations per tensor to
7 bits, which took all-MiniLM-L6-v2's final hidden states to a mean cosine of 0.965 with fp32. torchao's
Int8DynamicActivationInt8WeightConfig quantizes per token as here (cosine 0.997) but ran at 0.3-2x fp32's speed in
eager mode on torch 2.13's CPU and is a further dependency. This module is that recipe on the same int8 matmul
(symmetric per-token activations, symmetric per-channel weights): 4.5x fp32's speed for bert-base's encoder at
128 tokens here, 3.4x for the Masked words tab's whole prediction (python -m bench --cases fill_mask_int8).
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import logging
from enum import Enum

import torch

from bertviz_ui.building import one_build_at_a_time
from bertviz_ui.errors import ModelUnavailable
from bertviz_ui.models import anatomy
from bertviz_ui.models.loading import LoadedModel
from bertviz_ui.models.types import Model

log = logging.getLogger(__name__)

INT8_LABEL = "int8 (dynamic)"
_INT8_MAX = 127.0


class Precision(str, Enum):
    """How a model's weights are held for a caller.

    FULL: the cache's dtype, unquantized (float32 on CPU): what gradients and training need.
    INT8: the transformer layers' Linear weights in int8 (CPU only, inference only).
    """

    FULL = "full"
    INT8 = "int8"


class Int8Linear(torch.nn.Module):
    """A Linear layer for inference with int8 weights (one scale per output channel) and int8 inputs (one scale
    per row, found at run time). Refuses inputs that require gradients: int8 products have none."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / _INT8_MAX
        # Stored [in, out] contiguous: the layout torch._int_mm multiplies fastest on CPU.
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).to(torch.int8).t().contiguous())
        self.register_buffer("weight_scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:
            raise RuntimeError("int8 layers are for inference only: gradients need the model in full precision.")
        rows = x.reshape(-1, self.in_features).float()
        scale = rows.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / _INT8_MAX
        quantized = torch.round(rows / scale).to(torch.int8)
        out = torch._int_mm(quantized, self.weight_int8).float() * scale * self.weight_scale
        if self.bias is not None:
            out += self.bias
        return out.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights and inputs"


def int8_supported() -> bool:
    """Whether this torch multiplies int8 matrices on the CPU (torch._int_mm); checked once per cache."""
    try:
        product = torch._int_mm(torch.ones(2, 8, dtype=torch.int8), torch.ones(8, 8, dtype=torch.int8))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return bool((product == 8).all())


def model_bytes(model: Model) -> int:
    """Parameters and buffers in memory (int8 weights count one byte each)."""
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


@one_build_at_a_time  # builds modules: never while transformers patches torch for another model's construction
def quantize_int8(model: Model) -> int:
    """Replace every Linear layer of the model's transformer layers by an Int8Linear, in place.

    Args:
        model: a model on the CPU in eval mode, with an architecture models/anatomy.py knows.

    Returns:
        How many layers were replaced. Raises ModelUnavailable for an architecture without a known layer stack.
    """
    stack = anatomy.layer_stack(model)
    if stack is None:
        raise ModelUnavailable(f"int8 quantization doesn't know where {anatomy.family(model)}'s layers are.")
    replaced = 0
    for parent in list(stack.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(parent, name, Int8Linear(child))
                replaced += 1
    return replaced


def _own_memory(model: Model) -> None:
    """Copy what stays in full precision (embeddings, heads, norms) out of the checkpoint file's memory map, then give
    the freed fp32 weights back to the system.

    transformers maps a safetensors file and the tensors share that mapping: while one fp32 tensor of it lives, every
    page quantization read stays resident (bert-base: about 600 MB per model over its 175 MB in int8; measured with
    /proc/self/status). glibc keeps freed heap memory until malloc_trim.
    """
    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            tensor.data = tensor.data.clone()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory returns to the system when its allocator decides
        pass


def quantize_loaded(loaded: LoadedModel) -> LoadedModel:
    """The loaded model with its transformer layers in int8, reporting both sizes (a tokenizer is returned as is).

    Args:
        loaded: a freshly loaded model on the CPU, held by nobody else (it is changed in place).

    Returns:
        LoadedModel whose size_bytes is the int8 size and fp32_size_bytes the size it had; the model as loaded (no
        quantization label) for an architecture whose layers models/anatomy.py doesn't know.
    """
    if loaded.model is None:
        return loaded
    if loaded.device != "cpu":
        raise ModelUnavailable(f"int8 quantization runs on CPU only; this server runs models on {loaded.device}.")
    if anatomy.layer_stack(loaded.model) is None:
        # An inference load must not fail for want of int8: the model is served as loaded, and says so (no label).
        log.warning("%s: int8 doesn't know where %s's layers are; kept in %s.", loaded.source.ref,
                    anatomy.family(loaded.model), loaded.dtype)
        return loaded
    before = loaded.size_bytes or model_bytes(loaded.model)
    replaced = quantize_int8(loaded.model)
    _own_memory(loaded.model)
    after = model_bytes(loaded.model)
    log.info("%s: %d Linear layers in int8, %.1f MB (fp32: %.1f MB)", loaded.source.ref, replaced, after / 2**20,
             before / 2**20)
    return dataclasses.replace(loaded, size_bytes=after, fp32_size_bytes=before, quantization=INT8_LABEL)
