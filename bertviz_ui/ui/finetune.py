"""Fine-tuning lab tab: edit labelled examples, set up, train live (cancellable, queued), compare with a baseline,
then try and download the session's own fine-tuned model."""

from __future__ import annotations

import functools
import html
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from bertviz_ui import examples
from bertviz_ui.errors import BadInput
from bertviz_ui.models.cleanup import FINETUNE_PREFIX
from bertviz_ui.models.device import release_memory
from bertviz_ui.registry import task_by_id
from bertviz_ui.render.finetune import (
    accuracy_figure,
    confusion_figure,
    data_html,
    loss_figure,
    message_html,
    new_texts_table,
    params_html,
    predictions_table,
    report_html,
    schedule_figure,
    status_html,
    try_table,
)
from bertviz_ui.render.html import model_badge_html
from bertviz_ui.tasks.finetune import (
    BATCH_RANGE,
    CLIP_RANGE,
    DEFAULTS,
    EPOCH_RANGE,
    LENGTH_RANGE,
    LR_RANGE,
    MAX_CSV_BYTES,
    MAX_EXAMPLES,
    MAX_LABELS,
    MAX_NEW_TEXTS,
    MAX_TEXT_CHARS,
    SEED_RANGE,
    WARMUP_RANGE,
    Cancelled,
    EpochMetrics,
    Finished,
    PhaseEvent,
    StepEvent,
    TrainedModel,
    check_hyperparameters,
    finetune,
    parameter_counts,
    parse_csv,
    parse_new_texts,
    plan_split,
    planned_schedule,
    table_rows,
    validate,
)
from bertviz_ui.ui.components import raw_output
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work, user_errors
from bertviz_ui.ui.queue import TRAINING

TASK = task_by_id("finetune")
COLUMNS = ["text", "label"]
TUTORIAL_TABLE = pd.DataFrame([[text, str(label)] for text, label in zip(examples.TUTORIAL_REVIEWS, examples.TUTORIAL_REVIEW_LABELS)],
                          columns=COLUMNS)
TUTORIAL_NEW_TEXTS = "\n".join(examples.TUTORIAL_TEST_TEXTS)
# Live plots are re-sent at most this often (a step on a tiny model takes milliseconds).
STREAM_INTERVAL_S = 0.3
# Fine-tuned models kept at once across all sessions (each is a full copy of its encoder: 90 MB for MiniLM,
# 270 MB for distilbert-base). Finishing a training beyond this frees the model trained longest ago.
MAX_KEPT_MODELS = 8


class LabSession:
    """What one browser session owns: its fine-tuned model, a training lock, a cancel flag, a temp folder."""

    def __init__(self) -> None:
        self.trained: TrainedModel | None = None
        self.lock = threading.Lock()
        self.cancel = threading.Event()
        self.workdir: Path | None = None
        self.closed = False
        self.evicted = False  # its model was freed to make room for other sessions' models

    @property
    def training(self) -> bool:
        return self.lock.locked()

    def folder(self) -> Path:
        """This session's temp folder (downloads), made on first use."""
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=FINETUNE_PREFIX))
        return self.workdir

    def close(self) -> None:
        """Stop any training within a step, drop the model and delete the temp folder."""
        self.closed = True
        self.cancel.set()
        device = None
        if self.trained is not None:
            device = str(next(self.trained.model.parameters()).device)
        self.trained = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        release_memory(device or "cpu")


