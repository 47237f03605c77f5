"""Fine-tuning lab: validate labelled examples, train a sequence classifier on a copy of an encoder, evaluate it
honestly (held-out split or cross-validation), and compare it with a TF-IDF + logistic-regression baseline."""

from __future__ import annotations

import copy
import csv
import io
import math
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from bertviz_ui.building import one_build_at_a_time
from bertviz_ui.errors import BadInput, BertvizError, ModelUnavailable
from bertviz_ui.models.types import Config, Model, Tokenizer
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
from bertviz_ui.tasks.modeling import model_inputs, model_max_length
from bertviz_ui.tasks.validation import check_number

# --- Limits (enforced on the server: an API client can send anything) ----------------------------------------
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


class Cancelled(BertvizError):
    """The user pressed Cancel (or closed the tab): training stopped and nothing was kept."""


# --- Data ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainingData:
    """Validated examples.

    Attributes:
        texts: one per example, as typed.
        labels: each example's label name (trimmed).
        label_names: the classes in id order (numeric order when every label is a number, else alphabetical).
        label_ids: each example's class id.
        skipped_blank: blank rows ignored.
        notes: warnings for the user (imbalance, duplicates).
    """

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    label_names: tuple[str, ...]
    label_ids: tuple[int, ...]
    skipped_blank: int
    notes: tuple[str, ...]

    @property
    def counts(self) -> dict[str, int]:
        """Examples per class, in id order."""
        counter = Counter(self.labels)
        return {name: counter[name] for name in self.label_names}


