"""The lab's limits, enforced on the server (an API client can send anything): data sizes, hyperparameter ranges,
and the memory and time one training run may use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bertviz_ui.errors import BadInput
from bertviz_ui.models.types import Model
from bertviz_ui.tasks.budget import (
    Budget,
    ModelShape,
    OverBudget,
    activation_bytes,
    duration,
    forward_flops,
    gigabytes,
    largest,
    shape_of,
    training_step_flops,
)
from bertviz_ui.tasks.validation import check_number

MAX_EXAMPLES = 1_000
MAX_TEXT_CHARS = 1_000
MAX_LABELS = 20
MAX_LABEL_CHARS = 50
MIN_PER_LABEL = 2
MAX_CSV_BYTES = 1_000_000
MAX_NEW_TEXTS = 20
# Below this many examples a held-out split would hold one or two examples per class: cross-validate instead.
HOLDOUT_MIN_EXAMPLES = 20
HOLDOUT_FRACTION = 0.2
MAX_FOLDS = 5
# A class this many times larger than another is flagged: "always the big class" then scores well.
IMBALANCE_RATIO = 3.0
EVAL_BATCH = 32
# Time kept for what follows training (the last evaluation, the predictions after training) is the measured time of
# the predictions before training, scaled by this margin, plus RESERVE_S.
RESERVE_MARGIN = 1.25
RESERVE_S = 0.5

# The seed text's setup: AdamW at 2e-5 (eps 1e-8), batch 4 (its DataLoader), 3 epochs, warmup 10% of the steps
# then linear decay to 0 (its hyperparameter table), max_len 64 (its dataset), gradient clipping at 1.0.
DEFAULTS = {"learning_rate": 2e-5, "batch_size": 4, "epochs": 3, "warmup_ratio": 0.1, "max_length": 64,
            "clip_norm": 1.0, "seed": 0}
LR_RANGE = (1e-6, 1e-3)
BATCH_RANGE = (1, 64)
EPOCH_RANGE = (1, 20)
WARMUP_RANGE = (0.0, 0.5)
LENGTH_RANGE = (8, 512)
CLIP_RANGE = (0.0, 10.0)
SEED_RANGE = (0, 2**31 - 1)
ADAM_EPS = 1e-8
WEIGHT_DECAY = 0.01  # torch.optim.AdamW's default, which the seed uses


# --- Hyperparameters ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hyperparameters:
    """One training run's settings (defaults: the seed text's)."""

    learning_rate: float = DEFAULTS["learning_rate"]
    batch_size: int = DEFAULTS["batch_size"]
    epochs: int = DEFAULTS["epochs"]
    warmup_ratio: float = DEFAULTS["warmup_ratio"]
    max_length: int = DEFAULTS["max_length"]
    clip_norm: float = DEFAULTS["clip_norm"]
    seed: int = DEFAULTS["seed"]
    freeze_encoder: bool = False


def _number(value: Any, name: str, low: float, high: float, hint: str = "") -> float:
    return check_number(value, name, low=low, high=high, hint=hint.strip())


def _whole(value: Any, name: str, low: int, high: int) -> int:
    return int(check_number(value, name, low=low, high=high, whole=True))


def check_hyperparameters(*, learning_rate: Any, batch_size: Any, epochs: Any, warmup_ratio: Any, max_length: Any,
                          clip_norm: Any, seed: Any, freeze_encoder: Any) -> Hyperparameters:
    """Hyperparameters within the lab's bounds, else BadInput naming the field and its range."""
    if not isinstance(freeze_encoder, bool):
        raise BadInput("Freeze encoder must be true or false.")
    return Hyperparameters(
        learning_rate=_number(learning_rate, "Learning rate", *LR_RANGE),
        batch_size=_whole(batch_size, "Batch size", *BATCH_RANGE),
        epochs=_whole(epochs, "Epochs", *EPOCH_RANGE),
        warmup_ratio=_number(warmup_ratio, "Warmup ratio", *WARMUP_RANGE),
        max_length=_whole(max_length, "Max length", *LENGTH_RANGE),
        clip_norm=_number(clip_norm, "Gradient clipping", *CLIP_RANGE, " (0 turns clipping off)"),
        seed=_whole(seed, "Seed", *SEED_RANGE),
        freeze_encoder=freeze_encoder,
    )


