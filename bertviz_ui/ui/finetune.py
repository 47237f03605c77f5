"""Fine-tuning lab tab: edit labelled examples, set up, train live (cancellable, queued), compare with a baseline,
then try and download the session's own fine-tuned model, and compare it with the encoder it started from."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from typing import Any

import gradio as gr
import pandas as pd

from bertviz_ui import examples
from bertviz_ui.errors import BadInput
from bertviz_ui.models.lab import LabSession, Sessions, close_state, eager_attention, require_trained
from bertviz_ui.models.quantization import Precision
from bertviz_ui.registry import task_by_id
from bertviz_ui.render.finetune import (
    EXAMPLE_COLUMNS,
    accuracy_figure,
    data_html,
    examples_table,
    loss_figure,
    message_html,
    new_texts_table,
    params_html,
    predictions_table,
    schedule_figure,
    setup_html,
    status_html,
    try_table,
)
from bertviz_ui.render.finetune_compare import (
    attention_change_figure,
    cka_figure,
    compare_html,
    neighbours_table,
    top_heads_figure,
)
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
    Event,
    Finished,
    Hyperparameters,
    PhaseEvent,
    StepEvent,
    TrainedModel,
    check_compare_input,
    check_hyperparameters,
    compare_to_base,
    finetune,
    parse_csv,
    parse_new_texts,
    preview_setup,
    read_csv_file,
    table_rows,
    validate,
)
from bertviz_ui.tasks.finetune.compare import DEFAULT_TOP_N, TOP_N_RANGE
from bertviz_ui.ui import finetune_export
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, integer_api, raw_output, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work, user_errors
from bertviz_ui.ui.permalink import Link, Opening
from bertviz_ui.ui.queue import HEAVY, TRAINING

TASK = task_by_id("finetune")
TUTORIAL_TABLE = pd.DataFrame([[text, str(label)] for text, label in zip(examples.TUTORIAL_REVIEWS,
                                                                         examples.TUTORIAL_REVIEW_LABELS)],
                              columns=EXAMPLE_COLUMNS)
TUTORIAL_NEW_TEXTS = "\n".join(examples.TUTORIAL_TEST_TEXTS)
TRY_TEXT = "What a wonderful surprise."
# Live plots are re-sent at most this often (a step on a tiny model takes milliseconds).
STREAM_INTERVAL_S = 0.3
CANCELLED = "Cancelled: training stopped and the partly trained model was discarded."


def _hyperparameters(lr: Any, batch: Any, epochs: Any, warmup: Any, max_length: Any, clip: Any, seed: Any,
                     frozen: Any) -> Hyperparameters:
    return check_hyperparameters(learning_rate=lr, batch_size=batch, epochs=epochs, warmup_ratio=warmup,
                                 max_length=max_length, clip_norm=clip, seed=seed, freeze_encoder=frozen)


def run_preview(ctx: AppContext, model: str, table: Any, lr: Any, batch: Any, epochs: Any, warmup: Any,
                max_length: Any, clip: Any, seed: Any, frozen: Any) -> Shown:
    """Validate the data and settings; parameter counts and the LR schedule before any training."""
    data = validate(table_rows(table))
    hp = _hyperparameters(lr, batch, epochs, warmup, max_length, clip, seed, frozen)
    loaded = ctx.cache.load_for_task(TASK, model, precision=Precision.FULL)  # the model training will copy
    preview = preview_setup(data, hp, loaded.model)
    return {"header": setup_html(preview, model=loaded.label, untrained=loaded.source.untrained),
            "params": params_html(preview.counts, frozen=hp.freeze_encoder, model=loaded.label),
            "schedule": schedule_figure(preview.schedule, hp), "raw": preview.to_dict()}


def _cleared(message: str) -> Shown:
    """A status line, and the last run's results cleared (the plots are left to the caller)."""
    return {"status": message_html(message), "report": "", "confusion": None, "predictions": predictions_table(None),
            "new_texts": new_texts_table(None), "raw": None}


