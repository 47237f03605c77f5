"""The training loop: AdamW with linear warmup then decay and gradient clipping, streaming a StepEvent per step and
EpochMetrics per epoch; a Clock stops it at a deadline or on Cancel."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from bertviz_ui.errors import BertvizError
from bertviz_ui.models import anatomy
from bertviz_ui.models.types import Model
from bertviz_ui.tasks.finetune.features import Encoded, logits, predict_ids
from bertviz_ui.tasks.finetune.limits import ADAM_EPS, EVAL_BATCH, WEIGHT_DECAY, Hyperparameters
from bertviz_ui.tasks.finetune.plan import make_scheduler, steps_for


class Cancelled(BertvizError):
    """The user pressed Cancel (or closed the tab): training stopped and nothing was kept."""


@dataclass(frozen=True)
class StepEvent:
    """One optimizer step of the model being kept (``run`` "final") or of a cross-validation fold."""

    run: str
    step: int
    total_steps: int
    epoch: int
    loss: float
    learning_rate: float
    elapsed_s: float
    train_s: float
    examples_per_s: float


@dataclass(frozen=True)
class EpochMetrics:
    """After one epoch: mean training loss and, where examples were held out, their loss and accuracy."""

    epoch: int
    train_loss: float
    eval_loss: float | None = None
    accuracy: float | None = None
    evaluated: int = 0
    predicted: tuple[int, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class PhaseEvent:
    """A stage begins (computing encoder outputs, a cross-validation fold, the baseline)."""

    message: str
    fraction: float


# What a run streams before its Finished event.
Event = StepEvent | EpochMetrics | PhaseEvent


class Clock:
    """Wall-clock deadline for training and cancellation, checked before every step."""

    def __init__(self, cancel: threading.Event | None, deadline: float | None):
        self.cancel = cancel
        self.deadline = deadline
        self.timed_out = False

    def check(self, upcoming: float = 0.0) -> bool:
        """Raise Cancelled if cancelled; return False once a step of ``upcoming`` seconds would end past the
        deadline."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("Training cancelled: the partly trained model was discarded.")
        if self.deadline is not None and time.monotonic() + upcoming >= self.deadline:
            self.timed_out = True
        return not self.timed_out


def fit(model: Model, encoded: Encoded, label_ids: Sequence[int], train: Sequence[int], held: Sequence[int],
        hp: Hyperparameters, *, clock: Clock, run: str = "final", features: torch.Tensor | None = None,
        head: Callable | None = None, eval_batch: int = EVAL_BATCH) -> Iterator[StepEvent | EpochMetrics]:
    """Train ``model`` in place: AdamW, linear warmup then decay, gradient clipping; shuffled batches.

    With ``features`` and ``head`` (a frozen encoder) only the head runs: the encoder's outputs were computed once.
    Yields a StepEvent per step and EpochMetrics per epoch (evaluated on ``held`` when it is not empty). Stops
    early, without error, when the clock's deadline passes; raises Cancelled when the clock is cancelled.
    """
    device = next(model.parameters()).device
    labels = torch.tensor(list(label_ids), device=device)
    total, warmup = steps_for(len(train), hp)
    trainable = [p for p in model.parameters() if p.requires_grad]
    # foreach=False: the same updates bit for bit, without the model-sized temporaries the multi-tensor kernels
    # allocate at every step (0.3x the model's size more at the peak, measured).
    optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate, eps=ADAM_EPS, weight_decay=WEIGHT_DECAY,
                                  foreach=False)
    scheduler = make_scheduler(optimizer, total, warmup)
    shuffle = torch.Generator().manual_seed(hp.seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    step, seen, train_seconds, last_step = 0, 0, 0.0, 0.0
    started = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(hp.seed)  # dropout
        for epoch in range(1, hp.epochs + 1):
            order = [train[i] for i in torch.randperm(len(train), generator=shuffle).tolist()]
            model.train()
            if features is not None:
                anatomy.encoder(model).eval()
            epoch_losses = []
            for start in range(0, len(order), hp.batch_size):
                if not clock.check(upcoming=last_step):
                    return
                batch = order[start:start + hp.batch_size]
                tick = time.perf_counter()
                rate = optimizer.param_groups[0]["lr"]
                loss = loss_fn(logits(model, encoded, batch, features, head).float(), labels[batch])
                loss.backward()
                if hp.clip_norm > 0:
                    torch.nn.utils.clip_grad_norm_(trainable, hp.clip_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                value = float(loss.detach())
                last_step = time.perf_counter() - tick
                train_seconds += last_step
                step += 1
                seen += len(batch)
                epoch_losses.append(value)
                yield StepEvent(run=run, step=step, total_steps=total, epoch=epoch, loss=value, learning_rate=rate,
                                elapsed_s=time.perf_counter() - started, train_s=train_seconds,
                                examples_per_s=seen / train_seconds if train_seconds > 0 else 0.0)
            metrics = EpochMetrics(epoch=epoch, train_loss=sum(epoch_losses) / len(epoch_losses))
            if held:
                probabilities = predict_ids(model, encoded, list(held), features, head, eval_batch)
                truth = torch.tensor([label_ids[i] for i in held])
                eval_loss = float(torch.nn.functional.nll_loss(probabilities.clamp_min(1e-12).log(), truth))
                predicted = probabilities.argmax(-1)
                metrics = EpochMetrics(epoch=epoch, train_loss=metrics.train_loss, eval_loss=eval_loss,
                                       accuracy=float((predicted == truth).float().mean()), evaluated=len(held),
                                       predicted=tuple(predicted.tolist()))
            yield metrics

