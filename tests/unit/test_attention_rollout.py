"""Rollout and flow in Inside BERT: against the model's own attentions, a crafted identity-attention BERT, networkx's
max-flow on hand-made graphs, bounds derived from the graph, words vs. pieces, the cap, the budget and bad input."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from bertviz_ui.errors import BadInput
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head
from bertviz_ui.tasks.attention_rollout import (
    FLOW_TOKENS,
    attention_flow,
    check_request,
    head_mean,
    rollout_view,
)
from bertviz_ui.tasks.budget import Budget
from bertviz_ui.tasks.encoder import EncoderRun, _summaries, run_encoder
from bertviz_ui.tasks.pieces import groups
from bertviz_ui.tasks.rollout import with_residual
from bertviz_ui.ui.context import AppContext

pytestmark = pytest.mark.usefixtures("one_thread")

TUTORIAL_A, TUTORIAL_B = "The cat sat on the mat.", "It was a lazy afternoon."
# "Tokenization" and "unbelievably" are several pieces each in bert-base-uncased's vocabulary.
PIECED = "Tokenization is unbelievably playful."


@pytest.fixture(scope="module")
def tiny(cache):
    return cache.load("tiny:encoder", Head.ENCODER, attentions=True)


@pytest.fixture(scope="module")
def pair_run(tiny):
    return run_encoder(TUTORIAL_A, TUTORIAL_B, model=tiny.model, tokenizer=tiny.tokenizer, label=tiny.label)


@pytest.fixture(scope="module")
def pieced_run(tiny):
    return run_encoder(PIECED, model=tiny.model, tokenizer=tiny.tokenizer, label=tiny.label)


def crafted_run(attentions: np.ndarray, tokens: tuple[str, ...] | None = None,
                word_ids: tuple[int | None, ...] | None = None) -> EncoderRun:
    """An EncoderRun holding the attention given ([layers, heads, n, n]), for the task alone (no model)."""
    attentions = np.asarray(attentions, dtype=np.float32)
    n = attentions.shape[-1]
    tokens = tokens or ("[CLS]", *(f"w{k}" for k in range(n - 2)), "[SEP]")
    word_ids = word_ids or (None, *range(n - 2), None)
    kinds = tuple("cls" if k == 0 else "sep" if k == n - 1 else "word" for k in range(n))
    return EncoderRun(model="crafted", model_type="bert", text="x", text_pair="", tokens=tokens,
                      token_ids=tuple(range(n)), segments=(0,) * n, word_ids=word_ids, kinds=kinds,
                      attentions=attentions, hidden_states=np.zeros((attentions.shape[0] + 1, n, 2), np.float32),
                      embedding_parts=None, summaries=_summaries(attentions, kinds), total_tokens=n, notes=(),
                      seconds=0.0)


def random_attention(layers: int, heads: int, n: int, seed: int = 0, sharpness: float = 3.0) -> np.ndarray:
    weights = np.random.default_rng(seed).random((layers, heads, n, n)) ** sharpness
    return weights / weights.sum(-1, keepdims=True)


# --- Rollout against the model's own attentions ------------------------------------------------------------------


def test_rows_sum_to_one_in_pieces_and_words(pair_run, pieced_run):
    for run in (pair_run, pieced_run):
        for layer in range(run.layers):
            for unit in ("pieces", "words"):
                view = rollout_view(run, layer, 0, unit)
                np.testing.assert_allclose(view.rollout.sum(-1), 1.0, atol=1e-12)
                np.testing.assert_allclose(view.raw_attention.sum(), 1.0, atol=1e-6)
                assert (view.rollout >= 0).all()


def test_equals_an_independent_rollout_of_the_models_own_attentions(tiny, pair_run):
    encoding = tiny.tokenizer(TUTORIAL_A, TUTORIAL_B, return_tensors="pt")
    with torch.inference_mode():
        attentions = tiny.model(**encoding, output_attentions=True).attentions
    n = encoding["input_ids"].shape[1]
    rolled = torch.eye(n, dtype=torch.float64)
    for layer, weights in enumerate(attentions):
        mean = weights[0].double().mean(0)
        mixed = 0.5 * mean + 0.5 * torch.eye(n, dtype=torch.float64)
        mixed = mixed / mixed.sum(-1, keepdim=True)
        rolled = mixed @ rolled
        for token in (0, 3, n - 1):
            view = rollout_view(pair_run, layer, token)
            np.testing.assert_allclose(view.rollout, rolled.numpy(), atol=1e-6)
            np.testing.assert_allclose(view.raw_attention, mean[token].numpy(), atol=1e-6)
            assert view.row == token and view.layer == layer
    assert rollout_view(pair_run).layer == pair_run.layers - 1  # the default: the last layer
    assert rollout_view(pair_run, -1).layer == pair_run.layers - 1


def identity_attention_bert(tokenizer) -> BertModel:
    """A BERT whose every head attends each token to itself alone: position embeddings one-hot (twice, once per
    head's 16 dimensions), no word or segment embeddings, query = key = 10 x identity (the own position scores
    about 425 above any other), and every layer's outputs zero, so the residual path keeps the hidden states as they
    entered."""
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=8, max_position_embeddings=16, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, attn_implementation="eager")
    model = BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        for name, parameter in model.named_parameters():
            if "LayerNorm.weight" in name:
                parameter.fill_(1.0)
        positions = model.embeddings.position_embeddings.weight
        for p in range(16):
            positions[p, p] = positions[p, 16 + p] = 1.0
        for layer in model.encoder.layer:
            layer.attention.self.query.weight.copy_(10 * torch.eye(32))
            layer.attention.self.key.weight.copy_(10 * torch.eye(32))
    return model


def test_identity_attention_rolls_out_to_the_identity_and_flows_only_to_itself(uncased):
    model = identity_attention_bert(uncased)
    run = run_encoder(TUTORIAL_A, model=model, tokenizer=uncased, label="identity")
    n = len(run.tokens)
    np.testing.assert_allclose(run.attentions, np.broadcast_to(np.eye(n), run.attentions.shape), atol=1e-6)
    for layer in range(run.layers):
        for token in (0, 4):
            view = rollout_view(run, layer, token, flow=True)
            np.testing.assert_allclose(view.rollout, np.eye(n), atol=1e-6)
            np.testing.assert_allclose(view.raw_attention, np.eye(n)[token], atol=1e-6)
            np.testing.assert_allclose(view.flow, np.eye(n)[token], atol=1e-6)


# --- Flow --------------------------------------------------------------------------------------------------------


def networkx_flow(mixed: np.ndarray, layer: int, row: int) -> np.ndarray:
    """The paper's construction, written out: nodes (level, token), edges up one level with capacity A'[i, j], the
    maximum flow from each input token to (layer + 1, row), by networkx's Edmonds-Karp."""
    n = mixed.shape[-1]
    graph = nx.DiGraph()
    for level in range(1, layer + 2):
        for i in range(n):
            for j in range(n):
                graph.add_edge(("level", level - 1, j), ("level", level, i), capacity=float(mixed[level - 1][i, j]))
    return np.array([nx.maximum_flow_value(graph, ("level", 0, j), ("level", layer + 1, row),
                                           flow_func=nx.algorithms.flow.edmonds_karp) for j in range(n)])


