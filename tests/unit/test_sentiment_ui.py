"""Sentiment tab wiring: which components each event reads and writes, what the handlers hand the task code, and
which errors reach the user. Events run through the tab's own gr.Blocks (component pre- and post-processing
included) against crafted classifiers with known logits, served by a fake model cache."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import math
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models.cache import LoadedModel
from bertviz_ui.models.quantization import Precision
from bertviz_ui.models.sources import ModelSource
from bertviz_ui.registry import Head
from bertviz_ui.render.html import model_badge_html, notes_html
from bertviz_ui.tasks.sentiment import MAX_LINES, MAX_STEPS, METHODS
from bertviz_ui.ui import sentiment
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.queue import HEAVY
from tests.unit.crafted import fixed_classifier

LABEL = "local: fake"
SST2 = "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
# fixed_classifier((0.0, 2.0)): logits (0, 2) for every text, so POSITIVE is predicted with 1 / (1 + e^-2).
P_POSITIVE = 1 / (1 + math.exp(-2.0))
# Three lines of 5, 3 and 4 tokens ([CLS] and [SEP] included) around a blank and a whitespace-only line.
THREE = "I loved it\n\nok\n   \nso good"
# Lines 1-3 of the table and of Explain's "Line" are the non-empty lines, in order.
NUMBERED = "good\n\n  \nbad movie\nfine"
NUMBERED_WORDS = {1: ["good"], 2: ["bad", "movie"], 3: ["fine"]}
GENERIC = "Something went wrong while {}. The server logged the details; try other input or another model."
ZERO_SHADE = "rgb(238,246,242)"  # a word whose attribution is 0 (and so is every other word's)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


class LengthClassifier(nn.Module):
    """A sequence-classification fake: logits [0, n - 4] for a text of n tokens, so every line scores differently."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # model_inputs reads the device from the first parameter
        self.config = SimpleNamespace(id2label={0: "NEGATIVE", 1: "POSITIVE"}, max_position_embeddings=512,
                                      model_type="fake")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SequenceClassifierOutput:
        lengths = attention_mask.sum(-1).float()
        return SequenceClassifierOutput(logits=torch.stack([torch.zeros_like(lengths), lengths - 4], dim=-1))


class FakeCache:
    """Stands where ModelCache is: hands out one prepared model (or raises one error) and records each request."""

    device = "cpu"  # what the request budget is scaled for

    def __init__(self):
        self.loaded: LoadedModel | None = None
        self.error: BaseException | None = None
        self.calls: list[tuple[str, str, dict]] = []

    def load_for_task(self, task, ref: str, **options: Any) -> LoadedModel:
        self.calls.append((task.id, ref, options))
        if self.error is not None:
            raise self.error
        return self.loaded


@pytest.fixture(scope="module")
def fake_cache() -> FakeCache:
    return FakeCache()


def build_tab(ctx: AppContext) -> SimpleNamespace:
    """The Sentiment tab alone in a gr.Blocks: the app, its components by elem_id and its events by role."""
    with gr.Blocks() as demo, gr.Tab("Sentiment") as tab:
        prefill = sentiment.build(ctx, tab).examples
    by_id = {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None)}
    fns = list(demo.fns.values())
    by_api = {fn.api_name: fn for fn in fns}
    toggle = [fn for fn in fns if fn.targets == [(by_id["sentiment-method"]._id, "change")]]
    assert len(toggle) == 1
    datasets = [block for block in demo.blocks.values() if isinstance(block, gr.Dataset)]
    return SimpleNamespace(demo=demo, c=by_id, fns=fns, prefill=prefill, classify=by_api["sentiment"],
                           explain=by_api["sentiment_explain"], toggle=toggle[0], examples=datasets)


@pytest.fixture(scope="module")
def ui(settings, fake_cache) -> SimpleNamespace:
    return build_tab(AppContext(settings=settings, cache=fake_cache))


@pytest.fixture
def serve(fake_cache, uncased):
    """serve(model, ...) makes the fake cache hand out ``model`` with the uncased tokenizer; requests start empty."""
    fake_cache.calls.clear()
    fake_cache.error = None

    def use(model: Any, *, label: str = LABEL, untrained: bool = False,
            newly_initialized: tuple[str, ...] = ()) -> FakeCache:
        source = ModelSource(ref="fake", location="fake", kind="local", label=label, untrained=untrained)
        fake_cache.loaded = LoadedModel(source=source, head=Head.SEQUENCE_CLASSIFICATION, model=model,
                                        tokenizer=uncased, device="cpu", dtype="float32", size_bytes=0,
                                        load_seconds=0.0, newly_initialized=newly_initialized)
        return fake_cache

    return use


