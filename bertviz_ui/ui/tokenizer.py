"""Tokenizer tab: a text or a pair in, BERT's input out (chips, table, special tokens, comparison, JSON)."""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from bertviz_ui.registry import task_by_id
from bertviz_ui.render.html import model_badge_html, notes_html
from bertviz_ui.render.tokenizer import chips_html, comparison_html, summary_html, token_table
from bertviz_ui.tasks.tokenizer import TRUNCATION_STRATEGIES, tokenize
from bertviz_ui.ui.compare import compare_section
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, integer_api, raw_output, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import user_errors
from bertviz_ui.ui.export import export_view
from bertviz_ui.ui.permalink import Link, Opening
from bertviz_ui.ui.progress import watch_downloads

TASK = task_by_id("tokenizer")

EXAMPLES = [
    ["The cat sat on the mat.", ""],
    ["The cat sat on the mat.", "It was a lazy afternoon."],
    ["The cat sat on the mat.", "The stock market crashed."],
    ["Elon Musk founded Tesla in California.", ""],
    ["Tokenization splits unaffable words 😀 into pieces.", ""],
    ["The cat [MASK] on the [MASK].", ""],
]


def run_tokenizer(ctx: AppContext, model: str, text: str, text_pair: str, max_length: Any, padding: bool,
                  truncation: str, split_special_tokens: bool, compare_with: str) -> Shown:
    """Load the tokenizer(s) through the cache, tokenize, render."""
    loaded = ctx.cache.load_for_task(TASK, model)
    options = {"max_length": max_length, "padding": bool(padding), "truncation": truncation or "longest_first",
               "split_special_tokens": bool(split_special_tokens)}
    result = tokenize(text, text_pair, tokenizer=loaded.tokenizer, model=loaded.label, **options)
    comparison_view, payload = "", result.to_dict()
    payload["comparison"] = None
    if compare_with and str(compare_with).strip():
        other_loaded = ctx.cache.load_for_task(TASK, compare_with)
        other = tokenize(text, text_pair, tokenizer=other_loaded.tokenizer, model=other_loaded.label, **options)
        comparison_view = comparison_html(result, other)
        payload["comparison"] = other.to_dict()
    return {
        "header": model_badge_html(loaded.label, untrained=loaded.source.untrained) + notes_html(result.notes),
        "chips": chips_html(result),
        "comparison": comparison_view,
        "summary": summary_html(result),
        "table": token_table(result),
        "raw": payload,
    }


def build(ctx: AppContext, tab: gr.Tab) -> Opening:
    """Lay out the Tokenizer tab inside the current gr.Blocks context; it opens with the seed text's pair."""
    choices = ctx.model_choices(TASK)
    gr.Markdown(
        "BERT never sees your words: it sees **WordPiece tokens** and their ids, a **token type** per token "
        "(sentence A = 0, sentence B = 1) and an **attention mask** (1 = real token, 0 = padding). "
        "Every input starts with `[CLS]` and each sentence ends with `[SEP]`."
    )
    with gr.Row():
        model = gr.Dropdown(choices, value=choices[0], label="Tokenizer of model", allow_custom_value=True,
                            info=ctx.model_hint(), elem_id="tokenizer-model",
                            scale=2)
        compare_with = gr.Dropdown([("(no comparison)", ""), *[(c, c) for c in choices]], value="",
                                   label="Compare with", allow_custom_value=True, elem_id="tokenizer-compare",
                                   info="A second tokenizer on the same text: Tokenize shows both; Compare (below) also lists the words they split differently.", scale=2)
    with gr.Row():
        text = gr.Textbox(label="Text (sentence A)", lines=3, elem_id="tokenizer-text")
        text_pair = gr.Textbox("", label="Second sentence (sentence B, optional)", lines=3, elem_id="tokenizer-pair")
    with gr.Accordion("Padding, truncation and special tokens", open=False), gr.Row():
        max_length = gr.Number(0, minimum=0, label="Max length (0 = no limit)",
                               elem_id="tokenizer-max-length")
        padding = gr.Checkbox(False, label="Pad to max length", elem_id="tokenizer-padding")
        truncation = gr.Dropdown([(s.replace("_", " "), s) for s in TRUNCATION_STRATEGIES],
                                 value="longest_first", label="Truncation", elem_id="tokenizer-truncation")
        split_special = gr.Checkbox(False, label="Typed special tokens are text",
                                    info="Read [SEP] or [MASK] typed in the text as plain characters.",
                                    elem_id="tokenizer-split-special")
    with gr.Accordion("Examples: the seed text's sentences and a few edge cases", open=False):
        gr.Examples(EXAMPLES, inputs=[text, text_pair], label=None)
    button = gr.Button("Tokenize", variant="primary", elem_id="tokenizer-run")
    panel = ErrorPanel("tokenizer-error")
    header = gr.HTML(elem_id="tokenizer-header", padding=False)
    chips = gr.HTML(elem_id="tokenizer-chips", padding=False)
    comparison = gr.HTML(elem_id="tokenizer-comparison", padding=False)
    summary = gr.HTML(elem_id="tokenizer-summary", padding=False)
    table = result_table("Tokens", "tokenizer-table", max_height=640)
    link = Link("tokenizer", run=button, model=model, text=text, pair=text_pair, max_length=max_length,
                padding=padding, truncation=truncation, split_special=split_special, compare_with=compare_with)
    export_view(ctx, view="tokenizer", title="Tokenizer", handler=functools.partial(run_tokenizer, ctx),
                inputs={"model": model, "text": text, "text_pair": text_pair, "max_length": max_length,
                        "padding": padding, "truncation": truncation, "split_special_tokens": split_special,
                        "compare_with": compare_with},
                parts=[("header", ""), ("chips", "Tokens"), ("comparison", "Compared with"),
                       ("summary", "Summary"), ("table", "Tokens, one per row")],
                link=link, concurrency_id="tokenizer", concurrency_limit=4, panel=panel)
    raw = raw_output("tokenizer-json")

    integer_api(max_length)
    out = Outputs(header=header, chips=chips, comparison=comparison, summary=summary, table=table, raw=raw,
                  errors=panel)
    handler = out.wrap(watch_downloads(user_errors("tokenizing")(functools.partial(run_tokenizer, ctx))))
    inputs = [model, text, text_pair, max_length, padding, truncation, split_special, compare_with]
    panel.follow(button.click(handler, inputs, out.components, api_name="tokenize", concurrency_id="tokenizer",
                              concurrency_limit=4))
    panel.follow(text.submit(handler, inputs, out.components, api_visibility="private", concurrency_id="tokenizer"))
    compare_section(ctx, "tokenizer", model=model, text=text, text_pair=text_pair, box=compare_with)
    return Opening({text: EXAMPLES[1][0], text_pair: EXAMPLES[1][1]}, link)