def _cell(value: Any) -> str:
    """A table cell as text: None and NaN are blank; 1.0 (a number a spreadsheet typed) is "1"."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise BadInput("Each cell must be text or a number.")


def table_rows(table: Any) -> list[tuple[str, str]]:
    """The (text, label) rows of what the table sent: a pandas DataFrame, {"data": [...]} or a list of rows.

    Raises BadInput for anything else, for a row without two cells, and for more than 10x MAX_EXAMPLES rows
    (checked before any work).
    """
    if table is None:
        return []
    if hasattr(table, "values") and hasattr(table, "columns"):  # pandas DataFrame
        rows = table.values.tolist()
    elif isinstance(table, dict):
        rows = table.get("data")
        if rows is None:
            raise BadInput("The table must have a 'data' list of [text, label] rows.")
    else:
        rows = table
    if not isinstance(rows, (list, tuple)):
        raise BadInput("The table must be a list of [text, label] rows.")
    if len(rows) > 10 * MAX_EXAMPLES:
        raise BadInput(f"{len(rows):,} rows: this lab trains on at most {MAX_EXAMPLES:,} examples.")
    result = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, (list, tuple)):
            raise BadInput(f"Row {number} must be a [text, label] pair.")
        cells = [_cell(value) for value in row]
        if len(cells) < 2:
            cells += [""] * (2 - len(cells))
        if len(cells) > 2 and any(c.strip() for c in cells[2:]):
            raise BadInput(f"Row {number} has {len(cells)} cells; each row is a text and a label.")
        result.append((cells[0], cells[1]))
    return result


def parse_csv(raw: Any) -> list[tuple[str, str]]:
    """Rows of pasted or uploaded CSV/TSV text: two columns, text then label, an optional header row.

    The delimiter is a tab if the first line has one, else a comma (semicolons too, when the first line has one
    and no comma). Quotes follow the CSV rules, so texts may contain the delimiter.

    Args:
        raw: str, or bytes (decoded as UTF-8).

    Returns:
        The (text, label) rows, blanks included (validate() counts them). Raises BadInput naming the line.
    """
    if isinstance(raw, bytes):
        if len(raw) > MAX_CSV_BYTES:
            raise BadInput(f"The file is {len(raw):,} bytes; the lab reads CSV files of up to {MAX_CSV_BYTES:,}.")
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadInput("The file is not UTF-8 text: save it as a UTF-8 CSV.") from None
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise BadInput("CSV must be text.")
    if len(raw) > MAX_CSV_BYTES:
        raise BadInput(f"The CSV text is {len(raw):,} characters; the lab reads up to {MAX_CSV_BYTES:,}.")
    if not raw.strip():
        raise BadInput("The CSV is empty: paste rows of text,label.")
    if "\x00" in raw:
        raise BadInput("The CSV contains NUL bytes: it looks like a binary file, not text.")
    first = raw.lstrip("\ufeff").splitlines()[0]
    delimiter = "\t" if "\t" in first else ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(raw.lstrip("\ufeff")), delimiter=delimiter, strict=True)
    rows = []
    try:
        for record in reader:
            if len(rows) > 10 * MAX_EXAMPLES:
                raise BadInput(f"More than {10 * MAX_EXAMPLES:,} rows: this lab trains on at most "
                               f"{MAX_EXAMPLES:,} examples.")
            if not record or not any(cell.strip() for cell in record):
                rows.append(("", ""))
                continue
            if len(record) == 1:
                raise BadInput(f"Line {reader.line_num} has one column; each row needs a text, then "
                               f"{'a tab' if delimiter == chr(9) else repr(delimiter)}, then a label.")
            if len(record) > 2 and any(cell.strip() for cell in record[2:]):
                raise BadInput(f"Line {reader.line_num} has {len(record)} columns; each row is a text and a label "
                               "(quote texts that contain the delimiter).")
            rows.append((record[0], record[1]))
    except csv.Error as error:
        raise BadInput(f"The CSV is malformed near line {reader.line_num}: {error}.") from None
    if rows and rows[0][0].strip().lower() in ("text", "texts", "sentence", "review") and \
            rows[0][1].strip().lower() in ("label", "labels", "class", "category"):
        rows = rows[1:]
    return rows


def _label_order(names: set[str]) -> tuple[str, ...]:
    def number(name: str) -> float | None:
        try:
            return float(name)
        except ValueError:
            return None

    if all(number(name) is not None for name in names):
        return tuple(sorted(names, key=lambda name: (number(name), name)))
    return tuple(sorted(names, key=lambda name: (name.casefold(), name)))


def validate(rows: Sequence[tuple[str, str]]) -> TrainingData:
    """Check the examples and number the classes.

    Rules: blank rows are ignored and counted; a row needs both a text and a label; labels are trimmed; texts
    of at most MAX_TEXT_CHARS characters, labels of at most MAX_LABEL_CHARS; at most MAX_EXAMPLES examples and
    MAX_LABELS classes; at least 2 classes and MIN_PER_LABEL examples of each.

    Args:
        rows: (text, label) pairs, from table_rows or parse_csv.

    Returns:
        TrainingData. Raises BadInput with a message that names the row or the class.
    """
    texts, labels, skipped = [], [], 0
    for number, (text, label) in enumerate(rows, start=1):
        label = label.strip()
        if not text.strip() and not label:
            skipped += 1
            continue
        if not text.strip():
            raise BadInput(f"Row {number} has the label {label!r} but no text.")
        if not label:
            raise BadInput(f"Row {number} has a text but no label.")
        if len(text) > MAX_TEXT_CHARS:
            raise BadInput(f"Row {number}'s text is {len(text):,} characters; each may have up to "
                           f"{MAX_TEXT_CHARS:,}.")
        if len(label) > MAX_LABEL_CHARS:
            raise BadInput(f"Row {number}'s label is {len(label):,} characters; labels may have up to "
                           f"{MAX_LABEL_CHARS}.")
        if any(ord(ch) < 32 for ch in label):
            raise BadInput(f"Row {number}'s label contains control characters (a line break or a tab?).")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise BadInput("No examples: fill the table with texts and their labels (at least 2 labels, "
                       f"{MIN_PER_LABEL} examples each).")
    if len(texts) > MAX_EXAMPLES:
        raise BadInput(f"{len(texts):,} examples: this lab trains on at most {MAX_EXAMPLES:,}.")
    counts = Counter(labels)
    if len(counts) > MAX_LABELS:
        raise BadInput(f"{len(counts)} labels: this lab trains classifiers of at most {MAX_LABELS} classes.")
    if len(counts) < 2:
        raise BadInput(f"Only one label ({labels[0]!r}): a classifier needs at least 2 labels, with "
                       f"{MIN_PER_LABEL} examples or more each.")
    few = [name for name in _label_order(set(counts)) if counts[name] < MIN_PER_LABEL]
    if few:
        listed = ", ".join(f"{name!r} has {counts[name]}" for name in few[:5])
        raise BadInput(f"Every label needs at least {MIN_PER_LABEL} examples (one to learn from, one to test on): "
                       f"{listed}.")
    names = _label_order(set(counts))
    ids = {name: index for index, name in enumerate(names)}
    notes = []
    largest, smallest = max(counts.values()), min(counts.values())
    if largest >= IMBALANCE_RATIO * smallest:
        big = max(names, key=lambda name: counts[name])
        small = min(names, key=lambda name: counts[name])
        notes.append(f"Imbalanced classes: {big!r} has {largest} examples, {small!r} {smallest}. Always answering "
                     f"{big!r} would already score {largest / len(texts):.0%}: read per-class recall, not only "
                     "accuracy.")
    if skipped:
        notes.append(f"{skipped} blank row(s) ignored.")
    duplicates = len(texts) - len(set(texts))
    if duplicates:
        notes.append(f"{duplicates} duplicate text(s): a duplicate on both sides of the split inflates accuracy.")
    return TrainingData(texts=tuple(texts), labels=tuple(labels), label_names=names,
                        label_ids=tuple(ids[label] for label in labels), skipped_blank=skipped, notes=tuple(notes))


def parse_new_texts(raw: Any) -> tuple[str, ...]:
    """The texts to predict, one per non-empty line (at most MAX_NEW_TEXTS, MAX_TEXT_CHARS each); may be empty."""
    if raw is None:
        return ()
    if not isinstance(raw, str):
        raise BadInput("New texts must be text, one per line.")
    lines = tuple(line for line in raw.splitlines() if line.strip())
    if len(lines) > MAX_NEW_TEXTS:
        raise BadInput(f"{len(lines)} new texts: type at most {MAX_NEW_TEXTS}, one per line.")
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_TEXT_CHARS:
            raise BadInput(f"New text {number} is {len(line):,} characters; each may have up to {MAX_TEXT_CHARS:,}.")
    return lines


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


# --- Split, schedule, parameter counts -------------------------------------------------------------------------

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
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification


def freeze(model: Model, frozen: bool) -> None:
    """Freeze (or unfreeze) every encoder weight; the classification head stays trainable."""
    for parameter in model.base_model.parameters():
        parameter.requires_grad_(not frozen)


def count_parameters(model: Model) -> ParameterCounts:
    """sum(p.numel()) over all parameters, and over those with requires_grad."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    base = sum(p.numel() for p in model.base_model.parameters())
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
    result = model.base_model.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise ModelUnavailable(f"The encoder's weights don't fit {type(model).__name__} "
                               f"({len(result.missing_keys)} missing, e.g. {result.missing_keys[0]}).")
    return model.to(device)