def test_flow_equals_networkx_on_a_hand_made_graph():
    # Two layers, three tokens, one head; rows sum to 1.
    attention = np.array([[[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]],
                          [[[0.1, 0.6, 0.3], [0.0, 1.0, 0.0], [0.4, 0.4, 0.2]]]])
    run = crafted_run(attention)
    mixed = 0.5 * attention[:, 0] + 0.5 * np.eye(3)
    for layer in (0, 1):
        for row in range(3):
            view = rollout_view(run, layer, row, flow=True)
            np.testing.assert_allclose(view.flow, networkx_flow(mixed, layer, row), atol=1e-6)
    # One layer: the only path from input j to token i is the edge itself.
    np.testing.assert_allclose(rollout_view(run, 0, 2, flow=True).flow, [0.1, 0.15, 0.75], atol=1e-7)
    # Two layers, to token 0, by hand. A'0 = [[1, 0, 0], [.25, .75, 0], [.1, .15, .75]], A'1 = [[.55, .3, .15], ...]:
    # the sink takes at most .55, .3 and .15 from level-1 tokens 0, 1, 2. Input 0 reaches them with 1, .25 and .1:
    # .55 + .25 + .1; input 1 reaches tokens 1 and 2 with .75 and .15: .3 + .15; input 2 reaches token 2 alone: .15.
    np.testing.assert_allclose(rollout_view(run, 1, 0, flow=True).flow, [0.9, 0.45, 0.15], atol=1e-6)


