"""Inside BERT tab: attention (head and model views), rollout and flow, embeddings, parameter counts and the seed's
model comparison."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import gradio as gr

from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.models.quantization import Precision
from bertviz_ui.registry import task_by_id
from bertviz_ui.render.attention import (
    head_view_figure,
    heatmap_figure,
    legend_html,
    model_view_figure,
    run_header_html,
    summaries_figure,
    summary_table,
    token_choices,
    view_notes_html,
)
from bertviz_ui.render.comparison import comparison_html, comparison_table
from bertviz_ui.render.embeddings import change_figure, embeddings_header_html, parts_figure, pca_figure
from bertviz_ui.render.html import model_badge_html, notes_html
from bertviz_ui.render.parameters import count_summary_html, module_figure, module_table, seed_check_html
from bertviz_ui.tasks.attention import JSON_TOKENS, Selection, attention_view, check_selection, every_layer
from bertviz_ui.tasks.comparison import Comparison, compare_loaded_models, time_random_builds
from bertviz_ui.tasks.embeddings import COLOR_BY, check_color_by, embeddings_view
from bertviz_ui.tasks.encoder import EncoderRun, RunCache, run_encoder
from bertviz_ui.tasks.parameters import HEADS, count_with_head, seed_check
from bertviz_ui.tasks.pieces import PIECES, UNITS, check_unit
from bertviz_ui.tasks.validation import check_text
from bertviz_ui.ui import attention_rollout
from bertviz_ui.ui.compare import compare_section
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, integer_api, raw_output, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work, user_errors
from bertviz_ui.ui.export import export_control, export_id, export_view
from bertviz_ui.ui.permalink import Link, Opening
from bertviz_ui.ui.queue import HEAVY

TASK = task_by_id("attention")
EXAMPLES = [
    ["The cat sat on the mat.", "It was a lazy afternoon."],
    ["The animal didn't cross the street because it was too tired.", ""],
    ["The bank raised interest rates.", "She sat on the river bank."],
]
DIRECTION_CHOICES = [("every token", "all"), ("sentence A -> B only", "A->B"), ("sentence B -> A only", "B->A")]
# The browser saves the full-precision JSON it was sent as a file (no copy on the server's disk).
DOWNLOAD_JSON = """(value) => {
  if (!value) return;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([JSON.stringify(value)], {type: "application/json"}));
  link.download = `attention-layer-${Number(value.layer)}.json`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}"""
# What the attention controls redraw, and what the embeddings view shows: skipped together when there is no run yet.
VIEWS = ("head_view", "model_view", "heatmap", "legend", "table", "raw")
EMBEDDINGS = ("header", "parts", "change", "pca", "layer", "raw")


class InsideBert:
    """What the tab keeps per app: the context and the finished encoder runs, so controls re-render without a forward.

    Args:
        ctx: the app's settings and model cache.
        runs: the kept runs (a small LRU keyed by model, text and pair).
    """

    def __init__(self, ctx: AppContext, runs: RunCache | None = None):
        self.ctx = ctx
        self.runs = runs if runs is not None else RunCache()

    def load(self, model: str, precision: Precision | None = None) -> LoadedModel:
        """The encoder with eager attention (sdpa returns none); the task default falls back to the offline MiniLM."""
        return self.ctx.cache.load_for_task(TASK, model, attentions=True, precision=precision)

    def run(self, model: str, text: Any, pair: Any) -> tuple[LoadedModel, EncoderRun]:
        """The run for this model and text: kept from before, or one forward now."""
        loaded = self.load(model)
        text = check_text(text, "Text")
        pair = check_text(pair, "Sentence B", required=False)
        key = (loaded.source.location, loaded.label, text, pair)
        run = self.runs.get_or_compute(key, lambda: run_encoder(text, pair, model=loaded.model,
                                                                tokenizer=loaded.tokenizer, label=loaded.label,
                                                                budget=self.ctx.budget))
        return loaded, run


def _views(run: EncoderRun, layer: Any, heads: Any, token: Any, hide_special: Any, direction: Any,
           renormalize: Any, unit: Any = PIECES) -> Shown:
    unit = check_unit(unit)
    view = attention_view(run, layer, heads, hide_special=bool(hide_special), direction=direction,
                          renormalize=bool(renormalize), token=token)
    grid = every_layer(run, hide_special=bool(hide_special), direction=direction, renormalize=bool(renormalize))
    single = view.heads_shown[0] if len(view.heads_shown) == 1 else None
    return {"head_view": head_view_figure(view), "model_view": model_view_figure(grid, layer=view.layer, head=single),
            "heatmap": heatmap_figure(view, word_ids=run.word_ids, unit=unit), "legend": legend_html(view) + view_notes_html(view),
            "table": summary_table(run.summaries, view.layer), "raw": view.summary_dict(run.summaries)}


def _selected_run(inside: InsideBert, model: str, text: str, pair: str, layer: Any, heads: Any, token: Any,
                  direction: str) -> tuple[LoadedModel, EncoderRun, Selection, list[str]]:
    """The controls checked, the run (one forward, or the kept one), and what was changed to fit this text."""
    # The controls are checked against the model's config before the forward: a refused request costs no run.
    selected = check_selection(layer, heads, token, direction, model=inside.load(model).model)
    loaded, run = inside.run(model, text, pair)
    notes = []
    if selected.token is not None and selected.token >= len(run.tokens):
        # The picker still lists the previous text's tokens; a new text starts with every token shown.
        notes.append(f"Token {selected.token} is beyond this text's {len(run.tokens)} tokens: showing every token.")
        selected = dataclasses.replace(selected, token=None)
    return loaded, run, selected, notes


def show_attention(inside: InsideBert, model: str, text: str, pair: str, layer: Any, heads: Any, token: Any,
                   hide_special: bool, direction: str, renormalize: bool, unit: Any = PIECES) -> Shown:
    """One forward (or the kept one) and every attention view of it."""
    loaded, run, selected, notes = _selected_run(inside, model, text, pair, layer, heads, token, direction)
    token_value = -1 if selected.token is None else selected.token
    heads_value = list(selected.heads)
    views = _views(run, selected.layer, heads_value, token_value, hide_special, selected.direction, renormalize,
                   unit)
    return {"header": run_header_html(run, untrained=loaded.source.untrained) + notes_html(notes),
            "layer": gr.update(choices=list(range(run.layers)), value=selected.layer),
            "heads": gr.update(choices=[(f"head {h}", h) for h in range(run.heads)], value=heads_value),
            "token": gr.update(choices=token_choices(run), value=token_value), **views,
            "summaries": summaries_figure(run.summaries), "state": {"model": model, "text": text, "pair": pair or ""}}


def attention_json(inside: InsideBert, model: str, text: str, pair: str, layer: Any, heads: Any, token: Any,
                   hide_special: bool, direction: str, renormalize: bool) -> Shown:
    """The full-precision JSON of the view /attention shows for the same inputs (its weights included), on request.

    Its size is bounded: the heads of one layer, at most JSON_TOKENS rows and columns (12 x 128 x 128 weights, about
    2.7 MB); the run is the kept one when /attention just ran, else one forward within the request budget.
    """
    _, run, selected, notes = _selected_run(inside, model, text, pair, layer, heads, token, direction)
    view = attention_view(run, selected.layer, list(selected.heads), hide_special=bool(hide_special),
                          direction=selected.direction, renormalize=bool(renormalize), token=selected.token)
    data = view.to_dict(run.summaries)
    data["notes"] = [*notes, *data["notes"]]
    return {"raw": data}


def rerender(inside: InsideBert, state: dict | None, layer: Any, heads: Any, token: Any, hide_special: bool,
             direction: str, renormalize: bool, unit: Any = PIECES) -> Shown:
    """Re-draw the attention views for other controls from the kept run (no forward unless it was evicted)."""
    if not state:
        return dict.fromkeys(VIEWS, gr.skip())
    _, run = inside.run(state["model"], state["text"], state["pair"])
    return _views(run, layer, heads, token, hide_special, direction, renormalize, unit)


def show_embeddings(inside: InsideBert, state: dict | None, pca_layer: Any, color_by: str) -> Shown:
    """Embedding parts, change through the layers and the projection, from the kept run."""
    if not state:
        return dict.fromkeys(EMBEDDINGS, gr.skip())
    _, run = inside.run(state["model"], state["text"], state["pair"])
    color_by = check_color_by(color_by)
    result = embeddings_view(run, pca_layer)
    return {"header": embeddings_header_html(result), "parts": parts_figure(result), "change": change_figure(result),
            "pca": pca_figure(result, color_by), "layer": gr.update(maximum=run.layers), "raw": result.to_dict()}


def show_parameters(inside: InsideBert, model: str, head: str, num_labels: Any) -> Shown:
    """Parameters per module of the chosen encoder (with a task head if asked), and the seed's figures checked."""
    # Counted on the full-precision weights: int8 layers keep theirs as buffers, which parameters() doesn't list.
    loaded = inside.load(model, Precision.FULL)
    count = count_with_head(loaded.model, label=loaded.label, head=head, num_labels=num_labels)
    check = seed_check()
    header = model_badge_html(loaded.label, untrained=loaded.source.untrained) + count_summary_html(count)
    return {"header": header, "figure": module_figure(count), "table": module_table(count),
            "seed": seed_check_html(check), "raw": {"count": count.to_dict(), "seed_check": check.to_dict()}}