class Sessions:
    """The lab sessions of one app, by gradio session hash, so that closing a tab frees its model at once, and at
    most ``max_kept`` fine-tuned models are held at a time (the one trained longest ago goes first)."""

    def __init__(self, max_kept: int = MAX_KEPT_MODELS) -> None:
        self._lock = threading.Lock()
        self._by_hash: weakref.WeakValueDictionary[str, LabSession] = weakref.WeakValueDictionary()
        self.max_kept = max_kept
        self._kept: list[weakref.ReferenceType[LabSession]] = []  # sessions holding a model, oldest first

    def keep(self, session: LabSession, trained: TrainedModel) -> None:
        """Give ``session`` its fine-tuned model, freeing the oldest other sessions' models beyond max_kept."""
        with self._lock:
            self._kept = [ref for ref in self._kept if (other := ref()) is not None and other.trained is not None
                          and other is not session]
            session.trained, session.evicted = trained, False
            self._kept.append(weakref.ref(session))
            evict = [ref() for ref in self._kept[:-self.max_kept]] if len(self._kept) > self.max_kept else []
            self._kept = self._kept[-self.max_kept:]
        for other in evict:
            if other is not None and other.trained is not None:
                device = str(next(other.trained.model.parameters()).device)
                other.trained, other.evicted = None, True
                release_memory(device)

    @property
    def kept(self) -> int:
        with self._lock:
            return sum(1 for ref in self._kept if (session := ref()) is not None and session.trained is not None)

    def get(self, session: LabSession | None, request: gr.Request | None) -> LabSession:
        """The session's LabSession (made on first use) registered under its hash."""
        if session is None or session.closed:
            session = LabSession()
        key = getattr(request, "session_hash", None)
        if key:
            with self._lock:
                self._by_hash[key] = session
        return session

    def close(self, request: gr.Request | None) -> None:
        """Called when a tab closes (demo.unload)."""
        key = getattr(request, "session_hash", None)
        with self._lock:
            session = self._by_hash.pop(key, None) if key else None
        if session is not None:
            session.close()

    def __len__(self) -> int:
        return len(self._by_hash)


def close_state(session: Any) -> None:
    """gr.State's delete_callback: a session's state is deleted (tab closed an hour ago, or expired)."""
    if isinstance(session, LabSession):
        session.close()


def _hyperparameters(lr: Any, batch: Any, epochs: Any, warmup: Any, max_length: Any, clip: Any, seed: Any,
                     frozen: Any) -> Any:
    return check_hyperparameters(learning_rate=lr, batch_size=batch, epochs=epochs, warmup_ratio=warmup,
                                 max_length=max_length, clip_norm=clip, seed=seed, freeze_encoder=frozen)


def run_preview(ctx: AppContext, model: str, table: Any, lr: Any, batch: Any, epochs: Any, warmup: Any,
                max_length: Any, clip: Any, seed: Any, frozen: Any) -> tuple:
    """Validate the data and settings; parameter counts and the LR schedule before any training."""
    data = validate(table_rows(table))
    hp = _hyperparameters(lr, batch, epochs, warmup, max_length, clip, seed, frozen)
    loaded = ctx.cache.load_for_task(TASK, model)
    counts = parameter_counts(loaded.model, len(data.label_names), hp.freeze_encoder)
    split = plan_split(data.label_ids, hp.seed)
    schedule = planned_schedule(len(split.final_train), hp)
    header = (model_badge_html(loaded.label, untrained=loaded.source.untrained) + data_html(data)
              + f"<p>{html.escape(split.description)}</p>")
    payload = {"labels": list(data.label_names), "label_counts": data.counts, "notes": list(data.notes),
               "scheme": split.scheme, "total_params": counts.total, "trainable_params": counts.trainable,
               "schedule": list(schedule)}
    return header, params_html(counts, frozen=hp.freeze_encoder, model=loaded.label), schedule_figure(
        schedule, hp), payload