# --- The classification head on precomputed encoder outputs (frozen encoder) -----------------------------------

def head_on_features(model: Model) -> tuple[Callable[[dict[str, torch.Tensor]], torch.Tensor],
                                          Callable[[torch.Tensor], torch.Tensor]] | None:
    """For a frozen encoder: (encoder inputs -> the vector the head reads, that vector -> logits), or None when
    this architecture's head is unknown (then the frozen encoder simply runs every step).

    BERT's head reads the pooled [CLS] vector (pooler: linear + tanh, part of the encoder); DistilBERT's and
    RoBERTa's read the first token's hidden state.
    """
    base = model.base_model
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, torch.nn.Linear) and hasattr(model, "pre_classifier"):
        def distil_features(inputs):
            return base(**model_inputs(base, inputs))[0][:, 0]

        def distil_head(vector):
            return model.classifier(model.dropout(torch.relu(model.pre_classifier(vector))))

        return distil_features, distil_head
    if isinstance(classifier, torch.nn.Linear) and getattr(base, "pooler", None) is not None:
        def pooled_features(inputs):
            return base(**model_inputs(base, inputs))[1]

        def bert_head(vector):
            return model.classifier(model.dropout(vector))

        return pooled_features, bert_head
    if hasattr(classifier, "out_proj") and hasattr(classifier, "dense"):
        def first_token(inputs):
            return base(**model_inputs(base, inputs))[0][:, 0]

        def roberta_head(vector):
            return model.classifier(vector[:, None, :])

        return first_token, roberta_head
    return None