def run(ui: SimpleNamespace, fn, *inputs: Any) -> list[Any]:
    """Run one event as the server would (preprocess, handler, postprocess) and return its output values."""
    # In a thread of its own: when the browser tests run first, Playwright's sync API keeps an event loop
    # running in this thread, and asyncio.run() refuses to start another one.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, ui.demo.process_api(fn, list(inputs))).result()["data"]


def classify(ui: SimpleNamespace, text: str, model: str = "fake") -> list[Any]:
    return run(ui, ui.classify, model, text)


def explain(ui: SimpleNamespace, text: str, line: Any = 1, target: Any = "predicted",
            method: str = "integrated_gradients", steps: Any = 8, model: str = "fake", unit: str = "words") -> list[Any]:
    return run(ui, ui.explain, model, text, line, target, method, steps, unit)[:5]  # the kept explanation is last


def elem_ids(blocks: list) -> list[str | None]:
    return [block.elem_id for block in blocks]


def json_of(value: Any) -> Any:
    return value.model_dump() if hasattr(value, "model_dump") else value


def plot_of(value: dict) -> dict:
    assert value["type"] == "plotly"
    return json.loads(value["plot"])


def heatmap_words(html: str) -> list[str]:
    """The shaded words of the heatmap's text paragraph (the legend's swatches excluded)."""
    paragraph = html.split("<p>", 1)[1]
    return [piece.split("</span>", 1)[0].split(">", 1)[1] for piece in paragraph.split('<span class="bv-attr"')[1:]]


# --- Layout and events ----------------------------------------------------------------------------------------------

def test_each_event_reads_and_writes_the_tab_components_in_handler_order(ui):
    assert elem_ids(ui.classify.inputs) == ["sentiment-model", "sentiment-text"]
    assert elem_ids(ui.classify.outputs) == ["sentiment-header", "sentiment-plot", "sentiment-table",
                                             "sentiment-target", "sentiment-json"]
    assert ui.classify.targets == [(ui.c["sentiment-run"]._id, "click")]

    assert elem_ids(ui.explain.inputs) == ["sentiment-model", "sentiment-text", "sentiment-line",
                                           "sentiment-target", "sentiment-method", "sentiment-steps", "sentiment-unit"]
    assert elem_ids(ui.explain.outputs) == ["sentiment-heatmap", "sentiment-attribution", "sentiment-cost",
                                            "sentiment-head", None, None]
    assert ui.explain.targets == [(ui.c["sentiment-explain"]._id, "click")]
    # The explanation's JSON is for API clients only; the last explanation stays on the server for the switch.
    hidden, kept = ui.explain.outputs[-2:]
    assert isinstance(hidden, gr.JSON) and hidden.visible is False
    assert isinstance(kept, gr.State)

    assert (elem_ids(ui.toggle.inputs), elem_ids(ui.toggle.outputs)) == (["sentiment-method"], ["sentiment-steps"])


def test_classifying_and_explaining_wait_in_different_queues_and_the_toggle_stays_off_them(ui):
    public = sorted(fn.api_name for fn in ui.fns if fn.api_visibility == "public")
    assert public == ["explanation_check", "sentiment", "sentiment_explain"]
    # Attributions are heavy work: they share the app's heavy group, so a flood of them never delays a classification.
    # Classifications run up to a batch's worth at once (their forwards are merged across requests).
    assert (ui.classify.queue, ui.classify.concurrency_id, ui.classify.concurrency_limit) == (
        True, "sentiment-batched", 16)
    assert (ui.explain.queue, ui.explain.concurrency_id, ui.explain.concurrency_limit) == (True, HEAVY, 1)
    # The API's parameter names are the handlers' own (functools.wraps through user_errors and partial).
    assert ui.classify.input_parameter_names == ["model", "text"]
    assert ui.explain.input_parameter_names == ["model", "text", "line", "target", "method", "steps", "unit"]
    assert (ui.toggle.api_visibility, ui.toggle.queue) == ("private", False)
    # The two routes, the toggle, the words/pieces switch, the examples' loader, and each route's error-panel
    # follow-ups (show on failure, hide on success), which run outside the queue; then the compare section's button
    # (private: /compare is one app-level endpoint) and its panel's two follow-ups.
    # The two exports (classification, attributions) each add their run, their panel's show-on-failure follow-up and
    # the browser's save (all private).
    panel = [fn for fn in ui.fns if fn.outputs and fn.outputs[0].elem_id in ("sentiment-error", "sentiment-explain-error")]
    assert len(panel) == 6 and all((fn.queue, fn.api_visibility) == (False, "private") for fn in panel)
    exports = [fn for fn in ui.fns if fn.outputs and str(fn.outputs[0].elem_id).endswith("-export")]
    assert len(exports) == 2 and all(fn.api_visibility == "private" for fn in exports)
    # Then the explanation check (its route, its panel's two follow-ups) and the model list's copy for it.
    assert len(ui.fns) == 22


