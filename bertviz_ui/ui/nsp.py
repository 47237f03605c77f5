"""Next sentence tab: does sentence B follow sentence A? One pair, or every pair of a paragraph."""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.registry import task_by_id
from bertviz_ui.render.html import model_badge_html
from bertviz_ui.render.nsp import nsp_figure, paragraph_summary_html, paragraph_table, segment_chips_html
from bertviz_ui.tasks.nsp import MAX_SENTENCES, check_nsp_head, predict_next_sentence, score_paragraph
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, integer_api, raw_output, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work
from bertviz_ui.ui.export import export_view
from bertviz_ui.ui.permalink import Link, Opening

TASK = task_by_id("nsp")

EXAMPLES = [
    ["The cat sat on the mat.", "It was a lazy afternoon."],
    ["The cat sat on the mat.", "The stock market crashed."],
    ["She opened the umbrella.", "It had started to rain."],
    ["She opened the umbrella.", "Photosynthesis happens in chloroplasts."],
]
PARAGRAPH = ("The storm arrived just after midnight. Rain hammered the windows for hours. By morning the river had "
             "burst its banks. Volunteers filled sandbags along the main street. The mayor thanked them at noon.")


def trained_nsp_head(loaded: LoadedModel) -> None:
    """The cache's accept check: a checkpoint without a trained next-sentence head is not kept."""
    check_nsp_head(loaded.model, loaded.newly_initialized)


def run_nsp(ctx: AppContext, model: str, sentence_a: str, sentence_b: str) -> Shown:
    """P(IsNext) and P(NotNext) for one pair, with the pair's tokens coloured by segment."""
    loaded = ctx.cache.load_for_task(TASK, model, accept=trained_nsp_head)
    result = predict_next_sentence(sentence_a, sentence_b, model=loaded.model, tokenizer=loaded.tokenizer,
                                   label=loaded.label, newly_initialized=loaded.newly_initialized,
                                   batcher=ctx.batcher)
    header = model_badge_html(loaded.label, untrained=loaded.source.untrained) + segment_chips_html(result)
    return {"header": header, "bars": nsp_figure(result), "raw": result.to_dict()}


def run_paragraph(ctx: AppContext, model: str, paragraph: str, seed: Any) -> Shown:
    """Score consecutive and shuffled sentence pairs of a paragraph in one batch."""
    loaded = ctx.cache.load_for_task(TASK, model, accept=trained_nsp_head)
    result = score_paragraph(paragraph, model=loaded.model, tokenizer=loaded.tokenizer, seed=seed,
                             label=loaded.label, newly_initialized=loaded.newly_initialized, budget=ctx.budget)
    return {"summary": paragraph_summary_html(result), "table": paragraph_table(result), "raw": result.to_dict()}


def build(ctx: AppContext, tab: gr.Tab) -> Opening:
    """Lay out the Next sentence tab inside the current gr.Blocks context; it opens with the seed text's first pair."""
    choices = ctx.model_choices(TASK)
    gr.Markdown(
        "BERT's second pretraining task: given `[CLS] A [SEP] B [SEP]`, did B really follow A in the text "
        "(IsNext) or was it a random sentence (NotNext)? The answer comes from a small head on the `[CLS]` "
        "vector: two logits, index 0 = IsNext, index 1 = NotNext (the seed text prints these labels the other "
        "way round). RoBERTa showed NSP adds little and dropped it, so RoBERTa and most later encoders have no "
        "NSP head: this tab refuses them and says so."
    )
    model = gr.Dropdown(choices, value=choices[0], label="Model with an NSP head", allow_custom_value=True,
                        info="Original BERT checkpoints have one.", elem_id="nsp-model")
    with gr.Row():
        sentence_a = gr.Textbox(label="Sentence A", elem_id="nsp-a")
        sentence_b = gr.Textbox(label="Sentence B", elem_id="nsp-b")
    with gr.Accordion("Examples (the seed text's two pairs first)", open=False):
        gr.Examples(EXAMPLES, inputs=[sentence_a, sentence_b], label=None)
    button = gr.Button("Predict", variant="primary", elem_id="nsp-run")
    panel = ErrorPanel("nsp-error")
    header = gr.HTML(padding=False, elem_id="nsp-header")
    bars = gr.Plot(label="IsNext vs NotNext", elem_id="nsp-plot")
    link = Link("nsp", run=button, model=model, a=sentence_a, b=sentence_b)
    export_view(ctx, view="nsp", title="Next sentence", handler=functools.partial(run_nsp, ctx),
                inputs={"model": model, "a": sentence_a, "b": sentence_b},
                parts=[("header", ""), ("bars", "IsNext vs NotNext")],
                link=link, concurrency_id="nsp-batched", concurrency_limit=ctx.light_concurrency, panel=panel)
    raw = raw_output("nsp-json")
    with gr.Accordion(f"A whole paragraph: every consecutive pair and shuffled pairs (up to {MAX_SENTENCES} "
                      "sentences)", open=False):
        paragraph = gr.Textbox(label="Paragraph (split into sentences by spaCy's sentencizer)",
                               lines=4, elem_id="nsp-paragraph")
        seed = gr.Number(0, minimum=0, label="Seed for the shuffled pairs", elem_id="nsp-seed")
        paragraph_button = gr.Button("Score every pair", elem_id="nsp-paragraph-run")
        paragraph_summary = gr.HTML(padding=False, elem_id="nsp-paragraph-summary")
        paragraph_df = result_table("Pairs", "nsp-paragraph-table")
        paragraph_raw = gr.JSON(visible=False)

    integer_api(seed)
    out = Outputs(header=header, bars=bars, raw=raw, errors=panel)
    predict = model_work("predicting the next sentence")(functools.partial(run_nsp, ctx))
    panel.follow(button.click(out.wrap(predict), [model, sentence_a, sentence_b], out.components, api_name="nsp",
                              concurrency_id="nsp-batched", concurrency_limit=ctx.light_concurrency))
    out = Outputs(summary=paragraph_summary, table=paragraph_df, raw=paragraph_raw, errors=panel)
    score = model_work("scoring the paragraph")(functools.partial(run_paragraph, ctx))
    panel.follow(paragraph_button.click(out.wrap(score), [model, paragraph, seed], out.components,
                                        api_name="nsp_paragraph", concurrency_id="nsp"))
    return Opening({sentence_a: EXAMPLES[0][0], sentence_b: EXAMPLES[0][1], paragraph: PARAGRAPH}, link)
