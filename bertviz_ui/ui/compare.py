"""Compare with…: the same input through a second model, side by side with the first, and what differs.

One section per tab (``compare_section``, called in one line at the end of the tab's build) and one ``/compare`` endpoint
(``api``). Each side is what the tab's own endpoint returns for that model (its ``raw``, built the same way here).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gradio as gr

from bertviz_ui.errors import BadInput
from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.models.sources import resolve
from bertviz_ui.registry import Task, task_by_id
from bertviz_ui.render import compare as view
from bertviz_ui.tasks.attention import attention_view, check_layer, check_selection
from bertviz_ui.tasks.budget import Budget, OverBudget
from bertviz_ui.tasks.compare import (
    COMPARED_TASKS,
    check_task,
    diff_attention,
    diff_fill_mask,
    diff_sentiment,
    diff_tokenization,
    side_budget,
)
from bertviz_ui.tasks.encoder import run_encoder
from bertviz_ui.tasks.fill_mask import MAX_TOP_K, check_mlm_head, iterative_fill, normalize_masks, predict_masks
from bertviz_ui.tasks.sentiment import check_classifier, classify, parse_lines
from bertviz_ui.tasks.tokenizer import tokenize
from bertviz_ui.tasks.validation import check_text, check_whole_number
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, integer_api, raw_output
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work
from bertviz_ui.ui.queue import HEAVY

# What to look for, shown above each tab's Compare button.
HINTS = {
    "tokenizer": "The same text through the tokenizer chosen in **Compare with** at the top of the tab. Look for words one vocabulary keeps whole and the other "
                 "cuts into pieces, and for case or accents one of them drops: the model only ever sees the pieces.",
    "fill_mask": "The same masked text through a second masked-language model. Look for words that enter or leave "
                 "the top-k and for probability shifts: they show what each model learned from its training text.",
    "sentiment": "The same lines through a second classifier. Look for lines where the predicted labels differ and "
                 "for large probability deltas; labels are matched by name, and a label only one model has gets no "
                 "delta.",
    "attention": "The same text through a second encoder, once. The distance per layer says how differently the two "
                 "attend (0 = the same, 1 = to different words), measured between words so that different tokenizers "
                 "still compare; it needs the same number of layers.",
}
TOP_K = 5  # the Masked words tab's own default


def _accept(task: Task) -> Callable[[LoadedModel], None] | None:
    """The tab's own check that a model has a trained head for the task (its cache accept check)."""
    if task.id == "fill_mask":
        return lambda loaded: check_mlm_head(loaded.newly_initialized)
    if task.id == "sentiment":
        return lambda loaded: check_classifier(loaded.newly_initialized)
    return None


class _Side:
    """One model of the comparison: its name in messages, and its work refused with the comparison's reason."""

    def __init__(self, name: str, loaded: LoadedModel):
        self.name, self.loaded = name, loaded

    def run(self, work: Callable[[], Any]) -> Any:
        try:
            return work()
        except OverBudget as error:
            raise OverBudget(f"Model {self.name}: {error} A comparison gives each of its two models half of one "
                             "request's work.") from None


def _models(ctx: AppContext, task: Task, model_a: Any, model_b: Any) -> tuple[str, str]:
    """Both references checked by the server's policy before anything loads: A defaults to the tab's model."""
    a = str(model_a).strip() if model_a else ""
    b = str(model_b).strip() if model_b else ""
    if not b:
        raise BadInput("Choose a second model to compare with (model_b): a Hub id, a local directory or one of the "
                       "tab's models.")
    a = a or ctx.default_model(task)
    for ref in (a, b):
        resolve(ref, ctx.cache.cache_dir, ctx.cache.policy)
    return a, b


