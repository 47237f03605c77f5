"""The classifier the lab trains: built from a copy of the encoder, its parameter counts, freezing, and its head run
on stored encoder outputs (models/anatomy.py says where the encoder and the head are)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.building import one_build_at_a_time
from bertviz_ui.errors import ModelUnavailable
from bertviz_ui.models import anatomy
from bertviz_ui.models.types import Config, Model
from bertviz_ui.registry import Head
from bertviz_ui.tasks.modeling import model_inputs


@dataclass(frozen=True)
class ParameterCounts:
    """Parameters of the classifier: all of them, and those the optimizer updates."""

    total: int
    trainable: int
    head: int


def classifier_config(encoder: Model, label_names: Sequence[str]) -> Any:
    """The encoder's config with a classification head for ``label_names`` (id2label/label2id are saved with it)."""
    config = copy.deepcopy(encoder.config)
    config.num_labels = len(label_names)
    config.id2label = dict(enumerate(label_names))
    config.label2id = {name: index for index, name in enumerate(label_names)}
    config.problem_type = "single_label_classification"
    config.architectures = None
    return config


def _classifier_class(config: Config) -> Any:
    import transformers

    return getattr(transformers, anatomy.auto_class(Head.SEQUENCE_CLASSIFICATION))


def freeze(model: Model, frozen: bool) -> None:
    """Freeze (or unfreeze) every encoder weight; the classification head stays trainable."""
    for parameter in anatomy.encoder(model).parameters():
        parameter.requires_grad_(not frozen)


def count_parameters(model: Model) -> ParameterCounts:
    """sum(p.numel()) over all parameters, and over those with requires_grad."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    base = sum(p.numel() for p in anatomy.encoder(model).parameters())
    return ParameterCounts(total=total, trainable=trainable, head=total - base)


@one_build_at_a_time
def parameter_counts(encoder: Model, num_labels: int, frozen: bool) -> ParameterCounts:
    """Counts for the classifier that training would build, without allocating it (built on the meta device)."""
    config = classifier_config(encoder, [f"LABEL_{i}" for i in range(num_labels)])
    try:
        with torch.device("meta"):
            model = _classifier_class(config).from_config(config)
    except ValueError as error:
        raise ModelUnavailable(f"This model has no sequence-classification architecture to fine-tune: "
                               f"{str(error).splitlines()[0][:200]}") from None
    freeze(model, frozen)
    return count_parameters(model)


@one_build_at_a_time
def build_classifier(encoder: Model, label_names: Sequence[str], seed: int, device: str) -> Any:
    """A new sequence classifier whose encoder weights are a copy of ``encoder``'s; the shared encoder is untouched.

    The head is initialized from ``seed`` (the process's random state is left alone). Built from a config, not
    loaded: the model cache stays the only code that loads checkpoints.
    """
    config = classifier_config(encoder, label_names)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = _classifier_class(config).from_config(config, dtype=torch.float32)
        except ValueError as error:
            raise ModelUnavailable(f"This model has no sequence-classification architecture to fine-tune: "
                                   f"{str(error).splitlines()[0][:200]}") from None
    state = {key: value.detach().clone() for key, value in encoder.state_dict().items()}
    result = anatomy.encoder(model).load_state_dict(state, strict=False)
    if result.missing_keys:
        raise ModelUnavailable(f"The encoder's weights don't fit {type(model).__name__} "
                               f"({len(result.missing_keys)} missing, e.g. {result.missing_keys[0]}).")
    return model.to(device)


def head_on_features(model: Model) -> tuple[Callable[[dict[str, torch.Tensor]], torch.Tensor],
                                          Callable[[torch.Tensor], torch.Tensor]] | None:
    """For a frozen encoder: (encoder inputs -> the first token's final hidden state, that vector -> logits through
    the model's own head, dropout included in train mode), or None when models/anatomy.py doesn't know this
    architecture's head (then the frozen encoder simply runs every step)."""
    head = anatomy.classifier_head(model)
    if head is None:
        return None
    base = anatomy.encoder(model)

    def first_token(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return base(**model_inputs(base, inputs))[0][:, 0]

    return first_token, head.forward
