"""Sentiment tab: classify one text or many, then explain one line (attributions and the head's arithmetic)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import gradio as gr

from bertviz_ui import examples
from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.models.quantization import Precision
from bertviz_ui.registry import task_by_id
from bertviz_ui.render.html import model_badge_html, notes_html
from bertviz_ui.render.sentiment import (
    attribution_figure,
    batch_table,
    cost_html,
    head_html,
    heatmap_html,
    scores_figure,
)
from bertviz_ui.tasks.pieces import UNITS, WORDS, check_unit
from bertviz_ui.tasks.sentiment import (
    LOW_CONFIDENCE,
    MAX_LINES,
    MAX_STEPS,
    Attribution,
    attribute,
    check_classifier,
    classify,
    inside_head,
    parse_lines,
)
from bertviz_ui.tasks.validation import check_whole_number
from bertviz_ui.ui.compare import compare_section
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, integer_api, raw_output, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work, user_errors
from bertviz_ui.ui.explanation_check import connect, section, task_input
from bertviz_ui.ui.export import export_view
from bertviz_ui.ui.permalink import Link, Opening
from bertviz_ui.ui.queue import HEAVY

TASK = task_by_id("sentiment")

TUTORIAL_PIPELINE = "\n".join([  # noqa: FLY002 - one line per review reads better
    "I absolutely loved this product!",
    "Terrible quality, fell apart after a day.",
    "It's okay, nothing special.",
])
TUTORIAL_REVIEWS = "\n".join(examples.TUTORIAL_REVIEWS)
MIXED = "\n".join([  # noqa: FLY002 - one line per review reads better
    "Oh great, another sequel nobody asked for.",
    "The acting was superb but the plot made no sense.",
    "I wanted to hate it, and yet I couldn't stop watching.",
    "Well, that was two hours I'll never get back. Brilliant.",
    "Not bad at all.",
    "It's not that it was bad, it just wasn't good.",
])
CHECK_EXAMPLE = "The acting was superb but the plot made no sense."
METHOD_CHOICES = [("Integrated gradients", "integrated_gradients"), ("Gradient × input (fast)", "gradient_x_input")]


def trained_classifier(loaded: LoadedModel) -> None:
    """The cache's accept check: a checkpoint without a trained classification head is not kept."""
    check_classifier(loaded.newly_initialized)


def run_sentiment(ctx: AppContext, model: str, text: str) -> Shown:
    """Classify every line in batches; the first line's probabilities as a chart, all lines as a table."""
    loaded = ctx.cache.load_for_task(TASK, model, accept=trained_classifier)
    batch = classify(text, model=loaded.model, tokenizer=loaded.tokenizer, label=loaded.label,
                     newly_initialized=loaded.newly_initialized, budget=ctx.budget, batcher=ctx.batcher)
    header = model_badge_html(loaded.label, untrained=loaded.source.untrained) + notes_html(batch.notes)
    classes = gr.update(choices=[("predicted class", "predicted"), *[(label, label) for label in batch.labels]],
                        value="predicted")
    return {"header": header, "bars": scores_figure(batch.rows[0]), "table": batch_table(batch), "classes": classes,
            "raw": batch.to_dict()}


def run_explain(ctx: AppContext, model: str, text: str, line: Any, target: str, method: str, steps: Any,
                unit: Any = WORDS) -> Shown:
    """Attribute one line's class logit to its words (or pieces), and open up the classification head for it."""
    unit = check_unit(unit)
    lines, _ = parse_lines(text)
    number = check_whole_number(line, "Line", low=1, high=len(lines))
    # Attributions take gradients through every layer: int8 layers have none, so the full-precision model.
    loaded = ctx.cache.load_for_task(TASK, model, accept=trained_classifier, precision=Precision.FULL)
    chosen = lines[number - 1]
    attribution = attribute(chosen, model=loaded.model, tokenizer=loaded.tokenizer, target=target, method=method,
                            steps=steps, newly_initialized=loaded.newly_initialized, budget=ctx.budget)
    head = inside_head(chosen, model=loaded.model, tokenizer=loaded.tokenizer,
                       newly_initialized=loaded.newly_initialized)
    payload = {"line": number, "attributions": dataclasses.asdict(attribution), "head": dataclasses.asdict(head)}
    return {"heatmap": heatmap_html(chosen, attribution, unit), "attribution": attribution_figure(attribution, unit),
            "cost": cost_html(attribution), "head": head_html(head), "raw": payload, "kept": (chosen, attribution)}


def show_attribution(kept: tuple[str, Attribution] | None, unit: Any) -> Shown:
    """The kept attribution again, by words or pieces (no model runs)."""
    if kept is None:
        return {"heatmap": gr.skip(), "attribution": gr.skip()}
    chosen, attribution = kept
    unit = check_unit(unit)
    return {"heatmap": heatmap_html(chosen, attribution, unit), "attribution": attribution_figure(attribution, unit)}