def _comparison_shown(result: Comparison) -> Shown:
    return {"table": comparison_table(result), "notes": comparison_html(result), "raw": result.to_dict()}


def show_comparison(ctx: AppContext) -> Shown:
    """The seed's comparison table, measured; latency for the models loaded in this app."""
    return _comparison_shown(compare_loaded_models(ctx.cache, ctx.budget))


def show_latency(ctx: AppContext) -> Shown:
    """The comparison with random-weight copies of the five models timed too (see tasks.comparison)."""
    return _comparison_shown(time_random_builds(ctx.cache, ctx.budget))


def build(ctx: AppContext, tab: gr.Tab) -> Opening:
    """Lay out the Inside BERT tab inside the current gr.Blocks context; it opens with the seed text's pair."""
    inside = InsideBert(ctx)
    choices = ctx.model_choices(TASK)
    # The model's shape is never stated here: the header of each run reads it from the loaded model's config (a tiny
    # checkpoint has 2 layers x 2 heads, bert-base 12 x 12). The fallback is mentioned only where it can happen.
    fallback = (" Without the Hub, the default model falls back to the offline **all-MiniLM-L6-v2** (real weights, "
                "BERT architecture), labelled as such." if TASK.offline_fallback
                and ctx.default_model(TASK) == TASK.default_model else "")
    gr.Markdown(
        "Look inside the encoder. One forward pass over your text keeps every layer's **attention** and **hidden "
        "states**; the Attention and Embeddings views below all read that one pass, so changing a layer, head or "
        "filter redraws without running the model again. Its layers and heads, as read from the model's config, are "
        f"counted above the views.{fallback}"
    )
    model = gr.Dropdown(choices, value=choices[0], label="Encoder", allow_custom_value=True, elem_id="attention-model",
                        info="Loaded with eager attention, so attention weights can be read.")
    with gr.Row():
        text = gr.Textbox(label="Text (sentence A)", lines=2, elem_id="attention-text")
        pair = gr.Textbox("", label="Sentence B (optional)", lines=2, elem_id="attention-pair")
    with gr.Accordion("Examples", open=False):
        gr.Examples(EXAMPLES, inputs=[text, pair], label=None)
    button = gr.Button("Look inside", variant="primary", elem_id="attention-run")
    panel = ErrorPanel("attention-error")
    header = gr.HTML(padding=False, elem_id="attention-header")
    # The inputs of the last run; the run itself stays server-side in inside.runs (a bounded LRU).
    state = gr.State(None, time_to_live=ctx.settings.session_minutes * 60)
    with gr.Tabs(elem_id="inside-tabs", overflow_behavior="wrap"):
        with gr.Tab("Attention", id="inside-attention", elem_id="inside-attention"):
            with gr.Row():
                # Custom values pass to the server's own check (the choices change with the model: 24 layers for bert-large).
                layer = gr.Dropdown(list(range(12)), value=0, label="Layer (0 = first)", allow_custom_value=True,
                                    elem_id="attention-layer")
                token = gr.Dropdown([("(every token)", -1)], value=-1, label="Isolate a token's attention",
                                    allow_custom_value=True, elem_id="attention-token")
                direction = gr.Radio(DIRECTION_CHOICES, value="all", label="Direction", elem_id="attention-direction")
            # A multiselect that accepts any value: the head count changes with the model, and the server checks it.
            heads = gr.Dropdown(list(range(12)), value=[], multiselect=True, allow_custom_value=True,
                                label="Heads (none chosen: all; each head has its colour)", elem_id="attention-heads")
            with gr.Row():
                hide_special = gr.Checkbox(False, label="Hide [CLS]/[SEP] attention", elem_id="attention-hide-special")
                renormalize = gr.Checkbox(True, label="Renormalize rows after filtering (each sums to 1)",
                                          elem_id="attention-renormalize")
            legend = gr.HTML(padding=False, elem_id="attention-legend")
            head_view = gr.Plot(label="Head view", elem_id="attention-head-view")
            gr.Markdown("**Model view**: every layer (rows) and head (columns). To open one large, pick its layer "
                        "above and tick that single head: the large heatmap below shows it, outlined in red here.")
            model_view = gr.Plot(label="Model view", elem_id="attention-model-view")
            unit = gr.Radio(list(UNITS), value=PIECES, label="Large heatmap by", elem_id="attention-unit",
                            info="pieces: the tokens the model read. words: attention to a word is the sum over its "
                                 "pieces' columns; a word's row is the mean of its pieces' rows (each still sums to "
                                 "1). The head and model views stay by piece.")
            heatmap = gr.Plot(label="Large heatmap", elem_id="attention-heatmap")
            gr.Markdown("**Summaries per head**: entropy (low = focused on few tokens; the maximum is uniform "
                        "attention), the share of attention going to [CLS], [SEP] and punctuation (often a "
                        "'no-op' sink), and the mean distance to the attended token.")
            summaries = gr.Plot(label="Head summaries, every layer", elem_id="attention-summaries")
            table = result_table("This layer's heads", "attention-summary-table")
            attention_export = export_control(export_id("attention"))
            raw = raw_output("attention-json")
            # The weights at full precision are megabytes at 128 tokens: sent when asked for, not with every run, and
            # handed to the browser as a file (drawn as a JSON tree, 200,000 numbers stall the page for good).
            json_button = gr.Button(f"Download this layer's weights at full precision (JSON, at most {JSON_TOKENS} "
                                    "tokens)", size="sm", elem_id="attention-json-run")
            full_json = gr.JSON(visible=False, elem_id="attention-full-json")
        with gr.Tab("Rollout & flow", id="inside-rollout", elem_id="inside-rollout"):
            rollout = attention_rollout.layout()
        with gr.Tab("Embeddings", id="inside-embeddings", elem_id="inside-embeddings"):
            gr.Markdown("BERT's input vector for each token is the sum of a **token** embedding, a **position** "
                        "embedding and a **segment** (sentence A/B) embedding, then LayerNorm. The heatmaps show how "
                        "each token's vector turns into its final one through the layers.")
            with gr.Row():
                pca_layer = gr.Slider(0, 12, value=0, step=1, label="Projection layer (0 = embedding output)",
                                      elem_id="embeddings-layer")
                color_by = gr.Radio(list(COLOR_BY), value="word", label="Colour by", elem_id="embeddings-color")
            embeddings_header = gr.HTML(padding=False, elem_id="embeddings-header")
            parts = gr.Plot(label="Embedding parts", elem_id="embeddings-parts")
            change = gr.Plot(label="Through the layers", elem_id="embeddings-change")
            pca = gr.Plot(label="2-D projection", elem_id="embeddings-pca")
            embeddings_raw = raw_output("embeddings-json")
        with gr.Tab("Parameters", id="inside-parameters", elem_id="inside-parameters"):
            gr.Markdown("Parameters of the encoder chosen above, per module, counted with `sum(p.numel())` on the "
                        "model itself; a task head is built from its config on the meta device (shapes only).")
            with gr.Row():
                head = gr.Radio(list(HEADS), value="none", label="Task head", elem_id="parameters-head")
                num_labels = gr.Number(2, minimum=1, label="Labels (classification heads)",
                                       elem_id="parameters-labels")
            parameters_button = gr.Button("Count parameters", variant="primary", elem_id="parameters-run")
            parameters_panel = ErrorPanel("parameters-error")
            parameters_header = gr.HTML(padding=False, elem_id="parameters-header")
            with gr.Row():
                parameters_figure = gr.Plot(label="Per module", elem_id="parameters-figure")
                parameters_table = result_table("Per module", "parameters-table", max_height=520)
            seed = gr.HTML(padding=False, elem_id="parameters-seed")
            parameters_raw = raw_output("parameters-json")
        with gr.Tab("Model comparison", id="inside-comparison", elem_id="inside-comparison"):
            gr.Markdown("The seed's comparison table, measured: layers, hidden size and heads read from each model's "
                        "config, parameters counted on the architecture built from it, latency (one forward, batch "
                        "1) timed on this machine, speed relative to bert-base. The seed's own figures sit beside "
                        "them; its accuracy column can't be checked here and is left out.")
            with gr.Row():
                compare_button = gr.Button("Build the table", variant="primary", elem_id="comparison-run")
                # A minute of every core per click: not offered to anonymous visitors of a public server.
                latency_button = None if ctx.settings.public else gr.Button(
                    "Time random-weight copies of all five (about a minute on 2 CPU cores)",
                    elem_id="comparison-latency")
            comparison_panel = ErrorPanel("comparison-error")
            comparison_notes = gr.HTML(padding=False, elem_id="comparison-notes")
            # Tall enough for the seed's five models and the models loaded here; more rows scroll in the frame.
            comparison = result_table("Models", "comparison-table", max_height=720)
            comparison_raw = raw_output("comparison-json")

    # API clients send indices; the pickers' choices follow the last run, so they are no promise to a client.
    integer_api(layer, heads, token, num_labels)
    controls = [layer, heads, token, hide_special, direction, renormalize]
    out = Outputs(header=header, layer=layer, heads=heads, token=token, head_view=head_view, model_view=model_view,
                  heatmap=heatmap, legend=legend, summaries=summaries, table=table, raw=raw, state=state,
                  errors=panel)
    run = out.wrap(model_work("looking inside the model")(functools.partial(show_attention, inside)))
    link = Link("attention", run=button, model=model, text=text, pair=pair, layer=layer, heads=heads, token=token,
                hide_special=hide_special, direction=direction, renormalize=renormalize, unit=unit)
    export_view(ctx, view="attention", title="Inside BERT: attention", handler=functools.partial(show_attention, inside),
                inputs={"model": model, "text": text, "pair": pair, "layer": layer, "heads": heads, "token": token,
                        "hide_special": hide_special, "direction": direction, "renormalize": renormalize,
                        "unit": unit},
                parts=[("header", ""), ("legend", ""), ("head_view", "Head view"), ("model_view", "Model view"),
                       ("heatmap", "Large heatmap"), ("summaries", "Head summaries, every layer"),
                       ("table", "This layer's heads")],
                link=link, concurrency_id=HEAVY, concurrency_limit=1, panel=panel, control=attention_export)
    event = panel.follow(button.click(run, [model, text, pair, *controls, unit], out.components, api_name="attention",
                                      concurrency_id=HEAVY, concurrency_limit=1))
    out = Outputs(raw=full_json, errors=panel)
    weights = out.wrap(model_work("writing the attention JSON")(functools.partial(attention_json, inside)))
    panel.follow(json_button.click(weights, [model, text, pair, *controls], out.components, api_name="attention_json",
                                   concurrency_id=HEAVY, concurrency_limit=1)
                 ).success(None, full_json, None, js=DOWNLOAD_JSON, api_visibility="private", queue=False)
    shown = Outputs(header=embeddings_header, parts=parts, change=change, pca=pca, layer=pca_layer, raw=embeddings_raw)
    embeddings = shown.wrap(model_work("showing the embeddings")(functools.partial(show_embeddings, inside)))
    event.success(embeddings, [state, pca_layer, color_by], shown.components, api_visibility="private",
                  concurrency_id=HEAVY, concurrency_limit=1)
    attention_rollout.wire(inside, rollout, run_event=event, model=model, text=text, pair=pair, state=state,
                           panel=panel, link=link)
    views = Outputs(head_view=head_view, model_view=model_view, heatmap=heatmap, legend=legend, table=table, raw=raw)
    redraw = views.wrap(user_errors("redrawing the attention")(functools.partial(rerender, inside)))
    for control in (*controls, unit):
        control.input(redraw, [state, *controls, unit], views.components, api_visibility="private",
                      concurrency_id="attention-redraw")
    for control in (pca_layer, color_by):
        control.input(embeddings, [state, pca_layer, color_by], shown.components, api_visibility="private",
                      concurrency_id="attention-redraw")
    model.change(lambda: (0, [], -1), None, [layer, heads, token], api_visibility="private", queue=False)

    out = Outputs(header=parameters_header, figure=parameters_figure, table=parameters_table, seed=seed,
                  raw=parameters_raw, errors=parameters_panel)
    count = out.wrap(model_work("counting parameters")(functools.partial(show_parameters, inside)))
    parameters_panel.follow(parameters_button.click(count, [model, head, num_labels], out.components,
                                                    api_name="parameters", concurrency_id=HEAVY, concurrency_limit=1))
    out = Outputs(table=comparison, notes=comparison_notes, raw=comparison_raw, errors=comparison_panel)
    compare = out.wrap(model_work("building the comparison")(functools.partial(show_comparison, ctx)))
    comparison_panel.follow(compare_button.click(compare, None, out.components, api_name="model_comparison",
                                                 concurrency_id=HEAVY, concurrency_limit=1))
    if latency_button is not None:
        timing = out.wrap(model_work("timing the models")(functools.partial(show_latency, ctx)))
        comparison_panel.follow(latency_button.click(timing, None, out.components, api_name="model_latency",
                                                     concurrency_id=HEAVY, concurrency_limit=1))
    compare_section(ctx, "attention", model=model, text=text, text_pair=pair, layer=layer)
    return Opening({text: EXAMPLES[0][0], pair: EXAMPLES[0][1]}, link)
