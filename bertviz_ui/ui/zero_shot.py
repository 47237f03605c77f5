"""Zero-shot tab: candidate labels become NLI hypotheses; the hypotheses, logits and the arithmetic are shown."""

from __future__ import annotations

import functools

import gradio as gr

from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head, task_by_id
from bertviz_ui.render.html import model_badge_html, notes_html
from bertviz_ui.render.zero_shot import explanation_html, hypotheses_table, scores_figure
from bertviz_ui.tasks.zero_shot import (
    DEFAULT_TEMPLATE,
    MAX_LABELS,
    METHOD_EMBEDDING,
    METHOD_NLI,
    check_nli_model,
    classify_by_similarity,
    classify_zero_shot,
)
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, raw_output, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work
from bertviz_ui.ui.export import export_view
from bertviz_ui.ui.permalink import Link, Opening

TASK = task_by_id("zero_shot")

EXAMPLES = [
    ["The government announced new economic policies today.", "politics, technology, sports, entertainment"],
    ["The new phone has a brighter screen and a faster chip.", "technology, politics, sports, food"],
    ["The striker scored twice in the final minutes.", "sports, finance, music"],
]
METHODS = [("NLI model (entailment)", METHOD_NLI),
           ("Embedding similarity (offline, all-MiniLM-L6-v2)", METHOD_EMBEDDING)]


def trained_nli_head(loaded: LoadedModel) -> None:
    """The cache's accept check: a model without a trained NLI head or an entailment label is not kept."""
    check_nli_model(loaded.model, loaded.newly_initialized)


def run_zero_shot(ctx: AppContext, model: str, method: str, text: str, labels: str, template: str,
                  multi_label: bool) -> Shown:
    """Score every label in one batched forward with the chosen method."""
    if method == METHOD_EMBEDDING:
        loaded = ctx.cache.load(OFFLINE_MODEL_ID, Head.ENCODER)
        result = classify_by_similarity(text, labels, model=loaded.model, tokenizer=loaded.tokenizer,
                                        template=template, label=loaded.label, budget=ctx.budget)
    else:
        loaded = ctx.cache.load_for_task(TASK, model, accept=trained_nli_head)
        result = classify_zero_shot(text, labels, model=loaded.model, tokenizer=loaded.tokenizer, template=template,
                                    multi_label=bool(multi_label), label=loaded.label,
                                    newly_initialized=loaded.newly_initialized, budget=ctx.budget,
                                    batcher=ctx.batcher)
    header = model_badge_html(loaded.label, untrained=loaded.source.untrained) + notes_html(result.notes)
    return {"header": header + explanation_html(result), "bars": scores_figure(result),
            "table": hypotheses_table(result), "raw": result.to_dict()}


def build(ctx: AppContext, tab: gr.Tab) -> Opening:
    """Lay out the Zero-shot tab inside the current gr.Blocks context; it opens with the seed text's example."""
    choices = ctx.model_choices(TASK)
    gr.Markdown(
        "No training for your labels: each candidate label becomes a **hypothesis** (\"This example is "
        "politics.\") and a model trained on natural-language inference says whether your text **entails** it. "
        f"All hypotheses go through the model in one batch (up to {MAX_LABELS} labels). Without the Hub, use "
        "the offline embedding-similarity method: a different technique, labelled as such."
    )
    with gr.Row():
        model = gr.Dropdown(choices, value=choices[0], label="NLI model", allow_custom_value=True,
                            info="Its config must name an entailment label.", elem_id="zero-shot-model", scale=2)
        method = gr.Radio(METHODS, value=METHOD_NLI, label="Method", elem_id="zero-shot-method", scale=2)
    text = gr.Textbox(label="Text", lines=2, elem_id="zero-shot-text")
    with gr.Row():
        labels = gr.Textbox(label="Candidate labels (comma-separated or one per line)",
                            elem_id="zero-shot-labels", scale=3)
        template = gr.Textbox(DEFAULT_TEMPLATE, label="Hypothesis template ({} = the label)",
                              elem_id="zero-shot-template", scale=2)
    multi_label = gr.Checkbox(False, label="Multi-label: score each label on its own (entailment vs. contradiction)",
                              elem_id="zero-shot-multi")
    with gr.Accordion("Examples (the seed text's first)", open=False):
        gr.Examples(EXAMPLES, inputs=[text, labels], label=None)
    button = gr.Button("Classify", variant="primary", elem_id="zero-shot-run")
    panel = ErrorPanel("zero-shot-error")
    header = gr.HTML(padding=False, elem_id="zero-shot-header")
    bars = gr.Plot(label="Scores", elem_id="zero-shot-plot")
    table = result_table("Behind the score: each hypothesis and its raw logits", "zero-shot-table")
    link = Link("zero_shot", run=button, model=model, method=method, text=text, labels=labels, template=template,
                multi_label=multi_label)
    export_view(ctx, view="zero_shot", title="Zero-shot", handler=functools.partial(run_zero_shot, ctx),
                inputs={"model": model, "method": method, "text": text, "labels": labels, "template": template,
                        "multi_label": multi_label},
                parts=[("header", ""), ("bars", "Scores"),
                       ("table", "Behind the score: each hypothesis and its raw logits")],
                link=link, concurrency_id="zero_shot-batched", concurrency_limit=ctx.light_concurrency, panel=panel)
    raw = raw_output("zero-shot-json")

    method.change(lambda chosen: gr.update(interactive=chosen == METHOD_NLI), method, model,
                  api_visibility="private", queue=False)
    out = Outputs(header=header, bars=bars, table=table, raw=raw, errors=panel)
    handler = out.wrap(model_work("classifying")(functools.partial(run_zero_shot, ctx)))
    panel.follow(button.click(handler, [model, method, text, labels, template, multi_label], out.components,
                              api_name="zero_shot", concurrency_id="zero_shot-batched",
                              concurrency_limit=ctx.light_concurrency))
    return Opening({text: EXAMPLES[0][0], labels: EXAMPLES[0][1]}, link)