def run_finetune(ctx: AppContext, sessions: Sessions[TrainedModel], session: LabSession[TrainedModel] | None,
                 model: str, table: Any, lr: Any, batch: Any, epochs: Any, warmup: Any, max_length: Any, clip: Any,
                 seed: Any, frozen: Any, new_texts: Any, request: gr.Request = None,
                 progress: gr.Progress = gr.Progress()) -> Iterator[Shown]:  # noqa: B008 (gradio's progress marker)
    """Train this session's classifier, streaming status, loss and accuracy; then the report and predictions."""
    started = time.perf_counter()  # the status counts the whole run, loading included, not only training
    session = sessions.get(session, getattr(request, "session_hash", None))
    data = validate(table_rows(table))
    hp = _hyperparameters(lr, batch, epochs, warmup, max_length, clip, seed, frozen)
    texts = parse_new_texts(new_texts)
    with session.training_run(ctx.cache.device):
        try:
            # Training copies and updates these weights: never int8, whatever BERTVIZ_UI_QUANTIZE says.
            loaded = ctx.cache.load_for_task(TASK, model, precision=Precision.FULL)
            session.drop_model(loaded.device)
            yield {"session": session, **_cleared("Training started."), "loss": loss_figure([], None),
                   "accuracy": accuracy_figure([])}
            # Not kept in a local: the run (its copies and tensors) is freed before the memory is given back.
            yield from _stream(finetune(data, hp, encoder=loaded.model, tokenizer=loaded.tokenizer, label=loaded.label,
                                        source=loaded.source.ref, new_texts=texts, device=loaded.device, cancel=session.cancel,
                                        max_seconds=ctx.settings.finetune_seconds, budget=ctx.budget),
                               session, sessions, progress, started)
        except Cancelled:
            yield {"session": session, **_cleared(CANCELLED)}


def _stream(events: Iterable[Event | Finished], session: LabSession[TrainedModel], sessions: Sessions[TrainedModel],
            progress: gr.Progress, started: float) -> Iterator[Shown]:
    """What each training event changes on the page; the session keeps the model when the run finishes."""
    steps: list[StepEvent] = []
    scored: list[EpochMetrics] = []
    phase, last_sent = "", 0.0
    for event in events:
        if isinstance(event, Finished):
            result = event.result
            sessions.keep(session, event.trained)
            shown = finetune_export.finished(result, steps, total_s=time.perf_counter() - started)
            session.shown = (result, shown)  # the export shows this run as trained (it never trains again)
            yield {"session": session, **shown, "raw": result.to_dict()}
            return
        if isinstance(event, PhaseEvent):
            phase = event.message
            progress(event.fraction, desc=event.message)
            yield {"session": session, "status": message_html(phase)}
            continue
        if isinstance(event, EpochMetrics):
            if event.accuracy is not None:
                scored.append(event)
                yield {"session": session, "accuracy": accuracy_figure(scored)}
            continue
        if event.run == "final":
            steps.append(event)
            progress((event.step, event.total_steps), desc=f"Training: step {event.step} of {event.total_steps}",
                     unit="steps")
        if time.monotonic() - last_sent >= STREAM_INTERVAL_S or event.step == event.total_steps:
            last_sent = time.monotonic()
            shown = {"session": session, "status": status_html(event, phase=phase if event.run != "final" else "")}
            yield shown | ({"loss": loss_figure(steps, event.total_steps)} if event.run == "final" else {})


def run_cancel(session: LabSession[TrainedModel] | None, wait_s: float = 10.0) -> Shown:
    """Ask the session's training to stop (before its next step) and answer once it has (or after ``wait_s``): a
    progress message the run sent meanwhile then can't reach the page after this answer and stay on screen."""
    if session is None or not session.training:
        return {"status": message_html("Nothing to cancel: no training is running in this session.")}
    session.cancel.set()
    session.stopped(wait_s)
    return {"status": message_html(CANCELLED)}


def run_try(session: LabSession[TrainedModel] | None, text: Any) -> Shown:
    """The session's fine-tuned model on new texts, one per line."""
    trained = require_trained(session)
    texts = parse_new_texts(text)
    if not texts:
        raise BadInput("Type a text to classify (one per line).")
    result = trained.classify(texts)
    return {"table": try_table(result.texts, result.predictions, result.labels), "raw": result.to_dict()}