def build(ctx: AppContext, tab: gr.Tab) -> Opening:
    """Lay out the Sentiment tab inside the current gr.Blocks context; it opens with the seed text's three reviews."""
    choices = ctx.model_choices(TASK)
    gr.Markdown(
        "Sentence classification, BERT's most common use: the `[CLS]` vector goes through a small linear layer, "
        f"and softmax turns its logits into probabilities. Type one text or up to {MAX_LINES} (one per line; "
        f"they run in batches). Lines below {LOW_CONFIDENCE:.0%} confidence are flagged: that is where the "
        "model gets confused. Then explain any line: which words pushed it toward a class."
    )
    model = gr.Dropdown(choices, value=choices[0], label="Classifier", allow_custom_value=True,
                        info="Labels come from the model's config.", elem_id="sentiment-model")
    text = gr.Textbox(label="Text (one per line)", lines=5, elem_id="sentiment-text")
    with gr.Accordion("Examples: the seed text's sentences, its 8 training reviews, mixed and sarcastic reviews",
                      open=False):
        gr.Examples([[TUTORIAL_PIPELINE], [TUTORIAL_REVIEWS], [MIXED]], inputs=[text], label=None)
    button = gr.Button("Classify", variant="primary", elem_id="sentiment-run")
    panel = ErrorPanel("sentiment-error")
    header = gr.HTML(padding=False, elem_id="sentiment-header")
    bars = gr.Plot(label="Probabilities (line 1)", elem_id="sentiment-plot")
    table = result_table("Every line (click a column header to sort)", "sentiment-table")
    link = Link("sentiment", run=button, model=model, text=text)
    export_view(ctx, view="sentiment", title="Sentiment", handler=functools.partial(run_sentiment, ctx),
                inputs={"model": model, "text": text},
                parts=[("header", ""), ("bars", "Probabilities (line 1)"), ("table", "Every line")],
                link=link, concurrency_id="sentiment-batched", concurrency_limit=ctx.light_concurrency, panel=panel)
    raw = raw_output("sentiment-json")

    gr.Markdown("## Why? Explain one line")
    with gr.Row():
        line = gr.Number(1, minimum=1, maximum=MAX_LINES, label="Line", elem_id="sentiment-line",
                         min_width=120)
        target = gr.Dropdown([("predicted class", "predicted")], value="predicted", label="Class to explain",
                             allow_custom_value=True, elem_id="sentiment-target")
        method = gr.Radio(METHOD_CHOICES, value="integrated_gradients", label="Method", elem_id="sentiment-method")
        steps = gr.Slider(4, MAX_STEPS, value=32, step=4, label="Integration steps",
                          elem_id="sentiment-steps")
        unit = gr.Radio(list(UNITS), value=WORDS, label="Score", elem_id="sentiment-unit",
                        info="words: each word's pieces' scores summed. pieces: the tokens the model read.")
    explain_button = gr.Button("Explain", elem_id="sentiment-explain")
    explain_panel = ErrorPanel("sentiment-explain-error")
    heatmap = gr.HTML(padding=False, elem_id="sentiment-heatmap")
    attribution_plot = gr.Plot(label="Word attributions", elem_id="sentiment-attribution")
    cost = gr.HTML(padding=False, elem_id="sentiment-cost")
    with gr.Accordion("Inside the head: from the [CLS] vector to probabilities", open=True):
        head = gr.HTML(padding=False, elem_id="sentiment-head")
    export_view(ctx, view="attributions", title="Sentiment: word attributions",
                handler=functools.partial(run_explain, ctx),
                inputs={"model": model, "text": text, "line": line, "target": target, "method": method,
                        "steps": steps, "unit": unit},
                parts=[("heatmap", "Attributions in the text"), ("attribution", "Word attributions"),
                       ("cost", ""), ("head", "Inside the head: from the [CLS] vector to probabilities")],
                link=link, concurrency_id=HEAVY, concurrency_limit=1, panel=explain_panel)
    explain_raw = gr.JSON(visible=False)
    # The last explanation (one line's token scores), so the words/pieces switch redraws without a model run.
    explained = gr.State(None, time_to_live=ctx.settings.session_minutes * 60)
    with gr.Accordion("Which explanation to trust? Delete the top words and watch the prediction", open=False,
                      elem_id="sentiment-check"):
        check = section("sentiment-check", task="sentiment")
        # The API's model starts blank (the task's server default, for either task); the tab sends its classifier.
        check_model = gr.Textbox("", label="Model", visible=False)

    integer_api(line, steps)
    out = Outputs(header=header, bars=bars, table=table, classes=target, raw=raw, errors=panel)
    classify_handler = out.wrap(model_work("classifying")(functools.partial(run_sentiment, ctx)))
    panel.follow(button.click(classify_handler, [model, text], out.components, api_name="sentiment",
                              concurrency_id="sentiment-batched", concurrency_limit=ctx.light_concurrency))
    method.change(lambda chosen: gr.update(interactive=chosen == "integrated_gradients"), method, steps,
                  api_visibility="private", queue=False)
    out = Outputs(heatmap=heatmap, attribution=attribution_plot, cost=cost, head=head, raw=explain_raw,
                  kept=explained, errors=explain_panel)
    explain_handler = out.wrap(model_work("explaining")(functools.partial(run_explain, ctx)))
    explain_panel.follow(explain_button.click(explain_handler, [model, text, line, target, method, steps, unit],
                                              out.components, api_name="sentiment_explain", concurrency_id=HEAVY,
                                              concurrency_limit=1))
    out = Outputs(heatmap=heatmap, attribution=attribution_plot)
    unit.input(out.wrap(user_errors("showing the attributions")(show_attribution)), [explained, unit],
               out.components, api_visibility="private", queue=False)
    compare_section(ctx, "sentiment", model=model, text=text)
    model.change(lambda chosen: chosen, model, check_model, api_visibility="private", queue=False,
                 show_progress="hidden")
    connect(ctx, check, task_input("sentiment"), check_model, public=True)
    return Opening({text: TUTORIAL_PIPELINE, check.text: CHECK_EXAMPLE}, link)
