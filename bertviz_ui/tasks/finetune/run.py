"""One fine-tuning run as a recipe of named steps: prepare (and refuse what can't fit), the baseline, the kept model's
training, cross-validation, the evaluation; streamed as events that end with Finished."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import Budget, shape_of
from bertviz_ui.tasks.finetune.data import TrainingData
from bertviz_ui.tasks.finetune.evaluate import (
    BaselineResult,
    ClassMetrics,
    Evaluation,
    ExamplePrediction,
    TextPrediction,
    baseline_scores,
    evaluate_run,
)
from bertviz_ui.tasks.finetune.features import Encoded, encoder_features, predict_ids
from bertviz_ui.tasks.finetune.limits import (
    EVAL_BATCH,
    Hyperparameters,
    check_run_time,
    check_training_step,
    training_deadline,
)
from bertviz_ui.tasks.finetune.model import (
    ParameterCounts,
    build_classifier,
    count_parameters,
    freeze,
    head_on_features,
)
from bertviz_ui.tasks.finetune.plan import Split, plan_split, planned_schedule
from bertviz_ui.tasks.finetune.trained import TrainedModel
from bertviz_ui.tasks.finetune.training import Clock, EpochMetrics, Event, PhaseEvent, StepEvent, fit
from bertviz_ui.tasks.modeling import model_max_length


@dataclass(frozen=True)
class FinetuneResult:
    """A whole run, JSON-ready (to_dict): what the tab shows and the API returns."""

    model: str
    labels: tuple[str, ...]
    label_counts: dict[str, int]
    hyperparameters: Hyperparameters
    scheme: str
    scheme_description: str
    n_train: int
    n_evaluated: int
    losses: tuple[float, ...]
    learning_rates: tuple[float, ...]
    schedule: tuple[float, ...]
    epoch_metrics: tuple[EpochMetrics, ...]
    accuracy: float | None
    macro_f1: float | None
    per_class: tuple[ClassMetrics, ...]
    confusion: tuple[tuple[int, ...], ...]
    baseline: BaselineResult
    predictions: tuple[ExamplePrediction, ...]
    new_texts: tuple[TextPrediction, ...]
    total_params: int
    trainable_params: int
    encoder_forward_examples: int
    elapsed_s: float
    train_seconds: float
    examples_per_s: float
    steps: int
    stopped_early: bool
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        for metrics in payload["epoch_metrics"]:
            metrics.pop("predicted", None)
        return payload


@dataclass(frozen=True)
class Finished:
    """The last event: the result, and the trained model (None when training was stopped before any step)."""

    result: FinetuneResult
    trained: TrainedModel | None


def finetune(data: TrainingData, hp: Hyperparameters, *, encoder: Model, tokenizer: Tokenizer, label: str = "",
             source: str = "", new_texts: Sequence[str] = (), device: str = "cpu",
             cancel: threading.Event | None = None, max_seconds: float | None = None,
             budget: Budget | None = None) -> Iterator[StepEvent | EpochMetrics | PhaseEvent | Finished]:
    """Fine-tune a copy of ``encoder`` as a classifier of ``data``'s labels, evaluate it, compare with the baseline.

    The baseline is fitted first. The kept model trains next (its steps stream as StepEvent with run "final");
    with cross-validation the fold models train after it (run "fold i/k"), their held-out predictions pooled per
    epoch. Predictions of the model before training (its head untrained) and after are made on every example and
    on ``new_texts``.

    ``max_seconds`` bounds the whole run: training stops early enough that the last evaluation and the predictions
    after it (timed as long as the predictions before training took, with a margin) still end within it. What
    can't fit is refused up front (OverBudget): a training step whose activations exceed the budget's memory, or
    predictions and evaluation that alone would take longer than ``max_seconds`` at the budget's assumed speed.

    Args:
        data: validated examples.
        hp: hyperparameters within bounds.
        encoder: the shared encoder (never modified: its weights are copied).
        tokenizer: its tokenizer.
        label: the model's name as shown.
        source: the reference the cache loaded ``encoder`` from (kept with the trained model, which the lab compares
            with that encoder later).
        new_texts: texts to predict before and after.
        device: where training runs.
        cancel: set it to stop within one step (Cancelled is raised, nothing is kept).
        max_seconds: wall-clock limit of the whole run; training stops in time and keeps what it learned, with a
            note.
        budget: what one request may use (default: the default budget): its memory bounds one training step's
            activations and the evaluation batches, its assumed speed the up-front time estimate.

    Yields:
        StepEvent, EpochMetrics, PhaseEvent; finally Finished.
    """
    started = time.perf_counter()
    end = time.monotonic() + max_seconds if max_seconds else None
    clock = Clock(cancel, end)
    run = _prepare(data, hp, encoder=encoder, tokenizer=tokenizer, new_texts=new_texts, device=device,
                   budget=budget or Budget(), max_seconds=max_seconds)
    clock.check()
    yield PhaseEvent("Baseline: TF-IDF + logistic regression", 0.0)
    baseline = baseline_scores(data.texts, data.label_ids, run.split, data.label_names, new_texts)

    model = build_classifier(encoder, data.label_names, hp.seed, device)
    freeze(model, hp.freeze_encoder)
    counts = count_parameters(model)
    features, head = yield from _stored_encoder_outputs(model, run)
    predicting = time.perf_counter()
    before = predict_ids(model, run.encoded, run.everything, features, head, run.eval_rows)
    clock.deadline = training_deadline(time.monotonic(), end, time.perf_counter() - predicting,
                                       run.evaluated_per_epoch / len(run.everything))

    trace = yield from _train_kept(model, run, clock, features, head)
    if run.cross_validated and not clock.timed_out:
        epochs = yield from _cross_validate(encoder, run, clock, device, features, trace.epochs)
    else:
        epochs = trace.epochs
    trained = None
    if trace.steps:
        model.eval()
        trained = TrainedModel(model=model, tokenizer=tokenizer, labels=data.label_names, max_length=run.max_length,
                               base=label, base_ref=source, examples=data.texts, example_labels=data.labels)
    yield PhaseEvent("Predicting every example and new text with the trained model", 0.99)
    after = predict_ids(model, run.encoded, run.everything, features, head, run.eval_rows)

    if clock.timed_out:
        run.notes.append(_stopped_note(max_seconds, trace.steps, no_accuracy=run.cross_validated and not epochs))
    evaluation = evaluate_run(data, run.split, epochs, before, after, baseline, new_texts)
    result = _result(run, label=label, baseline=baseline, counts=counts, trace=trace, epochs=epochs,
                     evaluation=evaluation, forward_examples=len(run.everything) if features is not None else 0,
                     started=started, stopped_early=clock.timed_out)
    yield Finished(result=result, trained=trained)


# --- The steps --------------------------------------------------------------------------------------------------

@dataclass
class _Run:
    """What one run works on, fixed before training starts (``notes`` grows as it goes)."""

    data: TrainingData
    hp: Hyperparameters
    encoded: Encoded  # every example, then every new text
    max_length: int  # hp.max_length, or the model's own limit when that is lower
    split: Split
    eval_rows: int  # rows per evaluation batch that fit the budget's memory
    notes: list[str]

    @property
    def cross_validated(self) -> bool:
        return self.split.scheme == "cross-validation"

    @property
    def final_held(self) -> tuple[int, ...]:
        """The examples the kept model is scored on after each epoch (none with cross-validation)."""
        return () if self.cross_validated else self.split.folds[0][1]

    @property
    def evaluated_per_epoch(self) -> int:
        return len(self.data.texts) if self.cross_validated else len(self.final_held)

    @property
    def everything(self) -> list[int]:
        return list(range(len(self.encoded.ids)))


def _prepare(data: TrainingData, hp: Hyperparameters, *, encoder: Model, tokenizer: Tokenizer,
             new_texts: Sequence[str], device: str, budget: Budget, max_seconds: float | None) -> _Run:
    """Encode every text, split the examples; refuse (OverBudget) a training step that can't fit the memory, or
    predictions and evaluation that can't fit the time limit."""
    limit = model_max_length(tokenizer, encoder)
    notes = list(data.notes)
    if hp.max_length > limit:
        notes.append(f"Max length {hp.max_length} exceeds the model's {limit} tokens: {limit} is used.")
    max_length = min(hp.max_length, limit)
    n = len(data.texts)
    encoded = Encoded(tokenizer, list(data.texts) + list(new_texts), max_length, device)
    truncated = sum(len(ids) >= max_length for ids in encoded.ids[:n])
    if truncated:
        notes.append(f"{truncated} example(s) reach the max length of {max_length} tokens and were truncated.")
    split = plan_split(data.label_ids, hp.seed)
    shape = shape_of(encoder)
    lengths = [len(ids) for ids in encoded.ids]
    check_training_step(shape, min(hp.batch_size, len(split.final_train)), max(lengths[:n]), budget,
                        frozen=hp.freeze_encoder)
    run = _Run(data=data, hp=hp, encoded=encoded, max_length=max_length, split=split,
               eval_rows=budget.rows_per_batch(shape, max(lengths), cap=EVAL_BATCH), notes=notes)
    check_run_time(shape, lengths, run.evaluated_per_epoch, run.eval_rows, budget, max_seconds,
                   frozen=hp.freeze_encoder, batch_size=hp.batch_size)
    return run


