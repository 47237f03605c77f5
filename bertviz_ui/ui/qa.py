"""Question-answering tab: the answer highlighted in its passage, start/end logit plots, candidates and windows."""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.registry import task_by_id
from bertviz_ui.render.html import model_badge_html, notes_html
from bertviz_ui.render.qa import (
    answer_html,
    candidates_table,
    independent_argmax_html,
    logits_figure,
    tokens_html,
    windows_html,
)
from bertviz_ui.tasks.pieces import PIECES, UNITS, check_unit
from bertviz_ui.tasks.qa import (
    DEFAULT_MAX_ANSWER_TOKENS,
    DEFAULT_TOP_K,
    MAX_TOP_K,
    MAX_WINDOWS,
    QaResult,
    answer_question,
    check_qa_model,
)
from bertviz_ui.tasks.validation import check_whole_number
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, integer_api, raw_output, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work, user_errors
from bertviz_ui.ui.export import export_view
from bertviz_ui.ui.permalink import Link, Opening

TASK = task_by_id("qa")

# The seed text's passage and its three questions.
EIFFEL = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.\n"
          "It is named after the engineer Gustave Eiffel, whose company designed and built the tower.\n"
          "Constructed from 1887 to 1889 as the entrance arch to the 1889 World's Fair, it was initially\n"
          "criticized by some of France's leading artists and intellectuals but has become a global\n"
          "cultural icon of France and one of the most recognisable structures in the world.")
EXAMPLES = [
    ["Where is the Eiffel Tower located?", EIFFEL],
    ["Who designed the Eiffel Tower?", EIFFEL],
    ["When was the Eiffel Tower built?", EIFFEL],
]


def _views(result: QaResult, window_number: Any, unit: Any = PIECES) -> Shown:
    """The plot (by pieces or words) and token chips of one window (1-based, as shown), from the kept result: no
    model run."""
    number = check_whole_number(window_number, "Window", low=1, high=len(result.windows))
    window = result.windows[number - 1]
    return {"plot": logits_figure(window, result, check_unit(unit)), "chips": tokens_html(window, result)}


def trained_qa_head(loaded: LoadedModel) -> None:
    """The cache's accept check: a checkpoint without a trained span head is not kept."""
    check_qa_model(loaded.model, loaded.newly_initialized)


def run_qa(ctx: AppContext, model: str, question: str, context: str, max_answer_len: Any, top_k: Any,
           handle_impossible: bool, unit: Any = PIECES) -> Shown:
    """Answer the question: every window in one forward, the span search over all of them."""
    unit = check_unit(unit)
    loaded = ctx.cache.load_for_task(TASK, model, accept=trained_qa_head)
    result = answer_question(question, context, model=loaded.model, tokenizer=loaded.tokenizer,
                             max_answer_len=max_answer_len, top_k=top_k, handle_impossible=bool(handle_impossible),
                             label=loaded.label, newly_initialized=loaded.newly_initialized, budget=ctx.budget,
                             batcher=ctx.batcher)
    header = model_badge_html(loaded.label, untrained=loaded.source.untrained) + notes_html(result.notes)
    shown = (result.window if result.window is not None else 0) + 1
    views = _views(result, shown, unit)
    window_control = gr.update(maximum=max(2, len(result.windows)), value=shown, visible=len(result.windows) > 1)
    return {"header": header, "answer": answer_html(result), **views, "candidates": candidates_table(result),
            "windows": windows_html(result), "seed": independent_argmax_html(result), "window": window_control,
            "raw": result.to_dict(), "result": result}


def show_window(result: QaResult | None, window_number: Any, unit: Any) -> Shown:
    """Re-plot another window, or the same by pieces or words, of the last result (kept on the server)."""
    if result is None:
        return {"plot": gr.skip(), "chips": gr.skip()}  # nothing asked yet: both views stay as they are
    return _views(result, window_number, unit)