def test_flow_equals_networkx_on_random_attention_and_keeps_its_bounds():
    run = crafted_run(random_attention(3, 2, 7, seed=3))
    mixed = with_residual(head_mean(run))
    for layer in range(3):
        view = rollout_view(run, layer, 2, flow=True)
        np.testing.assert_allclose(view.flow, networkx_flow(mixed, layer, 2), atol=1e-6)
        # Bounds from the graph: at most the chosen node's incoming capacity (a row of A': 1) and at most what the
        # source can send up (its column in the first layer); at least the widest single path's narrowest edge (from
        # the token itself, its own diagonal keeps at least 1/2 at every layer).
        widest = mixed[0].T.copy()  # widest[j, i]: best bottleneck from input j to token i after layer 0
        for step in range(1, layer + 1):
            widest = np.max(np.minimum(widest[:, :, None], mixed[step].T[None, :, :]), axis=1)
        assert (view.flow <= 1 + 1e-7).all() and (view.flow <= mixed[0].sum(0) + 1e-7).all()
        assert (view.flow >= widest[:, 2] - 1e-7).all() and view.flow[2] >= 0.5 - 1e-7


def test_flow_runs_to_64_tokens_and_is_refused_past_them_with_the_reason():
    at_cap = rollout_view(crafted_run(random_attention(1, 1, FLOW_TOKENS)), 0, 0, flow=True)
    assert at_cap.flow is not None and at_cap.flow_reason == ""
    np.testing.assert_allclose(at_cap.flow, with_residual(head_mean(crafted_run(random_attention(
        1, 1, FLOW_TOKENS))))[0][0], atol=1e-6)
    over = rollout_view(crafted_run(random_attention(2, 1, FLOW_TOKENS + 1)), None, 0, flow=True)
    assert over.flow is None and f"at most {FLOW_TOKENS} tokens; this one has {FLOW_TOKENS + 1}" in over.flow_reason
    np.testing.assert_allclose(over.rollout.sum(-1), 1.0, atol=1e-12)
    data = json.loads(json.dumps(over.to_dict()))
    assert data["flow"] is None and "at most 64 tokens" in data["flow_reason"] and len(data["rollout"]) == 65


def test_flow_over_the_request_budget_is_left_out_with_the_budgets_reason():
    run = crafted_run(random_attention(2, 1, 20))
    view = rollout_view(run, None, 0, flow=True, budget=Budget(gflop=1e-6))
    assert view.flow is None and "would take" in view.flow_reason and "earlier layer" in view.flow_reason
    assert rollout_view(run, None, 0, flow=True, budget=Budget()).flow is not None


def test_flow_is_left_out_unless_asked_for(pair_run):
    view = rollout_view(pair_run, 0, 0)
    assert view.flow is None and view.flow_reason == ""


def test_flow_refuses_graphs_its_integer_capacities_cannot_hold():
    with pytest.raises(ValueError, match="at most"):
        attention_flow(np.full((1, 128, 128), 1 / 128), 0, [0])


# --- Words or pieces ------------------------------------------------------------------------------------------------