def _stored_encoder_outputs(model: Model, run: _Run) -> Generator[PhaseEvent, None, tuple[torch.Tensor | None,
                                                                                           Callable | None]]:
    """With the encoder frozen: its outputs for every text, computed once, and the head that reads them. (None, None)
    when the encoder trains, or when its head is not one the lab can run alone (a note says so)."""
    if not run.hp.freeze_encoder:
        return None, None
    pieces = head_on_features(model)
    if pieces is None:
        run.notes.append(f"{type(model).__name__}'s head is not one the lab can run on stored encoder outputs: the "
                         "frozen encoder runs at every step (same result, slower).")
        return None, None
    count = len(run.everything)
    yield PhaseEvent(f"Computing the frozen encoder's outputs once for {count} texts", 0.0)
    features_fn, head = pieces
    return encoder_features(model, run.encoded, count, features_fn, run.eval_rows), head


@dataclass
class _Trace:
    """The kept model's training as it streamed: each step's loss and learning rate, each epoch's metrics."""

    losses: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    epochs: list[EpochMetrics] = field(default_factory=list)
    last: StepEvent | None = None

    @property
    def steps(self) -> int:
        return self.last.step if self.last else 0


def _train_kept(model: Model, run: _Run, clock: Clock, features: torch.Tensor | None,
                head: Callable | None) -> Generator[StepEvent | EpochMetrics, None, _Trace]:
    """Train the model that is kept on the final training set, scored on the held-out examples (if any)."""
    trace = _Trace()
    for event in fit(model, run.encoded, run.data.label_ids, run.split.final_train, run.final_held, run.hp,
                     clock=clock, features=features, head=head, eval_batch=run.eval_rows):
        if isinstance(event, StepEvent):
            trace.losses.append(event.loss)
            trace.rates.append(event.learning_rate)
            trace.last = event
        else:
            trace.epochs.append(event)
        yield event
    return trace


