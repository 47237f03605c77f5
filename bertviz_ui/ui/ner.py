"""NER tab: colour-coded entities, what each aggregation strategy does, word-label alignment, spaCy beside it."""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.models.spacy_pipeline import english_pipeline
from bertviz_ui.registry import task_by_id
from bertviz_ui.render.html import esc, model_badge_html, notes_html
from bertviz_ui.render.ner import alignment_table, entities_html, entity_table, spacy_missing_html, token_table
from bertviz_ui.tasks.ner import (
    STRATEGIES,
    Entity,
    align_labels,
    check_token_classifier,
    entity_type,
    filter_entities,
    recognize,
    spacy_entities,
)
from bertviz_ui.tasks.pieces import PIECES, UNITS, check_unit
from bertviz_ui.tasks.validation import check_text
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, raw_output, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work, user_errors
from bertviz_ui.ui.export import export_view
from bertviz_ui.ui.permalink import Link, Opening
from bertviz_ui.ui.progress import watch_downloads

TASK = task_by_id("ner")

EXAMPLES = [
    ["Apple CEO Tim Cook announced a new product at their Cupertino headquarters."],
    ["Elon Musk founded Tesla in California."],
    ["Angela Merkel met Emmanuel Macron in Paris to discuss the European Union's budget."],
    ["Kraków's Wawel Castle and São Paulo's Ibirapuera Park 🌳 drew visitors from Zürich."],
]
ALIGNMENT_EXAMPLE = ("Elon Musk founded Tesla in California.", "B-PER I-PER O B-ORG O B-LOC O")
STRATEGY_HELP = ("none: every token's own label. simple: neighbouring tokens with the same type merge, even inside a "
                 "word (## fragments). first / average / max: one label per word, from its first piece, the "
                 "average of its pieces' scores, or its highest-scoring piece, then words merge.")


def refilter(payload: dict | None, types: list[str] | None, min_score: Any) -> Shown:
    """The kept entities again, of the ticked types and at least the minimum confidence (no model runs)."""
    if not payload:
        return {"view": "", "entities": None}
    entities = tuple(Entity(**e) for e in payload["entities"])
    try:
        threshold = float(min_score or 0.0)
    except (TypeError, ValueError):
        threshold = 0.0
    chosen = tuple(e for e in entities if not types or entity_type(e.label) in types)
    shown = filter_entities(chosen, min_score=threshold)
    return {"view": entities_html(payload["text"], shown), "entities": entity_table(shown)}


def trained_token_classifier(loaded: LoadedModel) -> None:
    """The cache's accept check: a checkpoint without a trained token-classification head is not kept."""
    check_token_classifier(loaded.model, loaded.newly_initialized)


def run_ner(ctx: AppContext, model: str, text: str, strategy: str, unit: Any = PIECES) -> Shown:
    """Recognize entities with one strategy; the raw token predictions come from the same forward."""
    unit = check_unit(unit)
    loaded = ctx.cache.load_for_task(TASK, model, accept=trained_token_classifier)
    result = recognize(text, model=loaded.model, tokenizer=loaded.tokenizer, strategy=strategy or "simple",
                       label=loaded.label, newly_initialized=loaded.newly_initialized, budget=ctx.budget,
                       batcher=ctx.batcher)
    payload = result.to_dict()
    types = sorted({entity_type(e.label) for e in result.entities})
    header = model_badge_html(loaded.label, untrained=loaded.source.untrained) + notes_html(result.notes)
    kept = {"text": payload["text"], "entities": payload["entities"]}
    return {"header": header, **refilter(kept, None, 0.0), "tokens": token_table(result.tokens, unit, result.text),
            "types": gr.update(choices=types, value=[]), "raw": payload, "kept": kept}


def run_alignment(ctx: AppContext, model: str, sentence: str, labels: str, all_subwords: bool) -> Shown:
    """Word-level labels mapped onto the model's tokens, as NER training does."""
    sentence, labels = check_text(sentence, "Words"), check_text(labels, "Word labels")  # before loading anything
    loaded = ctx.cache.load_for_task(TASK, model)
    known = {str(k): int(v) for k, v in (loaded.model.config.label2id or {}).items()}
    wanted = set(labels.split()) | {"I-" + tag[2:] for tag in labels.split() if tag.startswith("B-")}
    # The model's own label ids when it knows every label typed, so the ids are the ones it was trained with.
    alignment = align_labels(sentence, labels, tokenizer=loaded.tokenizer, label_all_subwords=bool(all_subwords),
                             label2id=known if wanted <= set(known) else None)
    return {"table": alignment_table(alignment)}


def run_spacy(text: str) -> Shown:
    """Entities from an installed spaCy English pipeline, or how to install one."""
    text = check_text(text, "Text")
    name, nlp = english_pipeline()
    if nlp is None:
        return {"view": spacy_missing_html()}
    return {"view": entities_html(text, spacy_entities(text, nlp), title=f"spaCy {esc(name)}")}