def test_words_merge_rows_by_mean_and_columns_by_sum(pieced_run):
    run = pieced_run
    grouping = groups(run.tokens, run.word_ids, run.segments, "words")
    assert len(grouping) < len(run.tokens)  # some word has several pieces
    multi = next(k for k, members in enumerate(grouping.members) if len(members) > 1)
    pieces = rollout_view(run, None, grouping.members[multi][-1], "pieces", flow=True)
    words = rollout_view(run, None, grouping.members[multi][-1], "words", flow=True)
    assert words.tokens == grouping.labels and words.row == multi and words.unit == "words"
    expected = np.array([[np.mean([pieces.rollout[i, list(v)].sum() for i in u]) for v in grouping.members]
                         for u in grouping.members])
    np.testing.assert_allclose(words.rollout, expected, atol=1e-12)
    np.testing.assert_allclose(words.rollout.sum(-1), 1.0, atol=1e-12)
    raw = head_mean(run)[-1, 0]
    np.testing.assert_allclose(words.raw_attention, [np.mean([raw[i, list(v)].sum() for i in grouping.members[multi]])
                                                     for v in grouping.members], atol=1e-12)
    # Flow: the word's pieces' rows (each its own max-flow problem) averaged, its inputs' pieces summed.
    rows = np.array([rollout_view(run, None, i, "pieces", flow=True).flow for i in grouping.members[multi]])
    np.testing.assert_allclose(words.flow, [rows[:, list(v)].sum(-1).mean() for v in grouping.members], atol=1e-9)


def test_any_token_of_a_word_chooses_that_word(pieced_run):
    grouping = groups(pieced_run.tokens, pieced_run.word_ids, pieced_run.segments, "words")
    for k, members in enumerate(grouping.members):
        assert {rollout_view(pieced_run, 0, token, "words").row for token in members} == {k}


# --- Input checks ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("layer", "token", "unit", "flow", "message"), [
    (2, 0, "pieces", False, "Layer must"), (-2, 0, "pieces", False, "Layer must"), ("x", 0, "pieces", False,
                                                                                      "Layer must"),
    (0.5, 0, "pieces", False, "Layer must"), (0, -1, "pieces", False, "Token must"), (0, "1.5", "pieces", False,
                                                                                      "Token must"),
    (0, 0, "letters", False, "Show must"), (0, 0, "pieces", "yes", "Flow must"), (0, 0, "pieces", 1, "Flow must"),
])
def test_bad_controls_are_refused(tiny, layer, token, unit, flow, message):
    with pytest.raises(BadInput, match=message):
        check_request(layer, token, unit, flow, model=tiny.model)


def test_neutral_defaults_and_whole_numbers_as_text(tiny):
    request = check_request(model=tiny.model)
    assert (request.layer, request.token, request.unit, request.flow) == (None, 0, "pieces", False)
    request = check_request("1", "3", "words", True, model=tiny.model)
    assert (request.layer, request.token, request.unit, request.flow) == (1, 3, "words", True)
    assert check_request(-1, None, "", None).layer is None


def test_a_token_beyond_the_text_shows_cls_and_says_so(pair_run):
    view = rollout_view(pair_run, 0, 40)
    assert view.token == 0 and view.row == 0 and "beyond this text's 16 tokens" in view.notes[0]
    with pytest.raises(BadInput, match="at most 1"):
        rollout_view(pair_run, 5, 0)


