"""Similarity tab: which of your sentences mean the same thing, by the cosine of their mean-pooled embeddings."""

from __future__ import annotations

import functools

import gradio as gr

from bertviz_ui.registry import task_by_id
from bertviz_ui.render.html import model_badge_html
from bertviz_ui.render.similarity import matrix_figure, pairs_table, summary_html
from bertviz_ui.tasks.similarity import MAX_SENTENCES, compare_sentences, parse_sentences
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, raw_output, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work
from bertviz_ui.ui.export import export_view
from bertviz_ui.ui.permalink import Link, Opening

TASK = task_by_id("similarity")

SENTENCES = "\n".join([  # noqa: FLY002 - one line per sentence reads better
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "A monkey is playing drums.",
    "A man is riding a white horse on an enclosed ground.",
])
EXAMPLES = [
    [SENTENCES],
    ["The cat sat on the mat.\nA cat was sitting on a rug.\nThe stock market fell sharply today.\nShares dropped."],
    ["I loved this film.\nI did not love this film.\nThis movie was great.\nThe weather is cold."],
]


def run_similarity(ctx: AppContext, model: str, sentences: str) -> Shown:
    """Embed the sentences in one batch and compare every pair."""
    texts = parse_sentences(sentences)  # bad input is refused before any model loads
    loaded = ctx.cache.load_for_task(TASK, model)
    result = compare_sentences(texts, model=loaded.model, tokenizer=loaded.tokenizer, label=loaded.label,
                               budget=ctx.budget)
    header = model_badge_html(loaded.label, untrained=loaded.source.untrained)
    return {"header": header, "summary": summary_html(result), "matrix": matrix_figure(result),
            "pairs": pairs_table(result), "raw": result.to_dict()}


def build(ctx: AppContext, tab: gr.Tab) -> Opening:
    """Lay out the Similarity tab inside the current gr.Blocks context; it opens with the first example's sentences."""
    choices = ctx.model_choices(TASK)
    gr.Markdown(
        "A sentence becomes **one vector**: the average of its tokens' final hidden states (mean pooling). Two "
        "sentences are similar when their vectors point the same way (**cosine** near 1). Models trained for this "
        "(all-MiniLM-L6-v2, a sentence-transformers model) spread unrelated sentences apart; raw BERT's vectors "
        "crowd together, so every pair scores high and only the ranking means something: compare the two."
    )
    model = gr.Dropdown(choices, value=choices[0], label="Sentence encoder", allow_custom_value=True,
                        info=ctx.model_hint(), elem_id="similarity-model")
    sentences = gr.Textbox(lines=7, label=f"Sentences, one per line (2 to {MAX_SENTENCES})",
                           elem_id="similarity-text")
    with gr.Accordion("Examples", open=False):
        gr.Examples(EXAMPLES, inputs=[sentences], label=None)
    button = gr.Button("Compare", variant="primary", elem_id="similarity-run")
    panel = ErrorPanel("similarity-error")
    header = gr.HTML(padding=False, elem_id="similarity-header")
    summary = gr.HTML(padding=False, elem_id="similarity-summary")
    matrix = gr.Plot(label="Cosine similarity, every pair", elem_id="similarity-matrix")
    pairs = result_table("Pairs, most similar first", "similarity-pairs", max_height=420)
    link = Link("similarity", run=button, model=model, sentences=sentences)
    export_view(ctx, view="similarity", title="Similarity", handler=functools.partial(run_similarity, ctx),
                inputs={"model": model, "sentences": sentences},
                parts=[("header", ""), ("summary", ""), ("matrix", "Cosine similarity, every pair"),
                       ("pairs", "Pairs, most similar first")],
                link=link, concurrency_id="similarity", panel=panel)
    raw = raw_output("similarity-json")

    out = Outputs(header=header, summary=summary, matrix=matrix, pairs=pairs, raw=raw, errors=panel)
    compare = out.wrap(model_work("comparing sentences")(functools.partial(run_similarity, ctx)))
    panel.follow(button.click(compare, [model, sentences], out.components, api_name="similarity",
                              concurrency_id="similarity"))
    return Opening({sentences: SENTENCES}, link)