def run_compare(ctx: AppContext, task: str, text: str, model_a: str, model_b: str, text_pair: str, top_k: Any,
                layer: Any) -> Shown:
    """Validate everything, load both models, run each as its tab would, then draw both and what differs."""
    task_id = check_task(task)
    spec = task_by_id(task_id)
    pair = check_text(text_pair, "Sentence B", required=False)
    if pair and task_id not in ("tokenizer", "attention"):
        raise BadInput("Sentence B applies to the tokenizer and attention comparisons only.")
    if task_id == "sentiment":
        parse_lines(text)
    else:
        text = check_text(text, "Text")
    k = check_whole_number(TOP_K if top_k in (None, "") else top_k, "Top-k", low=1, high=MAX_TOP_K)
    chosen_layer = check_layer(0 if layer in (None, "") else layer)
    refs = _models(ctx, spec, model_a, model_b)
    attentions = task_id == "attention"
    sides = [_Side(name, ctx.cache.load_for_task(spec, ref, attentions=attentions, accept=_accept(spec)))
             for name, ref in zip("AB", refs)]
    budget = side_budget(ctx.budget)
    run = {"tokenizer": _tokenizer, "fill_mask": _fill_mask, "sentiment": _sentiment, "attention": _attention}[task_id]
    shown = run(ctx, budget, sides, text=text, pair=pair, top_k=k, layer=chosen_layer)
    a, b = (side.loaded for side in sides)
    header = view.header_html(a.label, b.label, untrained_a=a.source.untrained, untrained_b=b.source.untrained)
    return {"header": header, "sides": shown["sides"], "diff": shown["diff"],
            "raw": {"task": task_id, "a": shown["a"], "b": shown["b"], "diff": shown["raw_diff"]}}


def _tokenizer(ctx: AppContext, budget: Budget, sides: list[_Side], *, text: str, pair: str, **_: Any) -> dict:
    # /tokenize's defaults: no max length, no padding, longest_first, typed special tokens read as special.
    results = [tokenize(text, pair, tokenizer=s.loaded.tokenizer, model=s.loaded.label, max_length=0, padding=False,
                        truncation="longest_first", split_special_tokens=False) for s in sides]
    diff = diff_tokenization(*results)
    return {"sides": view.tokenizer_sides_html(*results), "diff": view.tokenizer_diff_html(diff),
            "a": {**results[0].to_dict(), "comparison": None}, "b": {**results[1].to_dict(), "comparison": None},
            "raw_diff": diff.to_dict()}


def _fill_mask(ctx: AppContext, budget: Budget, sides: list[_Side], *, text: str, top_k: int, **_: Any) -> dict:
    for side in sides:  # a text without a mask is refused before either model runs
        normalize_masks(text, side.loaded.tokenizer)
    results, payloads = [], []
    for side in sides:
        loaded = side.loaded
        result = side.run(lambda loaded=loaded: predict_masks(
            text, model=loaded.model, tokenizer=loaded.tokenizer, top_k=top_k, label=loaded.label, budget=budget,
            batcher=ctx.batcher))
        payload = result.to_dict()
        if len(result.masks) > 1:  # as /fill_mask: the masks also filled one at a time
            steps = side.run(lambda loaded=loaded, result=result: iterative_fill(
                result.text, model=loaded.model, tokenizer=loaded.tokenizer, budget=budget, batcher=ctx.batcher))
            payload["iterative"] = {"completed": steps.completed, "order": [step.position for step in steps.steps]}
        results.append(result)
        payloads.append(payload)
    diff = diff_fill_mask(*results)
    return {"sides": view.fill_mask_sides_html(*results), "diff": view.fill_mask_diff_html(diff), "a": payloads[0],
            "b": payloads[1], "raw_diff": diff.to_dict()}


def _sentiment(ctx: AppContext, budget: Budget, sides: list[_Side], *, text: str, **_: Any) -> dict:
    results = [side.run(lambda loaded=side.loaded: classify(
        text, model=loaded.model, tokenizer=loaded.tokenizer, label=loaded.label,
        newly_initialized=loaded.newly_initialized, budget=budget, batcher=ctx.batcher)) for side in sides]
    diff = diff_sentiment(*results)
    return {"sides": view.sentiment_sides_html(*results), "diff": view.sentiment_diff_html(diff),
            "a": results[0].to_dict(), "b": results[1].to_dict(), "raw_diff": diff.to_dict()}