def test_the_explanation_check_sends_the_tabs_classifier_and_api_clients_start_from_the_server_default(ui, serve):
    check = next(fn for fn in ui.fns if fn.api_name == "explanation_check")
    task, text, model, mask_number, steps = check.inputs
    assert check.input_parameter_names == ["task", "text", "model", "mask_number", "steps"]
    assert (task.value, task.visible, model.value, model.visible) == ("sentiment", False, "", False)
    assert (text.elem_id, steps.elem_id, mask_number.visible, mask_number.value) == (
        "sentiment-check-text", "sentiment-check-steps", False, 1)
    assert (check.queue, check.concurrency_id, check.concurrency_limit) == (True, HEAVY, 1)
    # The tab's classifier reaches the check's hidden model box (no queue: nothing loads).
    (copy,) = [fn for fn in ui.fns if fn.targets == [(ui.c["sentiment-model"]._id, "change")]]
    assert copy.inputs == [ui.c["sentiment-model"]] and copy.outputs == [model] and copy.queue is False
    # A blank model is the task's server default, loaded in full precision with eager attention (the cache's job:
    # this fake hands out a model with sdpa attention, which the check refuses with a message).
    fake = serve(fixed_classifier((0.0, 2.0)))
    with pytest.raises(gr.Error, match="no attention weights"):
        run(ui, check, "sentiment", "Fine film.", "", 1, 4)
    (_task, ref, options), = fake.calls
    assert ref == "tiny:sequence_classification"
    assert options["attentions"] is True and options["precision"] is Precision.FULL


def test_controls_start_where_the_tab_says(ui):
    c = ui.c
    assert c["sentiment-model"].choices == [("tiny:sequence_classification", "tiny:sequence_classification"),
                                            (SST2, SST2)]
    assert c["sentiment-model"].value == "tiny:sequence_classification"
    assert c["sentiment-model"].allow_custom_value is True  # any Hub id or local directory may be typed
    # The page opens with the seed's three reviews; the box itself (the API's default) starts empty.
    assert c["sentiment-text"].value is None and c["sentiment-check-text"].value is None
    assert ui.prefill == {c["sentiment-text"]: sentiment.TUTORIAL_PIPELINE,
                          c["sentiment-check-text"]: sentiment.CHECK_EXAMPLE}

    line = c["sentiment-line"]
    assert (line.value, line.minimum, line.maximum) == (1, 1, MAX_LINES)
    target = c["sentiment-target"]
    assert (target.choices, target.value, target.allow_custom_value) == (
        [("predicted class", "predicted")], "predicted", True)
    method = c["sentiment-method"]
    assert [value for _, value in method.choices] == list(METHODS)  # exactly what attribute() accepts
    assert method.value == "integrated_gradients"
    steps = c["sentiment-steps"]
    assert (steps.minimum, steps.maximum, steps.value, steps.step) == (4, MAX_STEPS, 32, 4)


def test_model_list_follows_the_settings(settings, fake_cache):
    own = build_tab(AppContext(settings=dataclasses.replace(settings, tiny=False, models={"sentiment": "./mine"}),
                               cache=fake_cache))
    assert own.c["sentiment-model"].choices == [("./mine", "./mine"), (SST2, SST2)]
    assert own.c["sentiment-model"].value == "./mine"


def test_examples_fill_the_text_box_with_the_three_promised_sets(ui):
    (examples,) = ui.examples
    assert examples.samples == [[sentiment.TUTORIAL_PIPELINE], [sentiment.TUTORIAL_REVIEWS], [sentiment.MIXED]]
    assert len(sentiment.TUTORIAL_REVIEWS.splitlines()) == 8  # "its 8 training reviews"
    (loader,) = [fn for fn in ui.fns if fn.inputs == [examples]]
    assert loader.outputs == [ui.c["sentiment-text"]] and loader.api_visibility != "public"