# --- Training -----------------------------------------------------------------------------------------------

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


class Encoded:
    """Token ids of every example (and new text), padded per batch when used."""

    def __init__(self, tokenizer: Tokenizer, texts: Sequence[str], max_length: int, device: str):
        self.ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.device = device

    def batch(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = [self.ids[i] for i in indices]
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, :len(row)] = torch.tensor(row)
            mask[r, :len(row)] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device),
                "token_type_ids": torch.zeros_like(ids).to(self.device)}


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


def most_batch(model: Model, longest: int, budget: Budget) -> int:
    """The largest batch size whose training step fits the budget's memory at ``longest`` tokens (0: none)."""
    shape = shape_of(model)
    return largest(lambda b: activation_bytes(shape, longest, b, mode="training") <= budget.activation_bytes,
                   BATCH_RANGE[1])


def _logits(model: Model, encoded: Encoded, indices: Sequence[int], features: torch.Tensor | None,
            head: Callable | None) -> torch.Tensor:
    if features is not None and head is not None:
        return head(features[list(indices)])
    return model(**model_inputs(model, encoded.batch(indices))).logits


def predict_ids(model: Model, encoded: Encoded, indices: Sequence[int], features: torch.Tensor | None = None,
                head: Callable | None = None, batch: int = EVAL_BATCH) -> torch.Tensor:
    """Class probabilities [len(indices), classes] in eval mode, in batches of ``batch``."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(indices), batch):
            chunk = indices[start:start + batch]
            out.append(_logits(model, encoded, chunk, features, head).float().softmax(-1).cpu())
    return torch.cat(out) if out else torch.zeros((0, model.config.num_labels))


def encoder_features(model: Model, encoded: Encoded, count: int,
                     features_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
                     batch: int = EVAL_BATCH) -> torch.Tensor:
    """What the head reads, for every example, computed once (eval mode: no dropout inside the frozen encoder)."""
    model.base_model.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, count, batch):
            chunks.append(features_fn(encoded.batch(range(start, min(count, start + batch)))))
    return torch.cat(chunks)


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
                model.base_model.eval()
            epoch_losses = []
            for start in range(0, len(order), hp.batch_size):
                if not clock.check(upcoming=last_step):
                    return
                batch = order[start:start + hp.batch_size]
                tick = time.perf_counter()
                rate = optimizer.param_groups[0]["lr"]
                loss = loss_fn(_logits(model, encoded, batch, features, head).float(), labels[batch])
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


# --- Results ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall and F1 of one class on the evaluated examples."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class BaselineResult:
    """TF-IDF (words and word pairs) + logistic regression, on the same split or folds."""

    name: str
    accuracy: float
    macro_f1: float
    predicted: tuple[str, ...]  # for the evaluated examples, in Example order
    new_texts: tuple[str, ...]  # for the new texts (trained on the final training set)


@dataclass(frozen=True)
class ExamplePrediction:
    """One example: its label, its role in the split, and the model's answer before and after training."""

    text: str
    label: str
    role: str  # "train", "held out" or "cross-validated"
    before: str
    before_score: float
    after: str
    after_score: float
    evaluated_as: str | None  # the prediction that counts for accuracy: held out, or out-of-fold