def run_compare(ctx: AppContext, session: LabSession[TrainedModel] | None, text: Any, top_n: Any) -> Shown:
    """The session's fine-tuned model vs. the encoder it started from (the cache's, full precision) on one text."""
    text, top_n = check_compare_input(text, top_n)  # before any model is looked up or loaded
    trained = require_trained(session)
    # Both models' attention weights are read: eager attention (sdpa returns none).
    loaded = ctx.cache.load_for_task(TASK, trained.base_ref or trained.base, attentions=True,
                                     precision=Precision.FULL)
    eager_attention(trained.model)
    result = compare_to_base(text, trained=trained, base=loaded.model, top_n=top_n, label=loaded.label,
                             budget=ctx.budget)
    return {"summary": compare_html(result), "cka": cka_figure(result), "heads": attention_change_figure(result),
            "top_heads": top_heads_figure(result), "neighbours": neighbours_table(result), "raw": result.to_dict()}


def run_download(session: LabSession[TrainedModel] | None) -> Shown:
    """save_pretrained (model, tokenizer, config with the labels), zipped in the session's temp folder."""
    trained = require_trained(session)
    return {"file": str(trained.save_zip(session.folder()))}


def _into_table(rows: list[tuple[str, str]]) -> Shown:
    data = validate(rows)  # problems show at once, naming the row
    return {"table": examples_table(data), "summary": data_html(data)}


def load_pasted(text: Any) -> Shown:
    """Pasted CSV/TSV into the table."""
    return _into_table(parse_csv(text))


def load_file(path: Any) -> Shown:
    """An uploaded CSV/TSV file (size-capped before it is read) into the table."""
    return _into_table(read_csv_file(path))