@pytest.mark.parametrize("method, interactive", [("gradient_x_input", False), ("integrated_gradients", True)])
def test_steps_slider_is_usable_only_for_integrated_gradients(ui, method, interactive):
    assert run(ui, ui.toggle, method) == [{"interactive": interactive, "__type__": "update"}]


# --- Classify -------------------------------------------------------------------------------------------------------

def test_classify_writes_badge_and_notes_line_one_chart_every_line_table_classes_and_json(ui, serve):
    cache = serve(LengthClassifier())
    header, plot, table, classes, raw = classify(ui, THREE, model="some/classifier")

    assert cache.calls == [("sentiment", "some/classifier", {"accept": sentiment.trained_classifier})]
    assert header == model_badge_html(LABEL, untrained=False) + notes_html(
        ("2 empty line(s) skipped.", "3 lines classified in 1 batched forward pass(es)."))

    # Line 1 ("I loved it", 5 tokens: logits [0, 1]), not the shortest line, which is classified first.
    bars = plot_of(plot)
    assert bars["data"][0]["y"] == ["NEGATIVE", "POSITIVE"]
    assert bars["data"][0]["x"] == pytest.approx([sigmoid(-1), sigmoid(1)], abs=1e-6)
    assert bars["layout"]["title"]["text"] == "Line 1: POSITIVE (73.1%)"

    assert table["headers"] == ["line", "text", "label", "confidence", "flag", "P(NEGATIVE)", "P(POSITIVE)"]
    assert table["data"] == [
        [1, "I loved it", "POSITIVE", 0.7311, "", 0.2689, 0.7311],
        [2, "ok", "NEGATIVE", 0.7311, "", 0.7311, 0.2689],
        [3, "so good", "NEGATIVE", 0.5, "low confidence", 0.5, 0.5],
    ]

    assert classes == {"choices": [["predicted class", "predicted"], ["NEGATIVE", "NEGATIVE"],
                                   ["POSITIVE", "POSITIVE"]], "value": "predicted", "__type__": "update"}

    payload = json_of(raw)
    assert payload["model"] == LABEL and payload["labels"] == ["NEGATIVE", "POSITIVE"]
    assert [row["text"] for row in payload["rows"]] == ["I loved it", "ok", "so good"]
    assert (payload["skipped_empty_lines"], payload["forward_passes"]) == (2, 1)
    assert payload["label"] == "POSITIVE"
    assert payload["scores"] == pytest.approx({"NEGATIVE": sigmoid(-1), "POSITIVE": sigmoid(1)}, abs=1e-6)


def test_class_list_is_the_model_labels_after_predicted_and_resets_to_predicted(ui, serve):
    serve(fixed_classifier((0.0, 1.0, 2.0), labels=("neg", "neutral", "pos")))
    *_, classes, raw = classify(ui, "fine")
    assert classes["choices"] == [["predicted class", "predicted"], ["neg", "neg"], ["neutral", "neutral"],
                                  ["pos", "pos"]]
    assert classes["value"] == "predicted"
    assert json_of(raw)["label"] == "pos"


def test_header_warns_about_untrained_weights_and_escapes_the_model_label(ui, serve):
    serve(fixed_classifier((0.0, 2.0)), label='tiny <img src=x onerror="alert(1)">', untrained=True)
    header, *_ = classify(ui, "one line, so no notes")
    assert header == model_badge_html('tiny <img src=x onerror="alert(1)">', untrained=True)
    assert "untrained random weights" in header and "<img" not in header


# --- Explain --------------------------------------------------------------------------------------------------------