@dataclass(frozen=True)
class TextPrediction:
    """A new text's prediction before and after training, and the baseline's."""

    text: str
    before: str
    before_score: float
    after: str
    after_score: float
    baseline: str


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


@dataclass
class TrainedModel:
    """A fine-tuned classifier owned by one session (mutable holder; the model is freed with the session)."""

    model: Model
    tokenizer: Tokenizer
    labels: tuple[str, ...]
    max_length: int
    base: str

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float, tuple[float, ...]]]:
        """(label, probability, every class's probability) per text."""
        encoded = Encoded(self.tokenizer, texts, self.max_length, str(next(self.model.parameters()).device))
        probabilities = predict_ids(self.model, encoded, list(range(len(texts))))
        return [(self.labels[int(row.argmax())], float(row.max()), tuple(row.tolist())) for row in probabilities]

    def save_zip(self, directory: Path) -> Path:
        """save_pretrained of the model and tokenizer (config with the user's labels), zipped; returns the zip."""
        folder = directory / "finetuned-model"
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        tokenizer = getattr(self.tokenizer, "unwrapped", self.tokenizer)
        tokenizer.save_pretrained(folder)
        target = directory / "finetuned-model.zip"
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(directory))
        return target


@dataclass(frozen=True)
class Finished:
    """The last event: the result, and the trained model (None when training was stopped before any step)."""

    result: FinetuneResult
    trained: TrainedModel | None


