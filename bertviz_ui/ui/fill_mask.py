"""Masked words tab: fill the mask, click a word to mask it, both sides vs. left only, layers, the masking lab, fp32
vs. int8, which explanation to trust."""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.models.quantization import Precision
from bertviz_ui.registry import task_by_id
from bertviz_ui.render.fill_mask import (
    click_masked_html,
    completed_html,
    context_figure,
    iterative_table,
    layers_figure,
    layers_table,
    left_text_html,
    mask_token_html,
    masking_lab_html,
    predictions_figure,
    quantized_figure,
    quantized_html,
    quantized_table,
)
from bertviz_ui.render.html import model_badge_html, notes_html
from bertviz_ui.tasks.fill_mask import (
    MAX_MASKS,
    MAX_TOP_K,
    check_mlm_head,
    compare_context,
    compare_quantized,
    iterative_fill,
    mask_word,
    masking_lab,
    normalize_masks,
    predict_masks,
    predictions_through_layers,
    sentence_words,
)
from bertviz_ui.tasks.validation import check_text, check_whole_number
from bertviz_ui.ui.compare import compare_section
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, integer_api, raw_output, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work, user_errors
from bertviz_ui.ui.explanation_check import connect, section, task_input
from bertviz_ui.ui.export import export_view
from bertviz_ui.ui.permalink import Link, Opening
from bertviz_ui.ui.progress import watch_downloads

TASK = task_by_id("fill_mask")

EXAMPLES = [
    ["The cat [MASK] on the [MASK]."],
    ["Paris is the [MASK] of France."],
    ["The doctor told me to take the [MASK] twice a day."],
    ["I went to the [MASK] to buy some bread and [MASK]."],
    ["BERT reads the words on both [MASK] of a mask."],
]
CLICK_SENTENCE = "The chef cooked a delicious meal for the guests in the restaurant."
LAB_SENTENCE = ("BERT was pretrained on books and English Wikipedia by hiding some of the words in each sentence "
                "and asking the model to guess them from the words around them.")


def trained_mlm_head(loaded: LoadedModel) -> None:
    """The cache's accept check: a checkpoint without a trained masked-LM head is not kept."""
    check_mlm_head(loaded.newly_initialized)


def _load(ctx: AppContext, model: str, precision: Precision | None = None) -> LoadedModel:
    return ctx.cache.load_for_task(TASK, model, accept=trained_mlm_head, precision=precision)


def _badge(loaded: LoadedModel, notes: tuple[str, ...] = ()) -> str:
    return (model_badge_html(loaded.label, untrained=loaded.source.untrained)
            + mask_token_html(str(loaded.tokenizer.mask_token)) + notes_html(notes))


def run_fill_mask(ctx: AppContext, model: str, text: str, top_k: Any) -> Shown:
    """Predict every mask independently (one forward); with several masks also fill them iteratively."""
    loaded = _load(ctx, model)
    result = predict_masks(text, model=loaded.model, tokenizer=loaded.tokenizer, top_k=top_k, label=loaded.label,
                           budget=ctx.budget, batcher=ctx.batcher)
    payload = result.to_dict()
    iterative = gr.update(visible=False, value=None)
    if len(result.masks) > 1:
        steps = iterative_fill(result.text, model=loaded.model, tokenizer=loaded.tokenizer, budget=ctx.budget,
                               batcher=ctx.batcher)
        iterative = gr.update(visible=True, value=iterative_table(steps, result))
        payload["iterative"] = {"completed": steps.completed,
                                "order": [step.position for step in steps.steps]}
    header = _badge(loaded, result.notes) + completed_html(result)
    return {"header": header, "bars": predictions_figure(result), "iterative": iterative, "raw": payload}