def _attention(ctx: AppContext, budget: Budget, sides: list[_Side], *, text: str, pair: str, layer: int,
               **_: Any) -> dict:
    for side in sides:  # the layer must exist in both models, checked before either runs
        check_selection(layer, [], -1, "all", model=side.loaded.model)
    runs = [side.run(lambda loaded=side.loaded: run_encoder(text, pair, model=loaded.model,
                                                             tokenizer=loaded.tokenizer, label=loaded.label,
                                                             budget=budget)) for side in sides]
    # /attention's raw with its default controls: every head, every token, no filter, rows renormalized.
    raws = [attention_view(run, layer, [], hide_special=False, direction="all", renormalize=True,
                           token=-1).summary_dict(run.summaries) for run in runs]
    diff = diff_attention(*runs)
    return {"sides": view.attention_sides_html(*runs), "diff": view.attention_diff_html(diff), "a": raws[0],
            "b": raws[1], "raw_diff": diff.to_dict()}


def _outputs(task_id: str, *, visible: bool = True) -> tuple[Outputs, ErrorPanel | None]:
    prefix = f"compare-{task_id}"
    panel = ErrorPanel(f"{prefix}-error") if visible else None
    header = gr.HTML(padding=False, elem_id=f"{prefix}-header", visible=visible)
    sides = gr.HTML(padding=False, elem_id=f"{prefix}-sides", visible=visible)
    diff = gr.HTML(padding=False, elem_id=f"{prefix}-diff", visible=visible)
    raw = raw_output(f"{prefix}-json", "Raw output of the comparison (JSON)") if visible else gr.JSON(visible=False)
    return Outputs(header=header, sides=sides, diff=diff, raw=raw, errors=panel), panel


def compare_section(ctx: AppContext, task_id: str, *, model: gr.components.Component, text: gr.components.Component,
            text_pair: gr.components.Component | None = None, top_k: gr.components.Component | None = None,
            layer: gr.components.Component | None = None, box: gr.Dropdown | None = None) -> None:
    """The "Compare with…" section of a tab, below what the tab already shows.

    Args:
        ctx: the app's context.
        task_id: one of COMPARED_TASKS.
        model: the tab's model box (model A); text, text_pair, top_k, layer: the tab's inputs the task reads.
        box: the tab's own second-model box, when it has one (the Tokenizer's "Compare with"); else one is made.
    """
    task = task_by_id(task_id)
    gr.Markdown(f"## Compare with another model\n{HINTS[task_id]}")
    with gr.Row():
        if box is None:
            box = gr.Dropdown(ctx.model_choices(task), value=None, label="Compare with…", allow_custom_value=True,
                              info=ctx.model_hint(), elem_id=f"compare-{task_id}-model", scale=3)
        button = gr.Button("Compare", elem_id=f"compare-{task_id}-run", scale=1)
    out, panel = _outputs(task_id)
    inputs = [text, model, box, text_pair or gr.State(""), top_k or gr.State(TOP_K), layer or gr.State(0)]
    handler = out.wrap(model_work("comparing two models")(functools.partial(run_compare, ctx, task_id)))
    panel.follow(button.click(handler, inputs, out.components, api_visibility="private", concurrency_id=HEAVY,
                                    concurrency_limit=1))


def api(ctx: AppContext) -> None:
    """The ``/compare`` endpoint: hidden inputs (every option neutral: model_a blank = the task's server default,
    model_b and text required, no sentence B, the tabs' own top-k and layer 0) and hidden outputs."""
    with gr.Group(visible=False):
        task = gr.Dropdown(list(COMPARED_TASKS), value=None, label="Task")
        text = gr.Textbox(label="Text")
        model_a = gr.Textbox("", label="Model A (blank: the task's default)")
        model_b = gr.Textbox(label="Model B")
        text_pair = gr.Textbox("", label="Sentence B (tokenizer, attention)")
        top_k = gr.Number(TOP_K, label="Top-k (fill_mask)")
        layer = gr.Number(0, label="Layer (attention)")
        trigger = gr.Button()
        out, _ = _outputs("api", visible=False)
    integer_api(top_k, layer)

    def compare(task: str, text: str, model_a: str, model_b: str, text_pair: str, top_k: Any, layer: Any) -> Shown:
        return run_compare(ctx, task, text, model_a, model_b, text_pair, top_k, layer)

    handler = out.wrap(model_work("comparing two models")(compare))
    trigger.click(handler, [task, text, model_a, model_b, text_pair, top_k, layer], out.components,
                  api_name="compare", concurrency_id=HEAVY, concurrency_limit=1)
