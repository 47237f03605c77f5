"""Inside BERT's "Rollout & flow" sub-tab: its layout and events, on the tab's one encoder run (no second forward)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol

import gradio as gr

from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.render.attention_rollout import (
    flow_label,
    rollout_bars_figure,
    rollout_heatmap_figure,
    rollout_notes_html,
)
from bertviz_ui.tasks.attention_rollout import FLOW_TOKENS, RolloutView, check_request, rollout_view
from bertviz_ui.tasks.encoder import EncoderRun
from bertviz_ui.tasks.pieces import PIECES, WORDS
from bertviz_ui.tasks.validation import check_text
from bertviz_ui.ui.components import ErrorPanel, Outputs, Shown, integer_api, raw_output
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.errors import model_work, user_errors
from bertviz_ui.ui.export import export_control, export_id, export_view
from bertviz_ui.ui.permalink import Link
from bertviz_ui.ui.queue import HEAVY


class InsideBert(Protocol):
    """What the sub-tab needs of the tab (ui/attention.InsideBert; named here so the two modules don't import each
    other): the app's context, the model and the kept encoder runs."""

    ctx: AppContext

    def load(self, model: str) -> LoadedModel: ...

    def run(self, model: str, text: Any, pair: Any) -> tuple[LoadedModel, EncoderRun]: ...

UNIT_CHOICES = [("pieces", PIECES), ("words", WORDS)]
LAST = -1
# What the controls redraw when there is no run yet: skipped.
REDRAWN = ("notes", "heatmap", "bars", "raw")
EXPLANATION = (
    "Raw attention of one layer says where that layer looked, not where a token's vector came from: every layer "
    "mixes vectors that earlier layers had already mixed, and the residual connection carries each token's own "
    "vector along. **Attention rollout** follows attention through the layers: each layer's heads are averaged, half "
    "an identity is added for the residual connection, and the layers are multiplied, so a row says what share of "
    "a token's vector after that layer comes from each input token (the row sums to 1). **Attention flow** treats the "
    "layers as a network of pipes whose widths are those attention weights and asks how much can flow from each "
    f"input token to the chosen one (a max-flow problem per input token; texts of at most {FLOW_TOKENS} tokens). "
    "Both are from Abnar & Zuidema (2020), *Quantifying Attention Flow in Transformers*, and both are estimates: they "
    "ignore what the feed-forward layers and the value vectors do."
)


@dataclass(frozen=True)
class RolloutControls:
    """The sub-tab's components."""

    layer: gr.Dropdown
    token: gr.Dropdown
    unit: gr.Radio
    flow: gr.Checkbox
    notes: gr.HTML
    heatmap: gr.Plot
    bars: gr.Plot
    raw: gr.JSON
    export: tuple[gr.Button, gr.File]

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.layer, self.token, self.unit, self.flow]


def layout() -> RolloutControls:
    """The sub-tab's components, laid out inside the current gr.Tab (neutral values: they are the API's defaults)."""
    gr.Markdown(EXPLANATION)
    with gr.Row():
        # Custom values pass to the server's own check (the choices follow the last run's layers and tokens).
        layer = gr.Dropdown([("last layer", LAST), *((str(n), n) for n in range(12))], value=LAST,
                            label="Layer (0 = first)", allow_custom_value=True, elem_id="rollout-layer")
        token = gr.Dropdown([("0: [CLS]", 0)], value=0, label="Token (its row)", allow_custom_value=True,
                            elem_id="rollout-token")
    with gr.Row():
        unit = gr.Radio(UNIT_CHOICES, value=PIECES, label="Show", elem_id="rollout-unit",
                        info="pieces: the tokens as the model read them; words: a word's pieces merged")
        flow = gr.Checkbox(True, label=flow_label(), elem_id="rollout-flow")
    notes = gr.HTML(padding=False, elem_id="rollout-notes")
    with gr.Row(equal_height=False):
        bars = gr.Plot(label="Chosen token", elem_id="rollout-bars")
        heatmap = gr.Plot(label="Every token", elem_id="rollout-heatmap")
    export = export_control(export_id("rollout"))
    raw = raw_output("rollout-json")
    integer_api(layer, token)
    return RolloutControls(layer=layer, token=token, unit=unit, flow=flow, notes=notes, heatmap=heatmap, bars=bars,
                           raw=raw, export=export)