def test_the_sub_tab_reads_the_tabs_run_and_refuses_bad_controls_before_a_forward(settings, cache, tiny):
    from bertviz_ui.ui import attention as tab_module
    from bertviz_ui.ui import attention_rollout as sub_tab

    forwards = []
    handle = tiny.model.register_forward_hook(lambda *_: forwards.append(1))
    try:
        tab = tab_module.InsideBert(AppContext(settings, cache))
        for layer, token, unit, message in ((2, 0, "pieces", "Layer must"), (0, -1, "pieces", "Token must"),
                                            (0, 0, "letters", "Show must")):
            with pytest.raises(BadInput, match=message):
                sub_tab.show_rollout(tab, "tiny:encoder", TUTORIAL_A, "", layer, token, unit, False)
        assert forwards == []
        state = tab_module.show_attention(tab, "tiny:encoder", TUTORIAL_A, TUTORIAL_B, 0, [], -1, False, "all",
                                          True)["state"]
        shown = sub_tab.show_rollout(tab, "tiny:encoder", TUTORIAL_A, TUTORIAL_B, -1, 0, "pieces", True)
        assert shown["raw"]["layer"] == 1 and shown["raw"]["flow"] is not None
        redrawn = sub_tab.redraw(tab, state, 0, 2, "words", False)
        assert redrawn["raw"]["layer"] == 0 and redrawn["raw"]["unit"] == "words"
        assert len(forwards) == 1  # the attention views, the rollout and its redraws: one forward
    finally:
        handle.remove()


def test_json_is_plain_and_capped(pair_run):
    view = rollout_view(pair_run, None, 2, "pieces", True)
    data = json.loads(json.dumps(view.to_dict()))
    assert data["tokens"] == list(pair_run.tokens) and data["layer"] == 1 and data["token"] == 2
    assert np.array(data["rollout"]).shape == (16, 16) and data["rollout_row"] == data["rollout"][2]
    assert len(data["raw_attention"]) == len(data["flow"]) == 16 and data["flow_reason"] is None
    capped = view.to_dict(max_tokens=5)
    assert np.array(capped["rollout"]).shape == (5, 5) and "first 5 rows" in capped["notes"][-1]
    assert len(capped["rollout_row"]) == 16


# --- Rendering ---------------------------------------------------------------------------------------------------


def test_figures_draw_the_units_shown(pieced_run):
    from bertviz_ui.render.attention_rollout import rollout_bars_figure, rollout_heatmap_figure, rollout_notes_html

    pieces = rollout_view(pieced_run, None, 0, "pieces", True)
    words = rollout_view(pieced_run, None, 0, "words", True)
    bars = rollout_bars_figure(pieces)
    assert [trace.name for trace in bars.data] == ["rollout", "raw attention", "flow"]
    assert list(bars.data[0].y) == [f"{t} ·{k}" for k, t in enumerate(pieced_run.tokens)]
    np.testing.assert_allclose(bars.data[0].x, pieces.rollout_row, atol=1e-6)
    word_bars = rollout_bars_figure(words)
    assert len(word_bars.data[0].y) == len(words.tokens) < len(pieced_run.tokens)
    assert "tokenization ·1" in word_bars.data[0].y
    assert len(rollout_bars_figure(rollout_view(pieced_run, None, 0)).data) == 2  # no flow asked: no flow bars
    heatmap = rollout_heatmap_figure(words)
    assert np.array(heatmap.data[0].z).shape == (len(words.tokens),) * 2
    assert "Rollout after layer 1" in heatmap.layout.title.text
    assert "<b>words</b>" in rollout_notes_html(words) and "<b>pieces</b>" in rollout_notes_html(pieces)


# --- Real weights ----------------------------------------------------------------------------------------------------


def test_offline_minilm_cls_draws_most_on_itself_at_the_last_layer(cache):
    loaded = cache.load(OFFLINE_MODEL_ID, Head.ENCODER, attentions=True)
    run = run_encoder(TUTORIAL_A, TUTORIAL_B, model=loaded.model, tokenizer=loaded.tokenizer, label=loaded.label)
    view = rollout_view(run, None, 0, "pieces", True)
    assert view.layer == 5
    np.testing.assert_allclose(view.rollout.sum(-1), 1.0, atol=1e-9)
    # Each layer keeps half of every vector at home (the residual) and spreads the rest: [CLS]'s own share stays the
    # largest; its flow from itself is whole, from any other input about half (measured: 0.625, 0.53-0.61).
    assert view.rollout_row.argmax() == 0 and 0.4 < view.rollout_row[0] < 0.9
    assert view.flow[0] == pytest.approx(1.0, abs=1e-6) and (view.flow[1:] > 0.3).all() and (view.flow[1:] < 0.9).all()