def baseline_scores(texts: Sequence[str], label_ids: Sequence[int], split: Split, label_names: Sequence[str],
                    new_texts: Sequence[str]) -> BaselineResult:
    """TF-IDF + logistic regression on the split's folds: evaluated on exactly the examples the model is."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline

    def model():
        return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                             LogisticRegression(max_iter=1000))

    truth, predicted = [], []
    for train, held in split.folds:
        fitted = model().fit([texts[i] for i in train], [label_ids[i] for i in train])
        predicted += [int(p) for p in fitted.predict([texts[i] for i in held])]
        truth += [label_ids[i] for i in held]
    order = [i for _, held in split.folds for i in held]
    by_example = dict(zip(order, predicted))
    evaluated = sorted(by_example)
    final = model().fit([texts[i] for i in split.final_train], [label_ids[i] for i in split.final_train])
    new = [label_names[int(p)] for p in final.predict(list(new_texts))] if new_texts else []
    return BaselineResult(
        name="TF-IDF (words and word pairs) + logistic regression",
        accuracy=sum(t == p for t, p in zip(truth, predicted)) / len(truth),
        macro_f1=float(f1_score(truth, predicted, average="macro", labels=list(range(len(label_names))),
                                zero_division=0)),
        predicted=tuple(label_names[by_example[i]] for i in evaluated), new_texts=tuple(new))


def _class_metrics(truth: Sequence[int], predicted: Sequence[int], names: Sequence[str]
                   ) -> tuple[tuple[ClassMetrics, ...], tuple[tuple[int, ...], ...], float]:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels,
                                                                     zero_division=0)
    matrix = confusion_matrix(truth, predicted, labels=labels)
    per_class = tuple(ClassMetrics(names[i], float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
                      for i in labels)
    return per_class, tuple(tuple(int(v) for v in row) for row in matrix), float(f1.mean())


def _check_time(shape: ModelShape, lengths: Sequence[int], evaluated_per_epoch: int, eval_rows: int,
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


def finetune(data: TrainingData, hp: Hyperparameters, *, encoder: Model, tokenizer: Tokenizer, label: str = "",
             new_texts: Sequence[str] = (), device: str = "cpu", cancel: threading.Event | None = None,
             max_seconds: float | None = None,
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
    budget = budget or Budget()
    limit = model_max_length(tokenizer, encoder)
    notes = list(data.notes)
    if hp.max_length > limit:
        notes.append(f"Max length {hp.max_length} exceeds the model's {limit} tokens: {limit} is used.")
        hp_length = limit
    else:
        hp_length = hp.max_length
    n = len(data.texts)
    all_texts = list(data.texts) + list(new_texts)
    encoded = Encoded(tokenizer, all_texts, hp_length, device)
    truncated = sum(len(ids) >= hp_length for ids in encoded.ids[:n])
    if truncated:
        notes.append(f"{truncated} example(s) reach the max length of {hp_length} tokens and were truncated.")
    split = plan_split(data.label_ids, hp.seed)
    shape = shape_of(encoder)
    lengths = [len(ids) for ids in encoded.ids]
    check_training_step(shape, min(hp.batch_size, len(split.final_train)), max(lengths[:n]), budget,
                        frozen=hp.freeze_encoder)
    eval_rows = budget.rows_per_batch(shape, max(lengths), cap=EVAL_BATCH)
    evaluated_per_epoch = len(split.folds[0][1]) if split.scheme == "holdout" else n
    _check_time(shape, lengths, evaluated_per_epoch, eval_rows, budget, max_seconds, frozen=hp.freeze_encoder,
                batch_size=hp.batch_size)
    clock.check()
    yield PhaseEvent("Baseline: TF-IDF + logistic regression", 0.0)
    baseline = baseline_scores(data.texts, data.label_ids, split, data.label_names, new_texts)

    model = build_classifier(encoder, data.label_names, hp.seed, device)
    freeze(model, hp.freeze_encoder)
    counts = count_parameters(model)
    features = head = None
    forward_examples = 0
    if hp.freeze_encoder:
        pieces = head_on_features(model)
        if pieces is not None:
            yield PhaseEvent(f"Computing the frozen encoder's outputs once for {len(all_texts)} texts", 0.0)
            features_fn, head = pieces
            features = encoder_features(model, encoded, len(all_texts), features_fn, eval_rows)
            forward_examples = len(all_texts)
        else:
            notes.append(f"{type(model).__name__}'s head is not one the lab can run on stored encoder outputs: the "
                         "frozen encoder runs at every step (same result, slower).")
    everything = list(range(len(all_texts)))
    predicting = time.perf_counter()
    before = predict_ids(model, encoded, everything, features, head, eval_rows)
    clock.deadline = training_deadline(time.monotonic(), end, time.perf_counter() - predicting,
                                       evaluated_per_epoch / len(all_texts))
    trained_model: TrainedModel | None = None
    losses, rates, epochs = [], [], []
    steps = 0
    last_step: StepEvent | None = None
    final_metrics: list[EpochMetrics] = []
    try:
        final_held = split.folds[0][1] if split.scheme == "holdout" else ()
        for event in fit(model, encoded, data.label_ids, split.final_train, final_held, hp, clock=clock,
                         features=features, head=head, eval_batch=eval_rows):
            if isinstance(event, StepEvent):
                losses.append(event.loss)
                rates.append(event.learning_rate)
                steps = event.step
                last_step = event
            else:
                final_metrics.append(event)
            yield event
        speed = last_step.examples_per_s if last_step else 0.0
        train_seconds = last_step.train_s if last_step else 0.0

        fold_predictions: list[dict[int, int]] = []
        if split.scheme == "cross-validation" and not clock.timed_out:
            fold_predictions = [{} for _ in range(hp.epochs)]
            fold_losses: list[list[float]] = [[] for _ in range(hp.epochs)]
            for number, (train, held) in enumerate(split.folds, start=1):
                yield PhaseEvent(f"Cross-validation: fold {number} of {len(split.folds)} (trains without "
                                 f"{len(held)} examples, then predicts them)", number / (len(split.folds) + 1))
                fold_model = build_classifier(encoder, data.label_names, hp.seed, device)
                freeze(fold_model, hp.freeze_encoder)
                fold_head = head_on_features(fold_model)[1] if features is not None else None
                for event in fit(fold_model, encoded, data.label_ids, train, held, hp, clock=clock,
                                 run=f"fold {number}/{len(split.folds)}", features=features, head=fold_head,
                                 eval_batch=eval_rows):
                    if isinstance(event, EpochMetrics):
                        fold_predictions[event.epoch - 1].update(zip(held, event.predicted))
                        fold_losses[event.epoch - 1].append(event.eval_loss * len(held))
                    else:
                        yield event
                del fold_model
                if clock.timed_out:
                    break
            complete = [e for e in range(hp.epochs) if len(fold_predictions[e]) == n]
            for e in complete:
                predicted = tuple(fold_predictions[e][i] for i in range(n))
                accuracy = sum(p == data.label_ids[i] for i, p in enumerate(predicted)) / n
                epochs.append(EpochMetrics(epoch=e + 1, train_loss=final_metrics[e].train_loss if
                                           e < len(final_metrics) else float("nan"),
                                           eval_loss=sum(fold_losses[e]) / n, accuracy=accuracy, evaluated=n,
                                           predicted=predicted))
                yield epochs[-1]
        else:
            epochs = final_metrics

        if steps:
            model.eval()
            trained_model = TrainedModel(model=model, tokenizer=tokenizer, labels=data.label_names,
                                         max_length=hp_length, base=label)
        yield PhaseEvent("Predicting every example and new text with the trained model", 0.99)
        after = predict_ids(model, encoded, everything, features, head, eval_rows)
    except BaseException:
        del model
        raise

    if clock.timed_out:
        notes.append(f"Stopped at the wall-clock limit of {max_seconds:g} s after {steps} step(s), leaving time for "
                     "the evaluation and predictions that follow; the model keeps what it learned by then."
                     + (" Cross-validation did not finish, so no per-epoch accuracy."
                        if split.scheme == "cross-validation" and not epochs else ""))

    evaluated: dict[int, int] = {}
    if epochs and epochs[-1].accuracy is not None:
        held = split.folds[0][1] if split.scheme == "holdout" else tuple(range(n))
        evaluated = dict(zip(held, epochs[-1].predicted))
    per_class, confusion, macro_f1 = ((), (), None)
    if evaluated:
        keys = sorted(evaluated)
        per_class, confusion, macro_f1 = _class_metrics([data.label_ids[i] for i in keys],
                                                        [evaluated[i] for i in keys], data.label_names)
    names = data.label_names
    role_of = ("cross-validated" if split.scheme == "cross-validation" else None)
    held_set = set(split.folds[0][1]) if split.scheme == "holdout" else set()
    predictions = tuple(
        ExamplePrediction(
            text=data.texts[i], label=data.labels[i],
            role=role_of or ("held out" if i in held_set else "train"),
            before=names[int(before[i].argmax())], before_score=float(before[i].max()),
            after=names[int(after[i].argmax())], after_score=float(after[i].max()),
            evaluated_as=names[evaluated[i]] if i in evaluated else None)
        for i in range(n))
    new = tuple(
        TextPrediction(text=text, before=names[int(before[n + j].argmax())], before_score=float(before[n + j].max()),
                       after=names[int(after[n + j].argmax())], after_score=float(after[n + j].max()),
                       baseline=baseline.new_texts[j])
        for j, text in enumerate(new_texts))
    result = FinetuneResult(
        model=label, labels=names, label_counts=data.counts, hyperparameters=hp, scheme=split.scheme,
        scheme_description=split.description, n_train=len(split.final_train),
        n_evaluated=len(evaluated), losses=tuple(losses), learning_rates=tuple(rates),
        schedule=planned_schedule(len(split.final_train), hp), epoch_metrics=tuple(epochs),
        accuracy=epochs[-1].accuracy if epochs else None, macro_f1=macro_f1, per_class=per_class,
        confusion=confusion, baseline=baseline, predictions=predictions, new_texts=new,
        total_params=counts.total, trainable_params=counts.trainable, encoder_forward_examples=forward_examples,
        elapsed_s=time.perf_counter() - started, train_seconds=train_seconds, examples_per_s=speed, steps=steps,
        stopped_early=clock.timed_out, notes=tuple(notes))
    yield Finished(result=result, trained=trained_model)