def _shown(view: RolloutView) -> Shown:
    return {"notes": rollout_notes_html(view), "heatmap": rollout_heatmap_figure(view),
            "bars": rollout_bars_figure(view), "raw": view.to_dict()}


def _pickers(run: EncoderRun, view: RolloutView, layer: int | None) -> Shown:
    return {"layer": gr.update(choices=[("last layer", LAST), *((str(n), n) for n in range(run.layers))],
                               value=LAST if layer is None else layer),
            "token": gr.update(choices=[(f"{i}: {t}", i) for i, t in enumerate(run.tokens)], value=view.token)}


def show_rollout(inside: InsideBert, model: str, text: str, pair: str, layer: Any, token: Any, unit: Any,
                 flow: Any) -> Shown:
    """Rollout (and flow) of the chosen layer and token from the tab's run: the kept one, or one forward now."""
    # Text and controls are checked before the model loads or runs (the controls against its config once loaded):
    # a refused request costs no forward.
    check_text(text, "Text")
    check_text(pair, "Sentence B", required=False)
    check_request(layer, token, unit, flow)
    request = check_request(layer, token, unit, flow, model=inside.load(model).model)
    _, run = inside.run(model, text, pair)
    view = rollout_view(run, request.layer, request.token, request.unit, request.flow, budget=inside.ctx.budget)
    return {**_shown(view), **_pickers(run, view, request.layer)}


def redraw(inside: InsideBert, state: dict | None, layer: Any, token: Any, unit: Any, flow: Any) -> Shown:
    """The sub-tab redrawn for other controls from the kept run (no forward unless it was evicted)."""
    if not state:
        return dict.fromkeys(REDRAWN, gr.skip())
    _, run = inside.run(state["model"], state["text"], state["pair"])
    return _shown(rollout_view(run, layer, token, unit, flow, budget=inside.ctx.budget))


def wire(inside: InsideBert, controls: RolloutControls, *, run_event: Any, model: gr.Dropdown, text: gr.Textbox,
         pair: gr.Textbox, state: gr.State, panel: ErrorPanel, link: Link | None = None) -> None:
    """Connect the sub-tab: after each successful /attention run (the kept run: no second forward) as
    /attention_rollout, and on its own controls from the kept run."""
    out = Outputs(notes=controls.notes, layer=controls.layer, token=controls.token, heatmap=controls.heatmap,
                  bars=controls.bars, raw=controls.raw, errors=panel)
    handler = out.wrap(model_work("rolling out the attention")(functools.partial(show_rollout, inside)))
    panel.follow(run_event.success(handler, [model, text, pair, *controls.inputs], out.components,
                                   api_name="attention_rollout", concurrency_id=HEAVY, concurrency_limit=1),
                 clears=False)
    shown = Outputs(notes=controls.notes, heatmap=controls.heatmap, bars=controls.bars, raw=controls.raw)
    redrawn = shown.wrap(user_errors("redrawing the rollout")(functools.partial(redraw, inside)))
    for control in controls.inputs:
        # Flow can take seconds (within the request budget): redraws queue with the heavy work, one at a time.
        control.input(redrawn, [state, *controls.inputs], shown.components, api_visibility="private",
                      concurrency_id=HEAVY, concurrency_limit=1)
    model.change(lambda: (LAST, 0), None, [controls.layer, controls.token], api_visibility="private", queue=False)
    export_view(inside.ctx, view="rollout", title="Inside BERT: attention rollout and flow",
                handler=functools.partial(show_rollout, inside),
                inputs={"model": model, "text": text, "pair": pair, "layer": controls.layer,
                        "token": controls.token, "unit": controls.unit, "flow": controls.flow},
                parts=[("notes", ""), ("bars", "Chosen token"), ("heatmap", "Every token")],
                link=link, concurrency_id=HEAVY, concurrency_limit=1, panel=panel, control=controls.export)
