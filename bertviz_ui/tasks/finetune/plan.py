"""Before training: how the examples are split (hold-out or cross-validation), the learning-rate schedule, and the
setup preview (parameter counts and schedule) the tab shows before anything is trained."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.models.types import Model
from bertviz_ui.tasks.finetune.data import TrainingData
from bertviz_ui.tasks.finetune.limits import (
    ADAM_EPS,
    HOLDOUT_FRACTION,
    HOLDOUT_MIN_EXAMPLES,
    MAX_FOLDS,
    WEIGHT_DECAY,
    Hyperparameters,
)
from bertviz_ui.tasks.finetune.model import ParameterCounts, parameter_counts


@dataclass(frozen=True)
class Split:
    """How examples are divided. Hold-out: one split (``folds`` has one entry). Cross-validation: the final model
    trains on everything and each fold's model is evaluated on the examples it never saw."""

    scheme: str  # "holdout" or "cross-validation"
    final_train: tuple[int, ...]
    folds: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]  # (train indices, evaluation indices)
    description: str


def plan_split(label_ids: Sequence[int], seed: int) -> Split:
    """A stratified hold-out split of HOLDOUT_FRACTION for HOLDOUT_MIN_EXAMPLES examples or more, else stratified
    k-fold cross-validation (k = the smallest class's size, at most MAX_FOLDS), with the final model trained on all.

    Args:
        label_ids: each example's class.
        seed: makes the split reproducible.
    """
    from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

    n = len(label_ids)
    classes = len(set(label_ids))
    indices = list(range(n))
    if n >= HOLDOUT_MIN_EXAMPLES:
        test_size = max(classes, round(HOLDOUT_FRACTION * n))
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train, held = next(splitter.split(indices, label_ids))
        train, held = tuple(sorted(int(i) for i in train)), tuple(sorted(int(i) for i in held))
        return Split("holdout", train, ((train, held),),
                     f"Stratified hold-out: {len(train)} examples train the model, {len(held)} it never sees "
                     "measure it after every epoch.")
    k = min(MAX_FOLDS, min(Counter(label_ids).values()))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = tuple((tuple(int(i) for i in train), tuple(int(i) for i in held))
                  for train, held in splitter.split(indices, label_ids))
    return Split("cross-validation", tuple(indices), folds,
                 f"{n} examples are too few to hold some out (under {HOLDOUT_MIN_EXAMPLES}): the model you keep "
                 f"trains on all {n}, and accuracy comes from {k}-fold cross-validation: {k} more models, each "
                 "trained the same way without one fold and scored on it, so every example is predicted by a model "
                 "that never saw it.")


def steps_for(n_train: int, hp: Hyperparameters) -> tuple[int, int]:
    """(total optimizer steps, warmup steps) as the seed computes them: len(loader) * epochs, int(total * ratio)."""
    total = math.ceil(n_train / hp.batch_size) * hp.epochs
    return total, int(total * hp.warmup_ratio)


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int) -> Any:
    """Linear warmup to the peak rate, then linear decay to 0 (transformers.get_linear_schedule_with_warmup)."""
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps)


def planned_schedule(n_train: int, hp: Hyperparameters) -> tuple[float, ...]:
    """The learning rate of each optimizer step, from the very scheduler training uses (on a dummy optimizer)."""
    total, warmup = steps_for(n_train, hp)
    dummy = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([dummy], lr=hp.learning_rate, eps=ADAM_EPS, weight_decay=WEIGHT_DECAY)
    scheduler = make_scheduler(optimizer, total, warmup)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return tuple(rates)


@dataclass(frozen=True)
class SetupPreview:
    """What training would do, before it runs: the split, the classifier's parameter counts, the schedule."""

    data: TrainingData
    split: Split
    counts: ParameterCounts
    schedule: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.data.label_names), "label_counts": self.data.counts, "notes": list(self.data.notes),
                "scheme": self.split.scheme, "total_params": self.counts.total,
                "trainable_params": self.counts.trainable, "schedule": list(self.schedule)}


def preview_setup(data: TrainingData, hp: Hyperparameters, encoder: Model) -> SetupPreview:
    """The split, the parameter counts (the classifier built on the meta device: nothing allocated) and the schedule
    that training ``encoder`` on ``data`` with ``hp`` would use.

    Args:
        data: validated examples.
        hp: hyperparameters within bounds.
        encoder: the shared encoder (not modified).
    """
    counts = parameter_counts(encoder, len(data.label_names), hp.freeze_encoder)
    split = plan_split(data.label_ids, hp.seed)
    return SetupPreview(data=data, split=split, counts=counts, schedule=planned_schedule(len(split.final_train), hp))