def _cross_validate(encoder: Model, run: _Run, clock: Clock, device: str, features: torch.Tensor | None,
                    kept_epochs: Sequence[EpochMetrics]) -> Generator[Event, None, list[EpochMetrics]]:
    """Train a model per fold as the kept one was trained, and pool their predictions of the examples each never
    saw into per-epoch metrics (for the epochs that every fold finished before the deadline)."""
    data, hp, folds = run.data, run.hp, run.split.folds
    n = len(data.texts)
    fold_predictions: list[dict[int, int]] = [{} for _ in range(hp.epochs)]
    fold_losses: list[list[float]] = [[] for _ in range(hp.epochs)]
    for number, (train, held) in enumerate(folds, start=1):
        yield PhaseEvent(f"Cross-validation: fold {number} of {len(folds)} (trains without {len(held)} examples, "
                         "then predicts them)", number / (len(folds) + 1))
        fold_model = build_classifier(encoder, data.label_names, hp.seed, device)
        freeze(fold_model, hp.freeze_encoder)
        fold_head = head_on_features(fold_model)[1] if features is not None else None
        for event in fit(fold_model, run.encoded, data.label_ids, train, held, hp, clock=clock,
                         run=f"fold {number}/{len(folds)}", features=features, head=fold_head,
                         eval_batch=run.eval_rows):
            if isinstance(event, EpochMetrics):
                fold_predictions[event.epoch - 1].update(zip(held, event.predicted))
                fold_losses[event.epoch - 1].append(event.eval_loss * len(held))
            else:
                yield event
        del fold_model, fold_head  # the head's closure holds its model too: both go before the next fold's
        if clock.timed_out:
            break
    epochs = []
    for e in (e for e in range(hp.epochs) if len(fold_predictions[e]) == n):
        predicted = tuple(fold_predictions[e][i] for i in range(n))
        accuracy = sum(p == data.label_ids[i] for i, p in enumerate(predicted)) / n
        epochs.append(EpochMetrics(epoch=e + 1, train_loss=kept_epochs[e].train_loss if e < len(kept_epochs)
                                   else float("nan"), eval_loss=sum(fold_losses[e]) / n, accuracy=accuracy,
                                   evaluated=n, predicted=predicted))
        yield epochs[-1]
    return epochs


def _stopped_note(max_seconds: float, steps: int, *, no_accuracy: bool) -> str:
    return (f"Stopped at the wall-clock limit of {max_seconds:g} s after {steps} step(s), leaving time for the "
            "evaluation and predictions that follow; the model keeps what it learned by then."
            + (" Cross-validation did not finish, so no per-epoch accuracy." if no_accuracy else ""))


def _result(run: _Run, *, label: str, baseline: BaselineResult, counts: ParameterCounts, trace: _Trace,
            epochs: Sequence[EpochMetrics], evaluation: Evaluation, forward_examples: int, started: float,
            stopped_early: bool) -> FinetuneResult:
    data, hp, split = run.data, run.hp, run.split
    return FinetuneResult(
        model=label, labels=data.label_names, label_counts=data.counts, hyperparameters=hp, scheme=split.scheme,
        scheme_description=split.description, n_train=len(split.final_train), n_evaluated=evaluation.n_evaluated,
        losses=tuple(trace.losses), learning_rates=tuple(trace.rates),
        schedule=planned_schedule(len(split.final_train), hp), epoch_metrics=tuple(epochs),
        accuracy=epochs[-1].accuracy if epochs else None, macro_f1=evaluation.macro_f1,
        per_class=evaluation.per_class, confusion=evaluation.confusion, baseline=baseline,
        predictions=evaluation.predictions, new_texts=evaluation.new_texts, total_params=counts.total,
        trainable_params=counts.trainable, encoder_forward_examples=forward_examples,
        elapsed_s=time.perf_counter() - started, train_seconds=trace.last.train_s if trace.last else 0.0,
        examples_per_s=trace.last.examples_per_s if trace.last else 0.0, steps=trace.steps,
        stopped_early=stopped_early, notes=tuple(run.notes))