def run_analysis(ctx: AppContext, model: str, text: str, mask_number: Any, top_k: Any) -> Shown:
    """For one mask: both sides vs. left only, and the head applied to every layer."""
    index = check_whole_number(mask_number, "Mask number", low=1, high=MAX_MASKS) - 1
    loaded = _load(ctx, model)
    comparison = compare_context(text, model=loaded.model, tokenizer=loaded.tokenizer, mask_index=index,
                                 top_k=top_k, budget=ctx.budget)
    layers = predictions_through_layers(text, model=loaded.model, tokenizer=loaded.tokenizer, mask_index=index,
                                        budget=ctx.budget)
    return {"context": context_figure(comparison), "left": left_text_html(comparison),
            "layers": layers_figure(layers), "table": layers_table(layers)}


def list_words(ctx: AppContext, model: str, sentence: str) -> Shown:
    """The sentence's words as clickable choices."""
    if not sentence or not sentence.strip():
        return {"words": gr.update(choices=[], value=None)}
    loaded = _load(ctx, model)
    words = sentence_words(sentence, tokenizer=loaded.tokenizer)
    return {"words": gr.update(choices=[(w.text, w.index) for w in words], value=None)}


def run_click_to_mask(ctx: AppContext, model: str, sentence: str, word: Any, top_k: Any) -> Shown:
    """Mask the chosen word and predict what goes there."""
    if word is None:
        return {"header": "", "plot": None}
    loaded = _load(ctx, model)
    masked = mask_word(sentence, word, tokenizer=loaded.tokenizer)
    result = predict_masks(masked, model=loaded.model, tokenizer=loaded.tokenizer, top_k=top_k, label=loaded.label,
                           budget=ctx.budget, batcher=ctx.batcher)
    original = sentence_words(sentence, tokenizer=loaded.tokenizer)[int(word)].text
    return {"header": click_masked_html(masked, original, result), "plot": predictions_figure(result)}


def run_masking_lab(ctx: AppContext, model: str, sentence: str, seed: Any, probability: Any) -> Shown:
    """Draw the 15% selection and the 80/10/10 corruption, then score the model on it."""
    loaded = _load(ctx, model)
    result = masking_lab(sentence, model=loaded.model, tokenizer=loaded.tokenizer, seed=seed,
                         probability=probability, label=loaded.label, budget=ctx.budget)
    view = (model_badge_html(loaded.label, untrained=loaded.source.untrained) + notes_html(result.notes)
            + masking_lab_html(result))
    return {"view": view, "raw": result.to_dict()}


def run_quantized(ctx: AppContext, model: str, text: str, top_k: Any) -> Shown:
    """The same masks predicted by the fp32 model and by its int8 copy, with both sizes."""
    text = check_text(text, "Text")
    top_k = check_whole_number(top_k, "Top-k", low=1, high=MAX_TOP_K)
    full = _load(ctx, model, Precision.FULL)
    normalize_masks(text, full.tokenizer)  # a text without a mask is refused before a second model loads
    int8 = _load(ctx, model, Precision.INT8)
    result = compare_quantized(text, model=full.model, quantized=int8.model, tokenizer=full.tokenizer,
                               full_bytes=full.size_bytes, int8_bytes=int8.size_bytes, top_k=top_k, label=full.label,
                               newly_initialized=full.newly_initialized, budget=ctx.budget)
    return {"header": _badge(full, result.notes) + quantized_html(result), "plot": quantized_figure(result),
            "table": quantized_table(result), "raw": result.to_dict()}