def build(ctx: AppContext, tab: gr.Tab) -> Opening:
    """Lay out the Question answering tab inside the current gr.Blocks context; it opens with the seed's passage."""
    choices = ctx.model_choices(TASK)
    gr.Markdown(
        "Extractive QA: the model reads `[CLS] question [SEP] context [SEP]` and gives **every context token** two "
        "scores, how likely the answer **starts** there and how likely it **ends** there. The answer is the span "
        "with the best P(start) × P(end), with end ≥ start and at most the maximum length, cut from your text by "
        f"character offsets. Long contexts are read in overlapping windows (up to {MAX_WINDOWS}, one batched "
        "forward)."
    )
    model = gr.Dropdown(choices, value=choices[0], label="Question-answering model (SQuAD)", allow_custom_value=True,
                        elem_id="qa-model")
    question = gr.Textbox(label="Question", elem_id="qa-question")
    context = gr.Textbox(label="Context", lines=6, max_lines=16, elem_id="qa-context")
    with gr.Accordion("Examples (the seed text's three questions)", open=False):
        gr.Examples(EXAMPLES, inputs=[question, context], label=None)
    with gr.Row():
        max_answer_len = gr.Slider(1, 64, value=DEFAULT_MAX_ANSWER_TOKENS, step=1,
                                   label="Maximum answer length (tokens)", elem_id="qa-max-len")
        top_k = gr.Slider(1, MAX_TOP_K, value=DEFAULT_TOP_K, step=1, label="Candidates to list",
                          elem_id="qa-top-k")
        handle_impossible = gr.Checkbox(False, label="Allow \"no answer\" (models trained on SQuAD 2.0)",
                                        info="The answer is empty when [CLS] as start and end outscores every span.",
                                        elem_id="qa-impossible")
    button = gr.Button("Answer", variant="primary", elem_id="qa-run")
    panel = ErrorPanel("qa-error")
    header = gr.HTML(padding=False, elem_id="qa-header")
    answer = gr.HTML(padding=False, elem_id="qa-view")
    with gr.Row():
        window = gr.Slider(1, 2, value=1, step=1, label="Window to plot", visible=False, elem_id="qa-window")
        unit = gr.Radio(list(UNITS), value=PIECES, label="Plot the logits of", elem_id="qa-unit",
                        info="pieces: the tokens the model scored. words: a word's probability is the sum of its "
                             "pieces' (logit = their log-sum-exp).")
    plot = gr.Plot(label="Start and end logits", elem_id="qa-plot")
    candidates = result_table("Top candidate spans", "qa-candidates")
    link = Link("qa", run=button, model=model, question=question, context=context, max_answer_len=max_answer_len,
                top_k=top_k, handle_impossible=handle_impossible, unit=unit)
    export_view(ctx, view="qa", title="Question answering", handler=functools.partial(run_qa, ctx),
                inputs={"model": model, "question": question, "context": context, "max_answer_len": max_answer_len,
                        "top_k": top_k, "handle_impossible": handle_impossible, "unit": unit},
                parts=[("header", ""), ("answer", "Answer"), ("plot", "Start and end logits"),
                       ("candidates", "Top candidate spans"), ("chips", "Tokens as the model read them")],
                link=link, concurrency_id="qa-batched", concurrency_limit=ctx.light_concurrency, panel=panel)
    with gr.Accordion("Tokens as the model read them", open=False):
        chips = gr.HTML(padding=False, elem_id="qa-tokens")
    with gr.Accordion("Windows of the context", open=False):
        windows = gr.HTML(padding=False, elem_id="qa-windows")
    with gr.Accordion("Why not argmax(start), argmax(end)?", open=False):
        seed = gr.HTML(padding=False, elem_id="qa-seed")
    raw = raw_output("qa-json")
    # The result stays on the server (at most MAX_WINDOWS windows); the window slider re-plots from it.
    result_state = gr.State(None, time_to_live=ctx.settings.session_minutes * 60)

    integer_api(max_answer_len, top_k)
    out = Outputs(header=header, answer=answer, plot=plot, chips=chips, candidates=candidates, windows=windows,
                  seed=seed, window=window, raw=raw, result=result_state, errors=panel)
    handler = out.wrap(model_work("answering")(functools.partial(run_qa, ctx)))
    panel.follow(button.click(handler, [model, question, context, max_answer_len, top_k, handle_impossible, unit],
                              out.components, api_name="qa", concurrency_id="qa-batched",
                              concurrency_limit=ctx.light_concurrency))
    out = Outputs(plot=plot, chips=chips)
    for control in (window, unit):
        control.input(out.wrap(user_errors("showing a window")(show_window)), [result_state, window, unit],
                      out.components, api_visibility="private", queue=False)
    return Opening({question: EXAMPLES[1][0], context: EIFFEL},
                   link)