def build(ctx: AppContext, tab: gr.Tab) -> Opening:
    """Lay out the Fine-tuning lab inside the current gr.Blocks context; it opens with the seed text's reviews."""
    choices = ctx.model_choices(TASK)
    sessions: Sessions[TrainedModel] = Sessions()
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

    gr.Markdown("## 1. Data")
    table = gr.Dataframe(None, headers=EXAMPLE_COLUMNS, datatype=["str", "str"], column_count=2,
                         interactive=True, wrap=True,
                         label="Examples (text, label): edit cells, add rows; blank rows are ignored",
                         elem_id="finetune-table")
    with gr.Accordion("Paste or upload CSV/TSV (text, label; an optional header row)", open=False):
        pasted = gr.Textbox(label="CSV or TSV", lines=4, placeholder="text,label\nGreat film!,positive",
                            elem_id="finetune-csv")
        with gr.Row():
            paste_button = gr.Button("Load pasted rows", elem_id="finetune-load-csv")
            reset_button = gr.Button("Back to the seed's 8 reviews", elem_id="finetune-reset")
        upload = gr.File(label=f"CSV/TSV file (up to {MAX_CSV_BYTES // 1_000_000} MB)",
                         file_types=[".csv", ".tsv", ".txt"], type="filepath", elem_id="finetune-upload")

    gr.Markdown("## 2. Setup")
    model = gr.Dropdown(choices, value=choices[0], label="Base model", allow_custom_value=True,
                        info="An encoder; the lab adds the classification head.", elem_id="finetune-model")
    with gr.Row():
        lr = gr.Number(DEFAULTS["learning_rate"], label=f"Learning rate ({LR_RANGE[0]:g}-{LR_RANGE[1]:g})",
                       minimum=LR_RANGE[0], maximum=LR_RANGE[1], step=1e-6, elem_id="finetune-lr")
        batch = gr.Slider(*BATCH_RANGE, value=DEFAULTS["batch_size"], step=1, label="Batch size",
                          elem_id="finetune-batch")
        epochs = gr.Slider(*EPOCH_RANGE, value=DEFAULTS["epochs"], step=1, label="Epochs",
                           elem_id="finetune-epochs")
        warmup = gr.Slider(*WARMUP_RANGE, value=DEFAULTS["warmup_ratio"], step=0.05, label="Warmup ratio",
                           elem_id="finetune-warmup")
    with gr.Row():
        max_length = gr.Slider(*LENGTH_RANGE, value=DEFAULTS["max_length"], step=8,
                               label="Max length (tokens)", elem_id="finetune-max-length")
        clip = gr.Number(DEFAULTS["clip_norm"], label="Gradient clipping (max norm; 0 = off)", minimum=CLIP_RANGE[0],
                         maximum=CLIP_RANGE[1], elem_id="finetune-clip")
        seed_box = gr.Number(DEFAULTS["seed"], label="Seed", precision=0, minimum=SEED_RANGE[0],
                             maximum=SEED_RANGE[1], elem_id="finetune-seed")
        frozen = gr.Checkbox(False, label="Freeze encoder (train the head only)", elem_id="finetune-freeze")
    check_button = gr.Button("Check data and setup", elem_id="finetune-check")
    setup_panel = ErrorPanel("finetune-setup-error")
    setup_header = gr.HTML(padding=False, elem_id="finetune-setup")
    params = gr.HTML(padding=False, elem_id="finetune-params")
    schedule = gr.Plot(label="Learning-rate schedule", elem_id="finetune-schedule")
    setup_raw = gr.JSON(visible=False)

    gr.Markdown("## 3. Train")
    new_texts = gr.Textbox("", lines=2, label=f"New texts to predict before and after (one per line, "
                                                          f"up to {MAX_NEW_TEXTS})", elem_id="finetune-new-texts")
    with gr.Row():
        train_button = gr.Button("Train", variant="primary", elem_id="finetune-run")
        cancel_button = gr.Button("Cancel", variant="stop", elem_id="finetune-cancel")
    train_panel = ErrorPanel("finetune-error")
    status = gr.HTML(padding=False, elem_id="finetune-status")
    with gr.Row():
        loss_plot = gr.Plot(label="Loss", elem_id="finetune-loss")
        accuracy_plot = gr.Plot(label="Accuracy", elem_id="finetune-accuracy")
    report = gr.HTML(padding=False, elem_id="finetune-report")
    confusion = gr.Plot(label="Confusion matrix", elem_id="finetune-confusion")
    new_table = result_table("New texts: before and after training, and the baseline", "finetune-new-table")
    predictions = result_table("Every example: before and after training", "finetune-predictions")
    lab_export = finetune_export.control()
    raw = raw_output("finetune-json")

    gr.Markdown("## 4. Use the result")
    try_text = gr.Textbox(lines=2, label="Text for your fine-tuned model (one per line)",
                          elem_id="finetune-try-text")
    with gr.Row():
        try_button = gr.Button("Classify with my model", elem_id="finetune-try")
        download_button = gr.Button("Download my model (.zip of save_pretrained)", elem_id="finetune-download")
    use_panel = ErrorPanel("finetune-use-error")
    try_output = result_table("Your model's predictions", "finetune-try-table")
    try_raw = gr.JSON(visible=False)
    download = gr.File(label="Fine-tuned model", interactive=False, elem_id="finetune-file")

    gr.Markdown("## 5. Before vs after fine-tuning\n"
                "The same text through the encoder the lab started from and through your fine-tuned model: what "
                "fine-tuning changed in its layers (CKA) and its attention heads (Jensen-Shannon distance), and which "
                "training examples each encoder finds nearest.")
    with gr.Row():
        compare_text = gr.Textbox(lines=2, label=f"Text to compare (up to {MAX_TEXT_CHARS:,} characters)",
                                  elem_id="finetune-compare-text", scale=3)
        compare_top = gr.Slider(*TOP_N_RANGE, value=DEFAULT_TOP_N, step=1, label="Neighbours per encoder",
                                elem_id="finetune-compare-top", scale=1)
    compare_button = gr.Button("Compare before and after", elem_id="finetune-compare-run")
    compare_panel = ErrorPanel("finetune-compare-error")
    compare_summary = gr.HTML(padding=False, elem_id="finetune-compare-summary")
    cka_plot = gr.Plot(label="Layers (CKA)", elem_id="finetune-cka")
    heads_plot = gr.Plot(label="Heads (JS distance)", elem_id="finetune-heads")
    top_plot = gr.Plot(label="Most changed heads", elem_id="finetune-top-heads")
    neighbours = result_table("Nearest training examples: base vs fine-tuned encoder", "finetune-neighbours")
    compare_raw = raw_output("finetune-compare-json")

    integer_api(batch, epochs, max_length, compare_top)
    hyper = [lr, batch, epochs, warmup, max_length, clip, seed_box, frozen]
    out = Outputs(header=setup_header, params=params, schedule=schedule, raw=setup_raw, errors=setup_panel)
    preview = model_work("checking the setup")(functools.partial(run_preview, ctx))
    # Selecting the tab plots the schedule and counts the parameters before anything is trained.
    setup_panel.follow(gr.on([tab.select, check_button.click, frozen.change, lr.blur, batch.release, epochs.release,
                              warmup.release], out.wrap(preview), [model, table, *hyper], out.components,
                             api_name="finetune_preview", concurrency_id="finetune_preview",
                             # A setting changed while the preview of the last one runs is previewed after it
                             # (Gradio's default "once" dropped it, leaving a stale schedule on screen).
                             trigger_mode="always_last"))
    out = Outputs(table=table, summary=setup_header, errors=setup_panel)
    setup_panel.follow(paste_button.click(out.wrap(user_errors("reading the CSV")(load_pasted)), pasted,
                                          out.components, api_name="finetune_csv"))
    setup_panel.follow(upload.upload(out.wrap(user_errors("reading the file")(load_file)), upload, out.components,
                                     api_visibility="private"))
    reset_button.click(lambda: TUTORIAL_TABLE.copy(), None, table, api_visibility="private", queue=False)

    # Not a functools.partial: Gradio hands a handler its gr.Request only when the handler's type hints resolve, and
    # a partial's don't (the session would never be registered under its hash, so closing the tab would free nothing).
    def train(session: LabSession[TrainedModel] | None, model: str, table: Any, lr: Any, batch: Any, epochs: Any,
              warmup: Any, max_length: Any, clip: Any, seed: Any, frozen: Any, new_texts: Any,
              request: gr.Request = None,
              progress: gr.Progress = gr.Progress()) -> Iterator[Shown]:  # noqa: B008 (gradio's progress marker)
        yield from run_finetune(ctx, sessions, session, model, table, lr, batch, epochs, warmup, max_length, clip,
                                seed, frozen, new_texts, request=request, progress=progress)

    out = Outputs(session=state, status=status, loss=loss_plot, accuracy=accuracy_plot, report=report,
                  confusion=confusion, predictions=predictions, new_texts=new_table, raw=raw, errors=train_panel)
    # On ZeroGPU a training run may hold the GPU for its whole time limit, plus loading.
    training = model_work("training", duration=int(ctx.settings.finetune_seconds) + 60)(train)
    train_event = train_panel.follow(train_button.click(out.wrap(training), [state, model, table, *hyper, new_texts],
                                                        out.components, api_name="finetune", concurrency_limit=1,
                                                        concurrency_id=TRAINING))
    # Training is too heavy to start from a link: the link restores the model and settings, Train starts it.
    link = Link("finetune", model=model, lr=lr, batch=batch, epochs=epochs, warmup=warmup, max_length=max_length,
                clip=clip, seed=seed_box, frozen=frozen)
    finetune_export.wire(ctx, link, state, lab_export, train_panel)
    out = Outputs(status=status)
    cancel_button.click(out.wrap(run_cancel), state, out.components, cancels=[train_event], queue=False,
                        api_name="finetune_cancel")
    out = Outputs(table=try_output, raw=try_raw, errors=use_panel)
    use_panel.follow(try_button.click(out.wrap(model_work("classifying")(run_try)), [state, try_text], out.components,
                                      api_name="finetune_try", concurrency_id="finetune_use"))
    out = Outputs(file=download, errors=use_panel)
    use_panel.follow(download_button.click(out.wrap(user_errors("saving the model")(run_download)), state,
                                           out.components, api_name="finetune_download",
                                           concurrency_id="finetune_use"))

    out = Outputs(summary=compare_summary, cka=cka_plot, heads=heads_plot, top_heads=top_plot, neighbours=neighbours,
                  raw=compare_raw, errors=compare_panel)
    comparing = model_work("comparing before and after")(functools.partial(run_compare, ctx))
    compare_panel.follow(compare_button.click(out.wrap(comparing), [state, compare_text, compare_top], out.components,
                                              api_name="finetune_compare", concurrency_id=HEAVY, concurrency_limit=1))

    def close_tab(request: gr.Request | None) -> None:
        """demo.unload: the tab closed, so its training stops and its model and temp folder are freed now."""
        sessions.close(getattr(request, "session_hash", None))

    root = gr.context.Context.root_block
    if root is not None:
        root.unload(close_tab)
    return Opening({table: TUTORIAL_TABLE, new_texts: TUTORIAL_NEW_TEXTS, try_text: TRY_TEXT, compare_text: TRY_TEXT},
                   link)