def test_explain_writes_heatmap_bars_cost_head_and_json_for_the_chosen_line(ui, serve):
    cache = serve(fixed_classifier((0.0, 2.0)))
    heatmap, plot, cost, head, raw = explain(ui, NUMBERED, line=2, model="some/classifier")

    # Attributions take gradients: the fp32 model is asked for, whatever BERTVIZ_UI_QUANTIZE says.
    assert cache.calls == [("sentiment", "some/classifier", {"accept": sentiment.trained_classifier,
                                                             "precision": Precision.FULL})]
    # Line 2 is the second non-empty line. A zero classifier weight gives every word attribution 0.
    assert heatmap.endswith(
        f'<p><span class="bv-attr" style="background:{ZERO_SHADE}" title="bad: +0.0000">bad</span> '
        f'<span class="bv-attr" style="background:{ZERO_SHADE}" title="movie: +0.0000">movie</span></p></div>')
    assert "toward POSITIVE" in heatmap  # "predicted" resolved to the predicted class
    bars = plot_of(plot)
    assert (bars["data"][0]["x"], bars["data"][0]["y"]) == (["1. bad", "2. movie"], [0.0, 0.0])
    assert bars["layout"]["title"]["text"].replace("<br>", " ") == "Contribution of each word to the POSITIVE logit"
    assert cost.startswith('<p class="bv-cost" data-testid="attribution-cost"><b>Integrated gradients</b> for class '
                           "<b>POSITIVE</b>: 8 step(s), 3 batched forward pass(es)")
    assert ("<tr><td>NEGATIVE</td><td>+0.0000</td><td>11.9%</td></tr>"
            "<tr><td>POSITIVE</td><td>+2.0000</td><td>88.1%</td></tr>") in head

    payload = json_of(raw)
    assert set(payload) == {"line", "attributions", "head"}
    assert payload["line"] == 2
    assert [(w["text"], w["start"], w["end"]) for w in payload["attributions"]["words"]] == [
        ("bad", 0, 3), ("movie", 4, 9)]
    assert payload["head"]["labels"] == ["NEGATIVE", "POSITIVE"]
    assert payload["head"]["logits"] == [0.0, 2.0]
    assert payload["head"]["probabilities"] == pytest.approx([1 - P_POSITIVE, P_POSITIVE], abs=1e-6)


def test_explain_line_n_is_table_row_n(ui, serve):
    serve(fixed_classifier((0.0, 2.0)))
    _, _, table, _, _ = classify(ui, NUMBERED)
    assert [row[:2] for row in table["data"]] == [[1, "good"], [2, "bad movie"], [3, "fine"]]
    for number, text in [row[:2] for row in table["data"]]:
        heatmap, *_, raw = explain(ui, NUMBERED, line=number, method="gradient_x_input")
        assert heatmap_words(heatmap) == NUMBERED_WORDS[number] == text.split()
        assert json_of(raw)["line"] == number


@pytest.mark.parametrize("target, method, steps, label, logit, used_steps, passes, title", [
    ("predicted", "integrated_gradients", 8, "POSITIVE", 2.0, 8, 3, "Integrated gradients"),
    (None, "integrated_gradients", 8, "POSITIVE", 2.0, 8, 3, "Integrated gradients"),
    ("NEGATIVE", "integrated_gradients", 40, "NEGATIVE", 0.0, 40, 4, "Integrated gradients"),
    ("POSITIVE", "gradient_x_input", 32, "POSITIVE", 2.0, 1, 3, "Gradient × input"),
])
def test_explain_forwards_class_method_and_steps(ui, serve, target, method, steps, label, logit, used_steps, passes,
                                                 title):
    # A class name is accepted before any classification has filled the list (allow_custom_value, for the API).
    serve(fixed_classifier((0.0, 2.0)))
    _, _, cost, _, raw = explain(ui, "good", target=target, method=method, steps=steps)
    attribution = json_of(raw)["attributions"]
    assert (attribution["method"], attribution["target_label"], attribution["target_logit"]) == (method, label, logit)
    assert (attribution["steps"], attribution["forward_passes"]) == (used_steps, passes)
    assert f"<b>{title}</b> for class <b>{label}</b>: {used_steps} step(s), {passes} batched" in cost
    assert ("Completeness" in cost) is (method == "integrated_gradients")


# --- Errors ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, message", [
    (4, "Line must be a whole number between 1 and 3."),
    (None, "Line must be a whole number between 1 and 3."),  # the box cleared
])
def test_a_line_the_text_does_not_have_is_refused(ui, serve, line, message):
    serve(fixed_classifier((0.0, 2.0)))
    with pytest.raises(gr.Error) as caught:
        explain(ui, NUMBERED, line=line)
    assert caught.value.message == message


@pytest.mark.parametrize("inputs, message", [
    ({"line": 0}, "Value 0 is less than minimum value 1."),
    ({"line": MAX_LINES + 1}, f"Value {MAX_LINES + 1} is greater than maximum value {MAX_LINES}."),
    ({"steps": 2}, "Value 2 is less than minimum value 4."),
    ({"steps": MAX_STEPS + 4}, f"Value {MAX_STEPS + 4} is greater than maximum value {MAX_STEPS}."),
])
def test_the_components_bounds_refuse_before_any_model_is_loaded(ui, serve, inputs, message):
    cache = serve(fixed_classifier((0.0, 2.0)))
    with pytest.raises(gr.Error) as caught:
        explain(ui, NUMBERED, **inputs)
    assert caught.value.message == message
    assert cache.calls == []


