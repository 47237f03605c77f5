"""Attention: one forward's attentions, filters that keep rows summing to 1, per-head summaries, one forward per text."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head, task_by_id
from bertviz_ui.tasks.attention import Selection, attention_view, check_selection, every_layer, renormalize_rows
from bertviz_ui.tasks.budget import Budget, OverBudget
from bertviz_ui.tasks.encoder import RunCache, _summaries, run_encoder
from bertviz_ui.ui.context import AppContext

pytestmark = pytest.mark.usefixtures("one_thread")

TUTORIAL_A, TUTORIAL_B = "The cat sat on the mat.", "It was a lazy afternoon."
SEED_PAIR_TOKENS = ("[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]",
                    "it", "was", "a", "lazy", "afternoon", ".", "[SEP]")


@pytest.fixture(scope="module")
def tiny(cache):
    return cache.load("tiny:encoder", Head.ENCODER, attentions=True)


@pytest.fixture(scope="module")
def pair_run(tiny):
    return run_encoder(TUTORIAL_A, TUTORIAL_B, model=tiny.model, tokenizer=tiny.tokenizer, label=tiny.label)


def test_run_keeps_every_layer_and_head_of_one_forward(pair_run, tiny):
    run = pair_run
    assert run.tokens == SEED_PAIR_TOKENS
    assert run.segments == (0,) * 9 + (1,) * 7
    assert run.kinds[0] == "cls" and run.kinds[8] == run.kinds[15] == "sep" and run.kinds[7] == "punct"
    assert run.attentions.shape == (2, 2, 16, 16) and run.hidden_states.shape == (3, 16, 32)
    np.testing.assert_allclose(run.attentions.sum(-1), 1.0, atol=1e-5)
    # The same numbers as a direct forward of the model.
    encoding = tiny.tokenizer(TUTORIAL_A, TUTORIAL_B, return_tensors="pt")
    with torch.inference_mode():
        direct = tiny.model(**encoding, output_attentions=True)
    np.testing.assert_allclose(run.attentions[1], direct.attentions[1][0].numpy(), atol=1e-6)
    assert not run.attentions.flags.writeable  # the kept result can't be changed by a renderer


def test_hiding_special_tokens_renormalizes_rows_to_one(pair_run):
    view = attention_view(pair_run, 1, None, hide_special=True)
    kept_tokens = [pair_run.tokens[i] for i in view.rows]
    assert "[CLS]" not in kept_tokens and "[SEP]" not in kept_tokens and view.rows == view.cols
    assert view.weights.shape == (2, 13, 13)
    np.testing.assert_allclose(view.weights.sum(-1), 1.0, atol=1e-9)
    raw = pair_run.attentions[1][np.ix_([0, 1], view.rows, view.cols)].astype(np.float64)
    np.testing.assert_allclose(view.weights, raw / raw.sum(-1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(view.kept, raw.sum(-1), atol=1e-12)
    assert view.renormalized and "keep" in view.notes[0]


def test_directions_keep_one_sentence_attending_to_the_other(pair_run):
    a_to_b = attention_view(pair_run, 0, [1], direction="A->B", renormalize=False)
    assert [pair_run.segments[i] for i in a_to_b.rows] == [0] * 9
    assert [pair_run.segments[i] for i in a_to_b.cols] == [1] * 7
    # Not renormalized: the raw weights, whose rows keep only the share that crosses to B.
    np.testing.assert_allclose(a_to_b.weights[0], pair_run.attentions[0, 1, :9, 9:], atol=1e-7)
    assert (a_to_b.weights.sum(-1) < 1).all() and not a_to_b.renormalized
    b_to_a = attention_view(pair_run, 0, None, direction="B->A", hide_special=True)
    assert [pair_run.tokens[i] for i in b_to_a.rows] == ["it", "was", "a", "lazy", "afternoon", "."]
    np.testing.assert_allclose(b_to_a.weights.sum(-1), 1.0, atol=1e-9)


def test_direction_without_a_pair_says_so(tiny):
    run = run_encoder(TUTORIAL_A, model=tiny.model, tokenizer=tiny.tokenizer)
    view = attention_view(run, 0, None, direction="A->B")
    assert view.direction == "all" and "needs a sentence B" in view.notes[0]


def test_selected_heads_token_and_json(pair_run):
    view = attention_view(pair_run, 1, [1], token=2)
    assert view.heads_shown == (1,) and view.token == 2
    data = json.loads(json.dumps(view.to_dict(pair_run.summaries)))
    assert data["tokens"] == list(SEED_PAIR_TOKENS) and data["layers"] == 2 and data["heads"] == 2
    assert np.array(data["attention"]).shape == (1, 16, 16)
    # The full JSON keeps each weight exactly as the model computed it (float32), in float32's shortest decimal.
    np.testing.assert_array_equal(np.float32(data["attention"][0]), pair_run.attentions[1, 1])
    assert all(repr(w) == str(np.float32(w)) for row in data["attention"][0] for w in row)
    assert [row["head"] for row in data["summaries"]] == [0, 1]
    # Every /attention response carries the summary: the same without the weights, the kept shares rounded.
    summary = json.loads(json.dumps(view.summary_dict(pair_run.summaries)))
    assert list(summary) == [key for key in data if key != "attention"]
    assert {key: value for key, value in summary.items() if key != "kept"} == {
        key: value for key, value in data.items() if key not in ("attention", "kept")}
    np.testing.assert_allclose(summary["kept"], data["kept"], rtol=5e-4)
    assert all(float(f"{w:.4g}") == w for w in summary["kept"][0])
    hidden = attention_view(pair_run, 1, None, hide_special=True, token=0)
    assert hidden.token is None and "hidden by the filters" in hidden.notes[-1]


def test_json_lists_at_most_the_cap(pair_run):
    data = attention_view(pair_run, 0, [0]).to_dict(max_tokens=5)
    assert np.array(data["attention"]).shape == (1, 5, 5) and "first 5 rows" in data["notes"][-1]


def test_every_layer_uses_the_same_filters(pair_run):
    views = every_layer(pair_run, hide_special=True)
    assert [v.layer for v in views] == [0, 1] and all(v.weights.shape == (2, 13, 13) for v in views)


def test_renormalize_rows_never_leaves_a_row_off_one():
    weights = np.array([[0.2, 0.2, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(renormalize_rows(weights), [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])


def test_summaries_on_crafted_attention():
    kinds = ("cls", "word", "punct", "sep")
    to_cls = np.zeros((1, 2, 4, 4))
    to_cls[0, 0, :, 0] = 1.0  # head 0: every token looks at [CLS]
    to_cls[0, 1] = 0.25  # head 1: uniform
    summaries = _summaries(to_cls, kinds)
    assert summaries.entropy[0, 0] == 0.0 and summaries.entropy[0, 1] == pytest.approx(2.0)
    assert summaries.to_cls[0, 0] == 1.0 and summaries.to_cls[0, 1] == pytest.approx(0.25)
    assert summaries.to_sep[0, 1] == pytest.approx(0.25) and summaries.to_punct[0, 1] == pytest.approx(0.25)
    assert summaries.distance[0, 0] == pytest.approx((0 + 1 + 2 + 3) / 4)
    # Uniform over 4 tokens: mean |i - j| = (6 + 4 + 4 + 6) / 16.
    assert summaries.distance[0, 1] == pytest.approx(20 / 16) and summaries.max_entropy == 2.0


@pytest.mark.parametrize("kwargs, message", [
    ({"layer": 2}, "Layer must be a whole number between 0 and 1"),
    ({"layer": -1}, "Layer must"),
    ({"heads": [2]}, "Each head must be a whole number between 0 and 1"),
    ({"heads": "x"}, "Each head"),
    ({"direction": "sideways"}, "Direction must be one of"),
    ({"token": 16}, "Token must be a whole number between -1 and 15"),
])
def test_bad_selections(pair_run, kwargs, message):
    with pytest.raises(BadInput, match=message):
        attention_view(pair_run, **{"layer": 0, **kwargs})


def test_selection_is_checked_before_the_forward(tiny):
    """What the API describes (integers, -1 for every token) is accepted in either form a client may send, and what
    the model lacks is refused from its config, before anything runs."""
    assert check_selection("1", ["1", 0, 1], "-1", "A->B") == Selection(layer=1, heads=(0, 1), token=None,
                                                                        direction="A->B")
    assert check_selection(0, [], -1, None, model=tiny.model) == Selection(layer=0, heads=(), token=None,
                                                                           direction="all")
    assert check_selection(11, [11], 40, "all").token == 40  # no model: only the form is checked
    layer_message = r"Layer must be a whole number between 0 and 1 \(0 = first layer; this model has 2\)"
    for kwargs, message in [({"layer": 2}, layer_message),
                            ({"heads": [2]}, "Each head must be a whole number between 0 and 1"),
                            ({"token": -2}, "Token must be a whole number of -1 or more"),
                            ({"token": "cat"}, "Token must be"),
                            ({"layer": 0.5}, "Layer must be a whole number")]:
        with pytest.raises(BadInput, match=message):
            check_selection(**{"layer": 0, "heads": [], "token": -1, "direction": "all", **kwargs}, model=tiny.model)


@pytest.mark.parametrize("text, message", [("", "Text is empty"), (None, "Text is empty"), (3, "must be text")])
def test_bad_text(tiny, text, message):
    with pytest.raises(BadInput, match=message):
        run_encoder(text, model=tiny.model, tokenizer=tiny.tokenizer)


def test_long_text_is_truncated_with_a_note(tiny):
    run = run_encoder("word " * 1000, model=tiny.model, tokenizer=tiny.tokenizer)
    assert len(run.tokens) == 512 and run.total_tokens == 1002
    assert "1002 tokens" in run.notes[0] and run.tokens[-1] == "[SEP]"


def test_typed_markup_and_special_tokens_stay_text(tiny):
    run = run_encoder("<b>[SEP]</b>", model=tiny.model, tokenizer=tiny.tokenizer)
    assert run.tokens[:3] == ("[CLS]", "<", "b") and run.kinds.count("sep") == 1


def test_a_model_that_returns_no_attentions_is_refused(tiny):
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, attn_implementation="sdpa")
    model = BertModel(config).eval()
    with pytest.raises(ModelUnavailable, match="returned no attention weights"):
        run_encoder(TUTORIAL_A, model=model, tokenizer=tiny.tokenizer)


def test_run_cache_is_bounded_and_reuses_runs(pair_run):
    runs = RunCache(max_entries=2)
    calls = []

    def compute(name):
        calls.append(name)
        return dataclasses.replace(pair_run, text=name)

    for name in ("a", "b", "a", "c", "a", "b"):
        runs.get_or_compute(name, lambda name=name: compute(name))
    assert calls == ["a", "b", "c", "b"] and len(runs) == 2


def test_layer_head_and_filter_changes_reuse_one_forward(settings, cache, tiny):
    from bertviz_ui.ui import attention as tab_module

    forwards = []
    handle = tiny.model.register_forward_hook(lambda *_: forwards.append(1))
    try:
        tab = tab_module.InsideBert(AppContext(settings, cache))
        outputs = tab_module.show_attention(tab, "tiny:encoder", TUTORIAL_A, TUTORIAL_B, 0, [], -1, False, "all", True)
        state = outputs["state"]
        for layer, heads, hide, direction in ((1, [0], False, "all"), (0, [1], True, "A->B"), (1, [], True, "B->A")):
            redrawn = tab_module.rerender(tab, state, layer, heads, 3, hide, direction, True)
            assert redrawn["raw"]["layer"] == layer
        tab_module.show_embeddings(tab, state, 2, "segment")
        tab_module.show_embeddings(tab, state, 0, "word")
        assert len(forwards) == 1
        tab_module.show_attention(tab, "tiny:encoder", TUTORIAL_A, "", 0, [], -1, False, "all", True)
        assert len(forwards) == 2  # another text: another forward
    finally:
        handle.remove()


def test_controls_the_model_lacks_are_refused_before_its_forward(settings, cache, tiny):
    """The API offers integers (token -1 for every token): they pass as numbers or strings, and a layer, head or
    token that can't be is refused from the model's config before any forward."""
    from bertviz_ui.ui import attention as tab_module

    forwards = []
    handle = tiny.model.register_forward_hook(lambda *_: forwards.append(1))
    try:
        tab = tab_module.InsideBert(AppContext(settings, cache))
        for layer, heads, token, message in ((2, [], -1, "Layer must"), (0, [2], -1, "Each head must"),
                                             (0, [], -2, "Token must"), ("x", [], -1, "Layer must")):
            with pytest.raises(BadInput, match=message):
                tab_module.show_attention(tab, "tiny:encoder", TUTORIAL_A, "", layer, heads, token, False, "all", True)
        assert forwards == [] and tab.runs.values() == []
        outputs = tab_module.show_attention(tab, "tiny:encoder", TUTORIAL_A, "", "1", ["1"], "-1", False, "all", True)
        assert outputs["raw"]["layer"] == 1 and outputs["raw"]["heads_shown"] == [1]
        assert outputs["raw"]["filters"]["token"] is None and len(forwards) == 1
    finally:
        handle.remove()


def test_offline_minilm_stands_in_for_the_default_and_says_so(cache):
    loaded = cache.load_for_task(task_by_id("attention"), "google-bert/bert-base-uncased", attentions=True)
    assert "offline: all-MiniLM-L6-v2" in loaded.label and loaded.source.ref == OFFLINE_MODEL_ID
    run = run_encoder(TUTORIAL_A, TUTORIAL_B, model=loaded.model, tokenizer=loaded.tokenizer, label=loaded.label)
    assert run.attentions.shape == (6, 12, 16, 16) and run.tokens == SEED_PAIR_TOKENS
    np.testing.assert_allclose(run.attentions.sum(-1), 1.0, atol=1e-5)
    assert ((run.summaries.entropy >= 0) & (run.summaries.entropy <= run.summaries.max_entropy + 1e-9)).all()
    shares = run.summaries.to_cls + run.summaries.to_sep + run.summaries.to_punct
    assert (shares <= 1 + 1e-6).all()


# --- Rendering ------------------------------------------------------------------------------------------------


def test_head_view_draws_one_colour_per_head_and_isolates_a_token(pair_run):
    from bertviz_ui.render.attention import MIN_LINE_WEIGHT, head_colour, head_view_figure

    view = attention_view(pair_run, 1, None)
    figure = head_view_figure(view)
    lines = [t for t in figure.data if t.mode == "lines"]
    assert {t.line.color for t in lines} == {head_colour(0), head_colour(1)}
    drawn = sum(len(t.x) // 3 for t in lines)
    assert drawn == int((view.weights >= MIN_LINE_WEIGHT).sum())
    isolated = head_view_figure(attention_view(pair_run, 1, [0], token=2))
    starts = {y for t in isolated.data if t.mode == "lines" for y in t.y[0::3]}
    assert starts == {-2}  # only token 2's lines


def test_drawing_caps_and_escaped_labels(tiny):
    from bertviz_ui.render.attention import head_view_figure, heatmap_figure, model_view_figure

    run = run_encoder("<b>x</b> " + "word " * 300, model=tiny.model, tokenizer=tiny.tokenizer)
    view = attention_view(run, 0, None)
    head = head_view_figure(view)
    labels = [t for t in head.data if t.mode == "text"]
    assert len(labels[0].text) == 64 and "first 64 of" in head.layout.title.text.replace("<br>", " ")
    assert labels[0].text[1] == "&lt; ·1" and all("<" not in label for label in labels[0].text)
    heat = heatmap_figure(view)
    assert len(heat.data[0].z) == 128 and "first 128 tokens drawn" in heat.layout.title.text.replace("<br>", " ")
    grid = model_view_figure(every_layer(run), layer=0, head=1)
    assert np.shape(grid.data[0].z) == (2 * 33 - 1, 2 * 33 - 1) and len(grid.layout.shapes) == 1


# --- Budgets and response size ------------------------------------------------------------------------------------

def test_a_forward_over_budget_is_refused_up_front(tiny):
    with pytest.raises(OverBudget, match="^A forward pass over 16 tokens with this model would take"):
        run_encoder(TUTORIAL_A, TUTORIAL_B, model=tiny.model, tokenizer=tiny.tokenizer, budget=Budget(gflop=1e-6))


def test_hover_names_come_from_the_axes_not_from_a_string_per_cell(pair_run):
    from bertviz_ui.render.attention import heatmap_figure, model_view_figure, token_label

    trace = model_view_figure(every_layer(pair_run), layer=0, head=1).data[0]
    assert trace.text is None and trace.customdata is None
    assert (len(trace.y), len(trace.x)) == np.shape(trace.z) == (33, 33)  # 2 tiles of 16 tokens and a separator
    assert len(set(trace.x)) == len(trace.x) and len(set(trace.y)) == len(trace.y)
    assert (trace.y[0], trace.y[16], trace.y[17]) == ("layer 0 · [CLS] ·0", "layer 0 |", "layer 1 · [CLS] ·0")
    assert (trace.x[2], trace.x[17]) == ("head 0 → cat ·2", "head 1 → [CLS] ·0")
    assert trace.hovertemplate == "%{y}<br>%{x}: %{z}%<extra></extra>"
    heat = heatmap_figure(attention_view(pair_run, 0, None)).data[0]
    assert heat.customdata is None and heat.z.dtype == np.float32
    assert list(heat.x) == list(heat.y) == [token_label(pair_run.tokens, i) for i in range(16)]
    np.testing.assert_allclose(heat.z, attention_view(pair_run, 0, None).mean_weights(), atol=1e-7)


def test_the_model_view_draws_whole_percents_with_gaps_between_tiles(pair_run):
    """A cell of the model view is 1-2 px: it gets the weight in whole percents (its hover says so), and the column
    and row between tiles stay empty."""
    from bertviz_ui.render.attention import model_view_figure

    views = every_layer(pair_run)
    trace = model_view_figure(views).data[0]
    z = trace.z
    for layer, view in enumerate(views):
        for head in range(2):
            tile = [row[head * 17:head * 17 + 16] for row in z[layer * 17:layer * 17 + 16]]
            np.testing.assert_array_equal(np.array(tile, dtype=float), np.rint(view.weights[head] * 100))
    assert all(value is None for value in z[16]) and all(row[16] is None for row in z)
    assert all(isinstance(value, int) for row in z for value in row if value is not None)
    assert trace.zmax == max(value for row in z for value in row if value is not None)


def test_the_heatmap_by_words_merges_pieces_and_rows_still_sum_to_one(tiny):
    from bertviz_ui.render.attention import heatmap_figure

    run = run_encoder("Tokenization is unbelievably fun.", "Really?", model=tiny.model, tokenizer=tiny.tokenizer)
    pieces = heatmap_figure(attention_view(run, 0, None), word_ids=run.word_ids, unit="pieces").data[0]
    words = heatmap_figure(attention_view(run, 0, None), word_ids=run.word_ids, unit="words").data[0]
    assert len(pieces.x) == len(run.tokens)
    names = [label.split(" ·")[0] for label in words.x]
    assert names == ["[CLS]", "tokenization", "is", "unbelievably", "fun", ".", "[SEP]", "really", "?", "[SEP]"]
    np.testing.assert_allclose(np.asarray(words.z, dtype=np.float64).sum(-1), 1.0, atol=1e-5)
    # Independently: "unbelievably" attending to "tokenization" = mean over its pieces' rows of the summed columns.
    mean = run.attentions[0].mean(0).astype(np.float64)
    un = [i for i, w in enumerate(run.word_ids) if w == 2 and run.segments[i] == 0]
    to = [i for i, w in enumerate(run.word_ids) if w == 0 and run.segments[i] == 0]
    assert len(un) > 1 and len(to) > 1
    np.testing.assert_allclose(words.z[3][1], mean[np.ix_(un, to)].sum(1).mean(), atol=1e-6)
    # A direction filter keeps sentence A's words as rows and B's as columns.
    a_to_b = heatmap_figure(attention_view(run, 0, None, direction="A->B"), word_ids=run.word_ids, unit="words")
    assert [label.split(" ·")[0] for label in a_to_b.data[0].y] == ["[CLS]", "tokenization", "is", "unbelievably",
                                                                     "fun", ".", "[SEP]"]
    assert [label.split(" ·")[0] for label in a_to_b.data[0].x] == ["really", "?", "[SEP]"]
    assert "by words" in a_to_b.layout.title.text.replace("<br>", " ")