def run_finetune(ctx: AppContext, sessions: Sessions, session: LabSession | None, model: str, table: Any, lr: Any,
                 batch: Any, epochs: Any, warmup: Any, max_length: Any, clip: Any, seed: Any, frozen: Any,
                 new_texts: Any, request: gr.Request = None,
                 progress: gr.Progress = gr.Progress()) -> Iterator:  # noqa: B008 (gradio's marker for progress)
    """Train this session's classifier, streaming status, loss and accuracy; then the report and predictions."""
    session = sessions.get(session, request)
    data = validate(table_rows(table))
    hp = _hyperparameters(lr, batch, epochs, warmup, max_length, clip, seed, frozen)
    texts = parse_new_texts(new_texts)
    if not session.lock.acquire(blocking=False):
        raise BadInput("This session is already training a model: wait for it to finish, or press Cancel.")
    try:
        session.cancel.clear()
        loaded = ctx.cache.load_for_task(TASK, model)
        previous, session.trained = session.trained, None
        del previous
        release_memory(loaded.device)
        steps: list[StepEvent] = []
        epochs_seen: list[EpochMetrics] = []
        phase, last_sent = "", 0.0
        empty = gr.update()
        yield (session, message_html("Training started."), loss_figure([], None), accuracy_figure([]), "",
               None, predictions_table(None), new_texts_table(None), None)
        for event in finetune(data, hp, encoder=loaded.model, tokenizer=loaded.tokenizer, label=loaded.label,
                              new_texts=texts, device=loaded.device, cancel=session.cancel,
                              max_seconds=ctx.settings.finetune_seconds, budget=ctx.budget):
            if isinstance(event, Finished):
                result = event.result
                sessions.keep(session, event.trained)
                done = (f"Finished: {result.steps} steps in {result.train_seconds:.1f} s "
                        f"({result.examples_per_s:.1f} examples/s).")
                yield (session, message_html(done), loss_figure(steps, steps[-1].total_steps if steps else None),
                       accuracy_figure(result.epoch_metrics, result.baseline.accuracy), report_html(result),
                       confusion_figure(result) if result.confusion else None, predictions_table(result),
                       new_texts_table(result), result.to_dict())
                return
            if isinstance(event, PhaseEvent):
                phase = event.message
                progress(event.fraction, desc=event.message)
                yield (session, message_html(phase), empty, empty, empty, empty, empty, empty, empty)
                continue
            if isinstance(event, EpochMetrics):
                if event.accuracy is not None:
                    epochs_seen.append(event)
                    yield (session, empty, empty, accuracy_figure(epochs_seen), empty, empty, empty, empty, empty)
                continue
            if event.run == "final":
                steps.append(event)
                progress((event.step, event.total_steps), desc=f"Training: step {event.step} of {event.total_steps}",
                         unit="steps")
            if time.monotonic() - last_sent >= STREAM_INTERVAL_S or event.step == event.total_steps:
                last_sent = time.monotonic()
                yield (session, status_html(event, phase=phase if event.run != "final" else ""),
                       loss_figure(steps, event.total_steps) if event.run == "final" else empty, empty, empty,
                       empty, empty, empty, empty)
    except Cancelled:
        yield (session, message_html("Cancelled: training stopped and the partly trained model was discarded."),
               gr.update(), gr.update(), "", None, predictions_table(None), new_texts_table(None), None)
    finally:
        session.lock.release()
        release_memory(ctx.cache.device)


def run_cancel(session: LabSession | None) -> str:
    """Ask the session's training to stop (it stops before its next step)."""
    if session is None or not session.training:
        return message_html("Nothing to cancel: no training is running in this session.")
    session.cancel.set()
    return message_html("Cancelled: training stopped and the partly trained model was discarded.")


def _trained(session: LabSession | None) -> TrainedModel:
    if session is not None and session.trained is None and session.evicted:
        raise BadInput(f"Your fine-tuned model was freed to make room: this server keeps at most {MAX_KEPT_MODELS} "
                       "at a time, the oldest going first. Press Train to train it again.")
    if session is None or session.trained is None:
        raise BadInput("No fine-tuned model in this session yet: press Train first (each browser session trains "
                       "and keeps its own).")
    return session.trained


def run_try(session: LabSession | None, text: Any) -> tuple:
    """The session's fine-tuned model on new texts, one per line."""
    trained = _trained(session)
    texts = parse_new_texts(text)
    if not texts:
        raise BadInput("Type a text to classify (one per line).")
    predictions = trained.predict(texts)
    payload = {"labels": list(trained.labels),
               "rows": [{"text": t, "label": label, "score": score,
                         "scores": dict(zip(trained.labels, probabilities))}
                        for t, (label, score, probabilities) in zip(texts, predictions)]}
    return try_table(texts, predictions, trained.labels), payload


def run_download(session: LabSession | None) -> str:
    """save_pretrained (model, tokenizer, config with the labels), zipped in the session's temp folder."""
    trained = _trained(session)
    return str(trained.save_zip(session.folder()))


def _into_table(rows: list[tuple[str, str]]) -> tuple:
    data = validate(rows)  # problems show at once, naming the row
    return pd.DataFrame([list(row) for row in zip(data.texts, data.labels)], columns=COLUMNS), data_html(data)


def load_pasted(text: Any) -> tuple:
    """Pasted CSV/TSV into the table."""
    return _into_table(parse_csv(text))