# --- Memory and time ----------------------------------------------------------------------------------------

def training_deadline(now: float, end: float | None, prediction_seconds: float, eval_share: float) -> float | None:
    """When training must stop so that the run still ends by ``end``: what follows training (one more evaluation
    of ``eval_share`` of the texts, then predictions for all of them, as long as the predictions before training
    took) is kept free, with a margin.

    Args:
        now: the clock now (time.monotonic()).
        end: when the whole run must be over, or None for no limit.
        prediction_seconds: measured time of the predictions before training.
        eval_share: the evaluated texts per epoch as a share of all texts predicted.
    """
    if end is None:
        return None
    return end - (prediction_seconds * (1.0 + eval_share) * RESERVE_MARGIN + RESERVE_S)


def _predict_flops(shape: ModelShape, lengths: Sequence[int], indices: Sequence[int], batch: int) -> float:
    """The forwards of predict_ids over ``indices`` in batches of ``batch`` (each padded to its longest)."""
    total = 0.0
    for start in range(0, len(indices), batch):
        chunk = indices[start:start + batch]
        total += forward_flops(shape, max(lengths[i] for i in chunk), len(chunk))
    return total


def check_training_step(shape: ModelShape, batch_size: int, longest: int, budget: Budget, *,
                        frozen: bool = False) -> None:
    """Refuse (OverBudget) a batch whose training step's activations would not fit the request's memory.

    Args:
        shape: the model's shape.
        batch_size: examples per optimizer step.
        longest: the longest example in tokens (a batch is padded to its longest).
        budget: what one request may use.
        frozen: the encoder is frozen (only the head trains: no encoder activations are kept).
    """
    if frozen:
        return
    needed = activation_bytes(shape, longest, batch_size, mode="training")
    if needed <= budget.activation_bytes:
        return
    batch = largest(lambda b: activation_bytes(shape, longest, b, mode="training") <= budget.activation_bytes,
                    batch_size)
    length = largest(lambda t: activation_bytes(shape, t, batch_size, mode="training") <= budget.activation_bytes,
                     longest, low=LENGTH_RANGE[0])
    ways = [f"lower the batch size to {batch}" if batch else "",
            f"lower the max length to {length} tokens" if length >= LENGTH_RANGE[0] else "",
            "freeze the encoder (only the head trains)"]
    advice = ", or ".join(way for way in ways if way)
    raise budget.refuse_memory(
        f"One training step of {batch_size} examples of up to {longest} tokens ({batch_size * longest:,} tokens) "
        f"needs about {gigabytes(needed)} of activations", advice[0].upper() + advice[1:] + ".")


def check_run_time(shape: ModelShape, lengths: Sequence[int], evaluated_per_epoch: int, eval_rows: int,
                   budget: Budget, max_seconds: float | None, *, frozen: bool, batch_size: int) -> None:
    """Refuse (OverBudget) a run whose predictions before and after training, one epoch's evaluation and one
    training step would take longer than ``max_seconds`` at the budget's assumed speed: no training could happen
    within the limit."""
    if not max_seconds:
        return
    everything = list(range(len(lengths)))
    predict = _predict_flops(shape, lengths, everything, eval_rows)
    longest = max(lengths)
    # With a frozen encoder its outputs are computed once; predictions, evaluation and training run the head alone.
    work = predict if frozen else (2 * predict + _predict_flops(shape, lengths, everything[:evaluated_per_epoch],
                                                               eval_rows)
                                   + training_step_flops(shape, longest, batch_size))
    if budget.seconds(work) > max_seconds:
        raise OverBudget(f"Predicting {len(lengths):,} texts of up to {longest} tokens before and after training, "
                         f"with the evaluation and a training step, would take {duration(budget.seconds(work))} "
                         f"here, more than the lab's limit of {max_seconds:g} s for the whole run. Use fewer "
                         "examples or new texts, or a lower max length.")


def most_batch(model: Model, longest: int, budget: Budget) -> int:
    """The largest batch size whose training step fits the budget's memory at ``longest`` tokens (0: none)."""
    shape = shape_of(model)
    return largest(lambda b: activation_bytes(shape, longest, b, mode="training") <= budget.activation_bytes,
                   BATCH_RANGE[1])
