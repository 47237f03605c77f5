"""Inside the classification head: the vector that enters the final linear layer (models/anatomy.py says where it
is in each architecture), and the head's arithmetic for one text."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bertviz_ui.errors import ModelUnavailable
from bertviz_ui.models import anatomy
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.modeling import model_inputs, model_max_length
from bertviz_ui.tasks.sentiment.inputs import _leading, check_classifier, labels_of
from bertviz_ui.tasks.validation import check_text


@dataclass(frozen=True)
class HeadInside:
    """The path from hidden state to probability for one text, with the actual numbers."""

    source: str
    vector_size: int
    vector_norm: float
    vector_mean: float
    vector_min: float
    vector_max: float
    vector_head: tuple[float, ...]
    weight_shape: tuple[int, int]
    bias: tuple[float, ...]
    logits: tuple[float, ...]
    probabilities: tuple[float, ...]
    labels: tuple[str, ...]


def _head_from_first(model: Model, first: torch.Tensor) -> tuple[torch.Tensor, torch.nn.Linear, str]:
    """From each text's final first-token hidden state ([n, hidden]) to the vector entering the final linear layer,
    that layer, and how the vector was made (models/anatomy.py knows each architecture's head)."""
    head = anatomy.classifier_head(model)
    if head is None:
        raise ModelUnavailable(f"{type(model).__name__}'s classification head is not one this view can open up.")
    return head.to_final(first), head.final, head.description


def _packable(model: Model) -> bool:
    """Whether texts can share one sequence: positions numbered from 0 (BERT, DistilBERT) and a head anatomy can
    apply to the first token of each text. RoBERTa-family positions start after the padding index, so those models
    take padded batches."""
    return anatomy.plain_positions(model) and anatomy.classifier_head(model) is not None


def _head_path(model: Model, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.nn.Linear, str]:
    """The vector entering the final linear layer for one encoded text, that layer, and how the vector was made."""
    base = anatomy.encoder(model)
    return _head_from_first(model, base(**model_inputs(base, inputs))[0][:, 0])


def inside_head(text: str, *, model: Model, tokenizer: Tokenizer, newly_initialized: tuple[str, ...] = ()) -> HeadInside:
    """The vector entering the final linear layer, the layer's logits, and their softmax, for one text.

    Args:
        text: one text (truncated to the model maximum).
        model: a sequence-classification model.
        tokenizer: its tokenizer.
        newly_initialized: weights the checkpoint lacked; a random classification head is refused.

    Returns:
        HeadInside; ``logits`` equal weight @ vector + bias (the model's own logits), ``probabilities`` their
        softmax.
    """
    check_classifier(newly_initialized)
    text = check_text(text, "Text")
    limit = model_max_length(tokenizer, model)
    read, _ = _leading(tokenizer, [text], limit)
    encoding = tokenizer(read[0], truncation=True, max_length=limit, return_tensors="pt")
    with torch.inference_mode():
        vector, linear, source = _head_path(model, dict(encoding))
        logits = linear(vector)[0].float()
    vector = vector[0].float()
    return HeadInside(
        source=source, vector_size=vector.numel(), vector_norm=float(vector.norm()), vector_mean=float(vector.mean()),
        vector_min=float(vector.min()), vector_max=float(vector.max()),
        vector_head=tuple(round(v, 4) for v in vector[:8].tolist()),
        weight_shape=(int(linear.weight.shape[0]), int(linear.weight.shape[1])),
        bias=tuple(linear.bias.float().tolist()) if linear.bias is not None else (),
        logits=tuple(logits.tolist()), probabilities=tuple(logits.softmax(-1).tolist()), labels=labels_of(model))
