""""Which explanation to trust?": the deletion check's layout, built where it is offered (Sentiment, Masked words), and
its one handler (/explanation_check)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import gradio as gr

from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.models.quantization import Precision
from bertviz_ui.registry import task_by_id
from bertviz_ui.render.explanation_check import aopc_table, curves_figure, scores_html, summary_html
from bertviz_ui.render.html import model_badge_html
from bertviz_ui.tasks.explanation_check import (
    DEFAULT_STEPS,
    MAX_STEPS,
    MAX_WORDS,
    SENTIMENT,
    TASKS,
    check_explanations,
    check_request,
)
from bertviz_ui.tasks.fill_mask import MAX_MASKS, check_mlm_head
from bertviz_ui.tasks.sentiment import check_classifier
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, integer_api, raw_output, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work
from bertviz_ui.ui.queue import HEAVY

API_NAME = "explanation_check"


def _trained_head(task: str):
    def accept(loaded: LoadedModel) -> None:
        (check_classifier if task == SENTIMENT else check_mlm_head)(loaded.newly_initialized)
    return accept


def run_check(ctx: AppContext, task: str, text: str, model: str, mask_number: Any, steps: Any) -> Shown:
    """Score the prediction's words four ways and delete them in each method's order; a blank model is the task's
    server default."""
    request = check_request(task, text, mask_number, steps)  # refused before a model loads
    owner = task_by_id(request.task)
    # Gradients need full precision (int8 layers have none); attention weights need eager attention.
    loaded = ctx.cache.load_for_task(owner, (model or "").strip() or ctx.default_model(owner), attentions=True,
                                     accept=_trained_head(request.task), precision=Precision.FULL)
    result = check_explanations(request.task, request.text, model=loaded.model, tokenizer=loaded.tokenizer,
                                mask_number=request.mask_number, steps=request.steps, label=loaded.label,
                                newly_initialized=loaded.newly_initialized, budget=ctx.budget)
    header = model_badge_html(loaded.label, untrained=loaded.source.untrained) + summary_html(result)
    return {"header": header, "plot": curves_figure(result), "table": aopc_table(result),
            "scores": scores_html(result), "raw": result.to_dict()}


@dataclass(frozen=True)
class Section:
    """The check's components in one place: what the user sets, the button, and where the results go."""

    text: gr.Textbox
    mask_number: gr.Number
    steps: gr.Slider
    button: gr.Button
    outputs: Outputs
    panel: ErrorPanel


def section(prefix: str, *, task: str) -> Section:
    """Lay out the check inside the current Blocks context (components start empty: they are API defaults).

    Args:
        prefix: elem_id prefix ("sentiment-check", "fill-mask-check").
        task: "sentiment" or "fill_mask" (fill_mask asks which mask).
    """
    read = "[CLS]" if task == SENTIMENT else "the [MASK] being predicted"
    gr.Markdown(
        "Four explanations score every word of one prediction: integrated gradients, gradient × input, the last "
        f"layer's attention from {read} (heads averaged) and attention rollout. Which one is faithful? Delete the "
        "words each ranks highest (each becomes `[MASK]`), a few more at a time, run the model again on every "
        "version and watch the probability of the prediction: the explanation whose curve falls fastest found the "
        f"words the model uses. Up to {MAX_WORDS} words.")
    label = "Text (one review)" if task == SENTIMENT else "Text with [MASK]"
    text = gr.Textbox(label=label, lines=2, elem_id=f"{prefix}-text")
    with gr.Row():
        mask_number = gr.Number(1, minimum=1, maximum=MAX_MASKS, label="Mask number (1 = first)",
                                visible=task != SENTIMENT, elem_id=f"{prefix}-mask", min_width=160)
        steps = gr.Slider(1, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="Integration steps",
                          elem_id=f"{prefix}-steps")
    button = gr.Button("Check the explanations", variant="primary", elem_id=f"{prefix}-run")
    panel = ErrorPanel(f"{prefix}-error")
    header = gr.HTML(padding=False, elem_id=f"{prefix}-header")
    plot = gr.Plot(label="Deletion curves", elem_id=f"{prefix}-plot")
    table = result_table("Ranked by AOPC (higher = more faithful)", f"{prefix}-table")
    scores = gr.HTML(padding=False, elem_id=f"{prefix}-scores")
    raw = raw_output(f"{prefix}-json")
    integer_api(mask_number, steps)
    outputs = Outputs(header=header, plot=plot, table=table, scores=scores, raw=raw, errors=panel)
    return Section(text=text, mask_number=mask_number, steps=steps, button=button, outputs=outputs, panel=panel)


def connect(ctx: AppContext, shown: Section, task: gr.components.Component, model: gr.components.Component, *,
            public: bool) -> None:
    """Run the check on the button: the API's /explanation_check when ``public``, else a private event (Gradio gives
    a second event of the same api_name another name)."""
    handler = shown.outputs.wrap(model_work("checking the explanations")(functools.partial(run_check, ctx)))
    visibility = {"api_name": API_NAME} if public else {"api_visibility": "private"}
    shown.panel.follow(shown.button.click(
        handler, [task, shown.text, model, shown.mask_number, shown.steps], shown.outputs.components,
        concurrency_id=HEAVY, concurrency_limit=1, **visibility))


def task_input(task: str) -> gr.Radio:
    """The task the check explains, hidden: the tab decides it; API clients pass it."""
    return gr.Radio(list(TASKS), value=task, label="Task", visible=False)