def load_file(path: Any) -> tuple:
    """An uploaded CSV/TSV file (size-capped before it is read) into the table."""
    if not path:
        raise BadInput("No file was uploaded.")
    size = os.path.getsize(str(path))
    if size > MAX_CSV_BYTES:
        raise BadInput(f"The file is {size:,} bytes; the lab reads CSV files of up to {MAX_CSV_BYTES:,}.")
    return _into_table(parse_csv(Path(str(path)).read_bytes()))


def build(ctx: AppContext, tab: gr.Tab) -> None:
    """Lay out the Fine-tuning lab inside the current gr.Blocks context."""
    choices = ctx.model_choices(TASK)
    sessions = Sessions()
    gr.Markdown(
        "Train a classifier on **your own examples** and watch it learn: a copy of the encoder gets a new "
        "classification head on the `[CLS]` vector, and AdamW with a linear warmup-then-decay schedule and gradient "
        "clipping updates it, as in the seed text. The shared model that serves the other tabs is never trained: "
        "each browser session trains and keeps its own copy, freed when the tab closes. Trainings run one at a "
        "time; the queue position shows while you wait. Limits: "
        f"{MAX_EXAMPLES:,} examples, {MAX_TEXT_CHARS:,} characters per text, {MAX_LABELS} labels, "
        f"{ctx.settings.finetune_seconds:g} s per training."
    )
    state = gr.State(None, delete_callback=close_state)

    gr.Markdown("### 1. Data")
    table = gr.Dataframe(TUTORIAL_TABLE, headers=COLUMNS, datatype=["str", "str"], column_count=2, interactive=True,
                         wrap=True, label="Examples (text, label): edit cells, add rows; blank rows are ignored",
                         elem_id="finetune-table")
    with gr.Accordion("Paste or upload CSV/TSV (text, label; an optional header row)", open=False):
        pasted = gr.Textbox(label="CSV or TSV", lines=4, placeholder="text,label\nGreat film!,positive",
                            elem_id="finetune-csv")
        with gr.Row():
            paste_button = gr.Button("Load pasted rows", elem_id="finetune-load-csv")
            reset_button = gr.Button("Back to the seed's 8 reviews", elem_id="finetune-reset")
        upload = gr.File(label=f"CSV/TSV file (up to {MAX_CSV_BYTES // 1_000_000} MB)",
                         file_types=[".csv", ".tsv", ".txt"], type="filepath", elem_id="finetune-upload")

    gr.Markdown("### 2. Setup")
    model = gr.Dropdown(choices, value=choices[0], label="Base model", allow_custom_value=True,
                        info="An encoder; the lab adds the classification head.", elem_id="finetune-model")
    with gr.Row():
        lr = gr.Number(DEFAULTS["learning_rate"], label=f"Learning rate ({LR_RANGE[0]:g}-{LR_RANGE[1]:g})",
                       minimum=LR_RANGE[0], maximum=LR_RANGE[1], step=1e-6, elem_id="finetune-lr")
        batch = gr.Slider(*BATCH_RANGE, value=DEFAULTS["batch_size"], step=1, label="Batch size",
                          elem_id="finetune-batch")
        epochs = gr.Slider(*EPOCH_RANGE, value=DEFAULTS["epochs"], step=1, label="Epochs", elem_id="finetune-epochs")
        warmup = gr.Slider(*WARMUP_RANGE, value=DEFAULTS["warmup_ratio"], step=0.05, label="Warmup ratio",
                           elem_id="finetune-warmup")
    with gr.Row():
        max_length = gr.Slider(*LENGTH_RANGE, value=DEFAULTS["max_length"], step=8, label="Max length (tokens)",
                               elem_id="finetune-max-length")
        clip = gr.Number(DEFAULTS["clip_norm"], label="Gradient clipping (max norm; 0 = off)", minimum=CLIP_RANGE[0],
                         maximum=CLIP_RANGE[1], elem_id="finetune-clip")
        seed_box = gr.Number(DEFAULTS["seed"], label="Seed", precision=0, minimum=SEED_RANGE[0],
                             maximum=SEED_RANGE[1], elem_id="finetune-seed")
        frozen = gr.Checkbox(False, label="Freeze encoder (train the head only)", elem_id="finetune-freeze")
    check_button = gr.Button("Check data and setup", elem_id="finetune-check")
    setup_header = gr.HTML(padding=False, elem_id="finetune-setup")
    params = gr.HTML(padding=False, elem_id="finetune-params")
    schedule = gr.Plot(label="Learning-rate schedule", elem_id="finetune-schedule")
    setup_raw = gr.JSON(visible=False)

    gr.Markdown("### 3. Train")
    new_texts = gr.Textbox(TUTORIAL_NEW_TEXTS, lines=2, label=f"New texts to predict before and after (one per line, "
                                                          f"up to {MAX_NEW_TEXTS})", elem_id="finetune-new-texts")
    with gr.Row():
        train_button = gr.Button("Train", variant="primary", elem_id="finetune-run")
        cancel_button = gr.Button("Cancel", variant="stop", elem_id="finetune-cancel")
    status = gr.HTML(padding=False, elem_id="finetune-status")
    with gr.Row():
        loss_plot = gr.Plot(label="Loss", elem_id="finetune-loss")
        accuracy_plot = gr.Plot(label="Accuracy", elem_id="finetune-accuracy")
    report = gr.HTML(padding=False, elem_id="finetune-report")
    confusion = gr.Plot(label="Confusion matrix", elem_id="finetune-confusion")
    new_table = gr.Dataframe(new_texts_table(None), label="New texts: before and after training, and the baseline", interactive=False,
                             wrap=True, elem_id="finetune-new-table")
    predictions = gr.Dataframe(predictions_table(None), label="Every example: before and after training", interactive=False, wrap=True,
                               elem_id="finetune-predictions")
    raw = raw_output("finetune-json")

    gr.Markdown("### 4. Use the result")
    try_text = gr.Textbox("What a wonderful surprise.", lines=2, label="Text for your fine-tuned model (one per line)",
                          elem_id="finetune-try-text")
    with gr.Row():
        try_button = gr.Button("Classify with my model", elem_id="finetune-try")
        download_button = gr.Button("Download my model (.zip of save_pretrained)", elem_id="finetune-download")
    try_output = gr.Dataframe(try_table([], [], []), label="Your model's predictions", interactive=False, wrap=True,
                              elem_id="finetune-try-table")
    try_raw = gr.JSON(visible=False)
    download = gr.File(label="Fine-tuned model", interactive=False, elem_id="finetune-file")

    hyper = [lr, batch, epochs, warmup, max_length, clip, seed_box, frozen]
    preview = model_work("checking the setup")(functools.partial(run_preview, ctx))
    # Selecting the tab plots the schedule and counts the parameters before anything is trained.
    gr.on([tab.select, check_button.click, frozen.change, lr.blur, batch.release, epochs.release, warmup.release],
          preview, [model, table, *hyper],
          [setup_header, params, schedule, setup_raw], api_name="finetune_preview", concurrency_id="finetune_preview")
    paste_button.click(user_errors("reading the CSV")(load_pasted), pasted, [table, setup_header],
                       api_name="finetune_csv")
    upload.upload(user_errors("reading the file")(load_file), upload, [table, setup_header], api_visibility="private")
    reset_button.click(lambda: TUTORIAL_TABLE.copy(), None, table, api_visibility="private", queue=False)

    # On ZeroGPU a training run may hold the GPU for its whole time limit, plus loading.
    train = model_work("training", duration=int(ctx.settings.finetune_seconds) + 60)(
        functools.partial(run_finetune, ctx, sessions))
    train_event = train_button.click(
        train, [state, model, table, *hyper, new_texts],
        [state, status, loss_plot, accuracy_plot, report, confusion, predictions, new_table, raw],
        api_name="finetune", concurrency_limit=1, concurrency_id=TRAINING)
    cancel_button.click(run_cancel, state, status, cancels=[train_event], queue=False, api_name="finetune_cancel")
    try_button.click(model_work("classifying")(run_try), [state, try_text], [try_output, try_raw],
                     api_name="finetune_try", concurrency_id="finetune_use")
    download_button.click(user_errors("saving the model")(run_download), state, download,
                          api_name="finetune_download", concurrency_id="finetune_use")
    root = gr.context.Context.root_block
    if root is not None:
        root.unload(sessions.close)
