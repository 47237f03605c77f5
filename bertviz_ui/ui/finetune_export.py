"""The Fine-tuning lab's "Download this view (HTML)": the session's last finished training, never trained again."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import gradio as gr

from bertviz_ui.errors import BadInput
from bertviz_ui.models.lab import LabSession
from bertviz_ui.render.export import ViewExport
from bertviz_ui.render.finetune import (
    accuracy_figure,
    confusion_figure,
    finished_html,
    loss_figure,
    new_texts_table,
    predictions_table,
    report_html,
)
from bertviz_ui.tasks.finetune import FinetuneResult, StepEvent, TrainedModel
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import user_errors
from bertviz_ui.ui.export import export_control, export_id, permalink, saved, write_export
from bertviz_ui.ui.permalink import Link

# What the lab's export shows, from the session's last finished training, in order.
LAB_PARTS = (("status", ""), ("loss", "Training loss"), ("accuracy", "Accuracy"), ("report", "Report"),
             ("confusion", "Confusion matrix"), ("new_texts", "New texts: before and after training, and the baseline"),
             ("predictions", "Every example: before and after training"))


def finished(result: FinetuneResult, steps: Sequence[StepEvent], *, total_s: float) -> Shown:
    """What the lab shows once a training finishes (and what its export holds)."""
    return {"status": finished_html(result, total_s=total_s),
            "loss": loss_figure(steps, steps[-1].total_steps if steps else None),
            "accuracy": accuracy_figure(result.epoch_metrics, result.baseline.accuracy),
            "report": report_html(result), "confusion": confusion_figure(result) if result.confusion else None,
            "predictions": predictions_table(result), "new_texts": new_texts_table(result)}


def control() -> tuple[gr.Button, gr.File]:
    """The lab's export button and file, laid out in the current context."""
    return export_control(export_id("finetune"))


def export_lab(ctx: AppContext, link: Link, session: LabSession[TrainedModel] | None) -> Shown:
    """The session's last finished training (its curves, report and tables) as a standalone file: never trains."""
    if session is None or session.shown is None:
        raise BadInput("Nothing to export yet: train a model in this session first.")
    result, shown = session.shown
    hp = result.hyperparameters
    settings = {"model": result.model, "lr": hp.learning_rate, "batch": hp.batch_size, "epochs": hp.epochs,
                "warmup": hp.warmup_ratio, "max_length": hp.max_length, "clip": hp.clip_norm, "seed": hp.seed,
                "frozen": hp.freeze_encoder}
    labels = {name: str(component.label) for name, component in link.components.items()}
    view = ViewExport(title="Fine-tuning lab", model=result.model,
                      settings={labels[name]: value for name, value in settings.items() if name != "model"}
                      | {"Examples": f"{result.n_train} trained on, {result.n_evaluated} evaluated",
                         "Labels": ", ".join(result.labels)},
                      permalink=permalink(link, settings))
    return {"file": gr.update(value=write_export(ctx, view, shown, LAB_PARTS, "finetune"), visible=True)}



def wire(ctx: AppContext, link: Link, state: gr.State, control: tuple[gr.Button, gr.File], panel: ErrorPanel) -> None:
    """Connect the lab's export button (it reads the session only: it runs beside training, in the lab's light
    group)."""
    button, file = control
    out = Outputs(file=file, errors=panel)
    event = button.click(out.wrap(user_errors("exporting the lab's results")(functools.partial(export_lab, ctx, link))),
                         state, out.components, api_visibility="private", concurrency_id="finetune_use")
    panel.follow(event, clears=False)
    saved(event, file)