def build(ctx: AppContext, tab: gr.Tab) -> Opening:
    """Lay out the Masked words tab inside the current gr.Blocks context; it opens with an example in each sub-tab."""
    choices = ctx.model_choices(TASK)
    gr.Markdown(
        "BERT was pretrained by **masked language modelling**: 15% of tokens are selected; of those 80% become "
        "`[MASK]`, 10% a random token and 10% stay unchanged, and the model learns to recover the original from "
        "the words on **both sides**. Type `[MASK]` anywhere (up to "
        f"{MAX_MASKS} times) and see what it would put there."
    )
    with gr.Row():
        model = gr.Dropdown(choices, value=choices[0], label="Masked-language model", allow_custom_value=True,
                            info=ctx.model_hint(), elem_id="fill-mask-model",
                            scale=3)
        top_k = gr.Slider(1, MAX_TOP_K, value=5, step=1, label="Top-k", elem_id="fill-mask-top-k", scale=1)
    with gr.Tabs(overflow_behavior="wrap"):  # every sub-tab in sight on a phone, not behind "..."
        with gr.Tab("Fill the mask", id="fill"):
            text = gr.Textbox(label="Text with [MASK]", lines=2, elem_id="fill-mask-text")
            with gr.Accordion("Examples", open=False):
                gr.Examples(EXAMPLES, inputs=[text], label=None)
            button = gr.Button("Predict", variant="primary", elem_id="fill-mask-run")
            panel = ErrorPanel("fill-mask-error")
            header = gr.HTML(elem_id="fill-mask-header", padding=False)
            bars = gr.Plot(label="Predictions", elem_id="fill-mask-plot")
            iterative = result_table("Iterative fill: the most confident mask first, then re-run",
                                     "fill-mask-iterative", visible=False)
            mask_number = gr.Number(1, minimum=1, maximum=MAX_MASKS, label="Mask number to analyse",
                                    info="Press Enter to re-run the analysis for another mask.",
                                    elem_id="fill-mask-number", scale=1, min_width=200, render=False)
            link = Link("fill_mask", run=button, model=model, text=text, top_k=top_k, mask=mask_number)
            export_view(ctx, view="fill_mask", title="Masked words", handler=functools.partial(run_fill_mask, ctx),
                        inputs={"model": model, "text": text, "top_k": top_k},
                        parts=[("header", ""), ("bars", "Predictions"),
                               ("iterative", "Iterative fill: the most confident mask first, then re-run")],
                        link=link, concurrency_id="fill_mask-batched", concurrency_limit=ctx.light_concurrency,
                        panel=panel)
            gr.Markdown("## Both sides vs. left side only, and the guess layer by layer")
            with gr.Row():
                mask_number.render()
                gr.HTML(padding=False, scale=3)
            context_plot = gr.Plot(label="Both sides vs. left only", elem_id="fill-mask-context")
            left_text = gr.HTML(padding=False, elem_id="fill-mask-left")
            layers_plot = gr.Plot(label="Through the layers", elem_id="fill-mask-layers")
            layers_df = result_table("Top guesses per layer", "fill-mask-layer-table")
            raw = raw_output("fill-mask-json")
        with gr.Tab("Click to mask", id="click"):
            sentence = gr.Textbox(label="A plain sentence", elem_id="click-sentence")
            words = gr.Radio([], label="Click a word to mask it", elem_id="click-words")
            click_header = gr.HTML(padding=False, elem_id="click-header")
            click_plot = gr.Plot(label="What the model would put there", elem_id="click-plot")
        with gr.Tab("Masking lab", id="lab"):
            gr.Markdown("Draw the corruption BERT's pretraining applies (transformers' own "
                        "`DataCollatorForLanguageModeling`), then see the model's guesses and the loss on the "
                        "selected positions only. Change the seed to draw again.")
            lab_sentence = gr.Textbox(label="Sentence", lines=2, elem_id="lab-sentence")
            with gr.Row():
                seed = gr.Number(0, minimum=0, label="Seed", elem_id="lab-seed")
                rate = gr.Slider(0.05, 0.5, value=0.15, step=0.05, label="Selection rate (BERT: 0.15)",
                                 elem_id="lab-rate")
            lab_button = gr.Button("Draw the masking", variant="primary", elem_id="lab-run")
            lab_panel = ErrorPanel("lab-error")
            lab_view = gr.HTML(padding=False, elem_id="lab-view")
            lab_raw = gr.JSON(visible=False)
        with gr.Tab("fp32 vs. int8", id="quantized"):
            gr.Markdown("What **int8 quantization** changes: the same masks predicted by the model's fp32 weights "
                        "and by an int8 copy (its layers' linear maps stored in 8 bits, as `BERTVIZ_UI_QUANTIZE=int8` "
                        "serves every tab on CPU), side by side, with both sizes in memory.")
            quantized_text = gr.Textbox(label="Text with [MASK]", lines=2, elem_id="quantized-text")
            quantized_button = gr.Button("Compare fp32 and int8", variant="primary", elem_id="quantized-run")
            quantized_panel = ErrorPanel("quantized-error")
            quantized_header = gr.HTML(padding=False, elem_id="quantized-header")
            quantized_plot = gr.Plot(label="fp32 vs. int8", elem_id="quantized-plot")
            quantized_df = result_table("Candidates by rank", "quantized-table")
            quantized_raw = gr.JSON(visible=False)

        with gr.Tab("Which explanation to trust?", id="check"):
            check = section("fill-mask-check", task="fill_mask")

    integer_api(top_k, mask_number, seed)
    out = Outputs(header=header, bars=bars, iterative=iterative, raw=raw, errors=panel)
    fill = out.wrap(model_work("predicting masked words")(functools.partial(run_fill_mask, ctx)))
    event = panel.follow(button.click(fill, [model, text, top_k], out.components, api_name="fill_mask",
                                      concurrency_id="fill_mask-batched", concurrency_limit=ctx.light_concurrency))
    out = Outputs(context=context_plot, left=left_text, layers=layers_plot, table=layers_df, errors=panel)
    analyse = out.wrap(model_work("analysing the mask")(functools.partial(run_analysis, ctx)))
    panel.follow(event.success(analyse, [model, text, mask_number, top_k], out.components,
                               api_name="fill_mask_analysis", concurrency_id="fill_mask"))
    panel.follow(mask_number.submit(analyse, [model, text, mask_number, top_k], out.components,
                                    api_visibility="private", concurrency_id="fill_mask"))

    out = Outputs(words=words, errors=panel)
    words_for = out.wrap(watch_downloads(user_errors("splitting the sentence")(functools.partial(list_words, ctx))))
    # .input, not .change: the sentence the page opens with arrives by the page-load event, and loading a model for
    # every page opened would be waste; selecting the tab lists its words.
    for trigger in (sentence.input, tab.select):
        panel.follow(trigger(words_for, [model, sentence], out.components, api_visibility="private",
                             concurrency_id="fill_mask", trigger_mode="always_last"), clears=False)
    out = Outputs(header=click_header, plot=click_plot, errors=panel)
    clicked = out.wrap(model_work("predicting the masked word")(functools.partial(run_click_to_mask, ctx)))
    panel.follow(words.input(clicked, [model, sentence, words, top_k], out.components, api_visibility="private",
                             concurrency_id="fill_mask"))

    out = Outputs(view=lab_view, raw=lab_raw, errors=lab_panel)
    lab = out.wrap(model_work("drawing the masking")(functools.partial(run_masking_lab, ctx)))
    lab_panel.follow(lab_button.click(lab, [model, lab_sentence, seed, rate], out.components, api_name="masking_lab",
                                      concurrency_id="fill_mask"))

    out = Outputs(header=quantized_header, plot=quantized_plot, table=quantized_df, raw=quantized_raw,
                  errors=quantized_panel)
    quantized = out.wrap(model_work("comparing fp32 and int8")(functools.partial(run_quantized, ctx)))
    quantized_panel.follow(quantized_button.click(quantized, [model, quantized_text, top_k], out.components,
                                                  api_name="fill_mask_quantized", concurrency_id="fill_mask"))
    compare_section(ctx, "fill_mask", model=model, text=text, top_k=top_k)
    connect(ctx, check, task_input("fill_mask"), model, public=False)
    return Opening({text: EXAMPLES[0][0], sentence: CLICK_SENTENCE, lab_sentence: LAB_SENTENCE,
                    quantized_text: EXAMPLES[1][0], check.text: EXAMPLES[1][0]},
                   link)