def build(ctx: AppContext, tab: gr.Tab) -> Opening:
    """Lay out the NER tab inside the current gr.Blocks context; it opens with an example text and its alignment."""
    choices = ctx.model_choices(TASK)
    gr.Markdown(
        "Named-entity recognition labels **every token** (B- begins an entity, I- continues it, O is outside), "
        "then merges token labels into entity spans. Spans come from character offsets into your text, never "
        "from the lower-cased tokens. Compare the aggregation strategies to see how the merge changes the result."
    )
    model = gr.Dropdown(choices, value=choices[0], label="Token-classification model", allow_custom_value=True,
                        elem_id="ner-model")
    text = gr.Textbox(label="Text", lines=3, elem_id="ner-text")
    with gr.Accordion("Examples", open=False):
        gr.Examples(EXAMPLES, inputs=[text], label=None)
    strategy = gr.Radio(list(STRATEGIES), value="simple", label="Aggregation strategy", info=STRATEGY_HELP,
                        elem_id="ner-strategy")
    button = gr.Button("Find entities", variant="primary", elem_id="ner-run")
    panel = ErrorPanel("ner-error")
    header = gr.HTML(padding=False, elem_id="ner-header")
    with gr.Row():
        types = gr.CheckboxGroup([], label="Show types (none ticked: all)", elem_id="ner-types")
        min_score = gr.Slider(0, 1, value=0, step=0.05, label="Minimum confidence", elem_id="ner-min-score")
    view = gr.HTML(padding=False, elem_id="ner-view")
    with gr.Row():
        entities = result_table("Entities", "ner-entities-table")
        with gr.Column():
            tokens = result_table("Every token's own prediction (before merging)", "ner-tokens-table",
                                  max_height=420)
            unit = gr.Radio(list(UNITS), value=PIECES, label="Token table by", elem_id="ner-unit",
                            info="pieces: as the model read them. words: one row per word, labelled by its first "
                                 "piece (as training labels words), with every piece's label beside it.")
    link = Link("ner", run=button, model=model, text=text, strategy=strategy, unit=unit)
    export_view(ctx, view="ner", title="Entities", handler=functools.partial(run_ner, ctx),
                inputs={"model": model, "text": text, "strategy": strategy, "unit": unit},
                parts=[("header", ""), ("view", "Entities in the text"), ("entities", "Entities"),
                       ("tokens", "Every token's own prediction (before merging)")],
                link=link, concurrency_id="ner-batched", concurrency_limit=ctx.light_concurrency, panel=panel)
    raw = raw_output("ner-json")
    # Server-side copy of the text and its entities (not the tokens: 300 sessions' worth at 5,000 characters would
    # hold ~70 MB), so the filters never trust the browser; freed when the session idles.
    result_state = gr.State(None, time_to_live=ctx.settings.session_minutes * 60)
    with gr.Accordion("Alignment: how word labels become token labels for training", open=False):
        gr.Markdown("Training data labels **words**; the model predicts **tokens**. The first piece of each word "
                    "takes the word's label, the other pieces and the special tokens get -100 (IGN) so the loss "
                    "skips them. Words are split as the model's pre-tokenizer splits them (punctuation apart).")
        with gr.Row():
            align_words = gr.Textbox(label="Sentence", elem_id="ner-align-words")
            align_labels_box = gr.Textbox(label="One label per word", elem_id="ner-align-labels")
        all_subwords = gr.Checkbox(False, label="Label every piece (B- becomes I- after the first piece)",
                                   elem_id="ner-align-all")
        align_button = gr.Button("Align", elem_id="ner-align-run")
        align_table = result_table("Token labels", "ner-align-table")
    with gr.Accordion("Compare with spaCy", open=False):
        spacy_button = gr.Button("Run spaCy on the same text", elem_id="ner-spacy-run")
        spacy_view = gr.HTML(padding=False, elem_id="ner-spacy")

    out = Outputs(header=header, view=view, entities=entities, tokens=tokens, types=types, raw=raw, kept=result_state,
                  errors=panel)
    ner = out.wrap(model_work("finding entities")(functools.partial(run_ner, ctx)))
    inputs = [model, text, strategy, unit]
    panel.follow(button.click(ner, inputs, out.components, api_name="ner", concurrency_id="ner-batched",
                              concurrency_limit=ctx.light_concurrency))
    # The words/pieces switch runs again (one light batched forward) rather than keep every session's tokens.
    panel.follow(unit.input(ner, inputs, out.components, api_visibility="private", concurrency_id="ner-batched",
                            concurrency_limit=ctx.light_concurrency))
    out = Outputs(view=view, entities=entities)
    for control in (types, min_score):
        control.change(out.wrap(user_errors("filtering entities")(refilter)), [result_state, types, min_score],
                       out.components, api_visibility="private", queue=False)
    out = Outputs(table=align_table, errors=panel)
    align = out.wrap(watch_downloads(user_errors("aligning labels")(functools.partial(run_alignment, ctx))))
    panel.follow(align_button.click(align, [model, align_words, align_labels_box, all_subwords], out.components,
                                    api_name="ner_alignment", concurrency_id="ner"))
    out = Outputs(view=spacy_view, errors=panel)
    panel.follow(spacy_button.click(out.wrap(user_errors("running spaCy")(run_spacy)), [text], out.components,
                                    api_name="ner_spacy", concurrency_id="ner"))
    return Opening({text: EXAMPLES[0][0], align_words: ALIGNMENT_EXAMPLE[0], align_labels_box: ALIGNMENT_EXAMPLE[1]},
                   link)