def test_an_unknown_method_is_refused_before_any_model_is_loaded(ui, serve):
    cache = serve(fixed_classifier((0.0, 2.0)))
    with pytest.raises(gr.Error, match="'shap'.*not in the list of choices"):
        explain(ui, "good", method="shap")
    assert cache.calls == []


def test_an_unknown_class_names_the_model_classes(ui, serve):
    serve(fixed_classifier((0.0, 2.0)))
    with pytest.raises(gr.Error) as caught:
        explain(ui, "good", target="SARCASTIC")
    assert caught.value.message == "Unknown class 'SARCASTIC'; this model's classes are NEGATIVE, POSITIVE."


@pytest.mark.parametrize("event", ["classify", "explain"])
def test_a_checkpoint_without_a_trained_head_is_refused(ui, serve, event):
    serve(fixed_classifier((0.0, 2.0)), newly_initialized=("classifier.bias", "classifier.weight"))
    with pytest.raises(gr.Error) as caught:
        classify(ui, "good") if event == "classify" else explain(ui, "good")
    assert caught.value.message.startswith("This checkpoint has no trained classification head (it would be random).")


@pytest.mark.parametrize("event, error, message", [
    ("classify", BadInput("No directory '<x>' on the server."), "No directory '&lt;x&gt;' on the server."),
    ("explain", ModelUnavailable("Hub & <b>offline</b>"), "Hub &amp; &lt;b&gt;offline&lt;/b&gt;"),
    ("classify", RuntimeError("boom"), GENERIC.format("classifying")),
    ("explain", RuntimeError("boom"), GENERIC.format("explaining")),
])
def test_load_errors_reach_the_user_as_escaped_messages_without_a_trace(ui, serve, event, error, message):
    serve(fixed_classifier((0.0, 2.0))).error = error
    with pytest.raises(gr.Error) as caught:
        classify(ui, "good") if event == "classify" else explain(ui, "good")
    assert caught.value.message == message
    assert caught.value.print_exception is False


def test_empty_text_is_refused_by_both_events(ui, serve):
    serve(fixed_classifier((0.0, 2.0)))
    for event in (classify, explain):
        with pytest.raises(gr.Error) as caught:
            event(ui, " \n\n ")
        assert caught.value.message == "Text is empty: type one review, or several, one per line."


@pytest.mark.parametrize("line", [1.5, 2.5])
def test_a_fractional_line_is_refused(ui, serve, line):
    serve(fixed_classifier((0.0, 2.0)))
    with pytest.raises(gr.Error, match="Line must be a whole number between 1 and 3."):
        explain(ui, NUMBERED, line=line)


def test_the_settings_budget_reaches_both_events_and_its_refusal_is_shown(settings, fake_cache, serve):
    import dataclasses

    serve(fixed_classifier((0.0, 2.0)))
    tight = build_tab(AppContext(settings=dataclasses.replace(settings, request_gflop=1e-6), cache=fake_cache))
    for event, start in ((classify, "Classifying 3 lines of up to "), (explain, "Integrated gradients with 8 steps on 3 tokens ")):
        with pytest.raises(gr.Error) as caught:
            event(tight, NUMBERED)
        assert caught.value.message.startswith(start) and "one request may use less than a second of work" in (
            caught.value.message)


def test_the_switch_scores_pieces_or_words_from_the_kept_explanation(ui, serve):
    serve(fixed_classifier((0.0, 2.0)))
    text = "unbelievably good"
    heatmap, plot, *_ = explain(ui, text, method="gradient_x_input", unit="words")
    words = plot_of(plot)["data"][0]["x"]
    assert words == ["1. unbelievably", "2. good"]
    heatmap_pieces, plot_pieces, *_ = explain(ui, text, method="gradient_x_input", unit="pieces")
    pieces = plot_of(plot_pieces)["data"][0]["x"]
    assert len(pieces) > len(words) and pieces[0].startswith("1. un") and pieces[1].startswith("2. ##")
    # The pieces' scores add up to the words' (the one rule: scores summed over a word's pieces).
    assert sum(plot_of(plot_pieces)["data"][0]["y"]) == pytest.approx(sum(plot_of(plot)["data"][0]["y"]), abs=1e-6)
    assert heatmap_pieces.count('class="bv-attr" style') > heatmap.count('class="bv-attr" style')
    assert "Contribution of each piece" in plot_of(plot_pieces)["layout"]["title"]["text"].replace("<br>", " ")
