"""Before vs after fine-tuning (tasks/finetune/compare.py): linear CKA against the HSIC formula and its invariances,
Jensen-Shannon distance against scipy, neighbours against a brute-force ranking, and whole comparisons of crafted
models (an unchanged copy: CKA 1 and JS 0 everywhere; one head's query weights changed: that head first)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from bertviz_ui import examples
from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models.lab import eager_attention
from bertviz_ui.registry import Head
from bertviz_ui.tasks.budget import Budget, OverBudget, forward_flops, shape_of
from bertviz_ui.tasks.finetune import TrainedModel, build_classifier, compare_to_base, js_distance, linear_cka
from bertviz_ui.tasks.finetune import compare as ft_compare
from bertviz_ui.tasks.similarity import sentence_embeddings

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = tuple(examples.TUTORIAL_REVIEWS)
LABELS = tuple("pos" if label else "neg" for label in examples.TUTORIAL_REVIEW_LABELS)
TEXT = "What a wonderful surprise, I loved every minute."


# --- Linear CKA -----------------------------------------------------------------------------------------------

def _hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """CKA written out as Kornblith et al. (2019) define it: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with linear
    kernels K = X X^T, L = Y Y^T and HSIC(K, L) = tr(K H L H) / (n - 1)^2, H the centering matrix."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h) / (n - 1) ** 2

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


@pytest.mark.parametrize("n, d1, d2", [(30, 8, 5), (4, 8, 6), (50, 3, 12)])  # both branches: n > d and n <= d
def test_linear_cka_equals_the_hsic_formula(n, d1, d2):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, d1))
    y = x[:, :1] @ rng.normal(size=(1, d2)) + 0.5 * rng.normal(size=(n, d2))  # related, not identical
    expected = _hsic_cka(x, y)
    assert 0.05 < expected < 0.99
    assert linear_cka(torch.tensor(x), torch.tensor(y)) == pytest.approx(expected, abs=1e-9)


def test_linear_cka_is_one_for_the_same_geometry_and_invariant_to_rotation_scale_and_shift():
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(40, 16)))
    rotation, _ = torch.linalg.qr(torch.tensor(rng.normal(size=(16, 16))))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, 3.7 * x @ rotation + 5.0) == pytest.approx(1.0, abs=1e-9)
    # Not invariant to stretching one direction, and far from 1 for unrelated representations.
    stretched = x.clone()
    stretched[:, 0] *= 10
    assert linear_cka(x, stretched) < 0.9
    assert linear_cka(x, torch.tensor(rng.normal(size=(40, 16)))) < 0.6
    assert linear_cka(torch.ones(5, 3), x[:5]) is None  # no variance: nothing to compare


# --- Jensen-Shannon distance -----------------------------------------------------------------------------------

def test_js_distance_equals_scipy_in_base_2():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(7), size=6)
    q = rng.dirichlet(np.ones(7), size=6)
    p[0, :3] = 0  # zeros on one side only
    p[0] /= p[0].sum()
    ours = js_distance(torch.tensor(p), torch.tensor(q)).numpy()
    assert ours == pytest.approx([jensenshannon(a, b, base=2) for a, b in zip(p, q)], abs=1e-9)
    assert float(js_distance(torch.tensor(p[1]), torch.tensor(p[1]))) == pytest.approx(0.0, abs=1e-7)
    disjoint = js_distance(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.5, 0.5]))
    assert float(disjoint) == pytest.approx(1.0)  # base 2: the largest distance is 1
    assert ((ours >= 0) & (ours <= 1)).all()


def test_nearest_equals_a_brute_force_cosine_ranking():
    rng = np.random.default_rng(2)
    pool = torch.nn.functional.normalize(torch.tensor(rng.normal(size=(30, 5))), dim=-1)
    vector = torch.nn.functional.normalize(torch.tensor(rng.normal(size=5)), dim=0)
    cosines = [float(np.dot(row, vector) / np.linalg.norm(row) / np.linalg.norm(vector)) for row in pool.numpy()]
    brute = sorted(range(30), key=lambda i: cosines[i], reverse=True)[:4]
    found = ft_compare.nearest(vector, pool, 4)
    assert [i for i, _ in found] == brute
    assert [c for _, c in found] == pytest.approx([cosines[i] for i in brute])


def test_the_searched_examples_take_each_label_in_turn():
    assert ft_compare._pool_order(["a", "a", "a", "b", "c", "b"]) == [0, 3, 4, 1, 5, 2]


# --- Whole comparisons on crafted models -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base(cache):
    """The tiny encoder, as a private eager copy (the session cache's own model stays as other tests expect it)."""
    return eager_attention(copy.deepcopy(cache.load("tiny:encoder", Head.ENCODER).model))


@pytest.fixture(scope="module")
def tokenizer(cache):
    return cache.load("tiny:encoder", Head.ENCODER).tokenizer


def _trained(base, tokenizer, change=None) -> TrainedModel:
    model = eager_attention(build_classifier(base, ("neg", "pos"), 0, "cpu"))
    if change is not None:
        change(model)
    return TrainedModel(model=model, tokenizer=tokenizer, labels=("neg", "pos"), max_length=64, base="tiny",
                        base_ref="tiny:encoder", examples=TEXTS, example_labels=LABELS)


def test_an_unchanged_copy_has_cka_one_and_js_zero_everywhere(base, tokenizer):
    result = compare_to_base(TEXT, trained=_trained(base, tokenizer), base=base, top_n=3, label="tiny")
    layers, heads = base.config.num_hidden_layers, base.config.num_attention_heads
    assert result.cka_layers == ("embeddings", *(f"layer {i}" for i in range(layers)))
    assert result.cka == pytest.approx([1.0] * (layers + 1), abs=1e-6)
    assert np.array(result.attention_change).shape == (layers, heads)
    assert np.abs(result.attention_change).max() < 1e-3
    assert result.moved_layers == () and any("No layer's representation changed" in note for note in result.notes)
    assert result.neighbours_base == result.neighbours_tuned
    assert result.searched == len(TEXTS)
    assert result.cka_tokens["text"] == len(result.tokens) and result.cka_tokens["examples"] > 0


def test_neighbours_equal_a_brute_force_ranking_of_mean_pooled_embeddings(base, tokenizer):
    trained = _trained(base, tokenizer)
    result = compare_to_base(TEXT, trained=trained, base=base, top_n=4)
    # An independent path: the Similarity tab's mean pooling, one text at a time, cosines ranked by hand.
    vectors = [sentence_embeddings([t], model=base, tokenizer=tokenizer, limit=64)[0] for t in TEXTS]
    query = sentence_embeddings([TEXT], model=base, tokenizer=tokenizer, limit=64)[0]
    cosines = [float(v @ query) for v in vectors]
    brute = sorted(range(len(TEXTS)), key=lambda i: -cosines[i])[:4]
    assert [n.index for n in result.neighbours_base] == brute
    assert [n.cosine for n in result.neighbours_base] == pytest.approx([cosines[i] for i in brute], abs=1e-5)
    assert [n.label for n in result.neighbours_base] == [LABELS[i] for i in brute]
    assert [n.text for n in result.neighbours_base] == [TEXTS[i] for i in brute]


def _sharpen_query(layer: int, head: int):
    def change(model) -> None:
        attention = model.base_model.encoder.layer[layer].attention.self
        size = attention.attention_head_size
        with torch.no_grad():
            rows = slice(head * size, (head + 1) * size)
            generator = torch.Generator().manual_seed(0)
            attention.query.weight[rows] = 40 * torch.randn(attention.query.weight[rows].shape, generator=generator)
    return change


def test_a_change_to_one_heads_query_weights_moves_that_head_most(base, tokenizer):
    trained = _trained(base, tokenizer, _sharpen_query(layer=1, head=1))
    result = compare_to_base(TEXT, trained=trained, base=base)
    change = np.array(result.attention_change)
    first = result.top_heads[0]
    assert (first.layer, first.head) == (1, 1) and first.js == pytest.approx(change[1, 1])
    assert change[1, 1] > 0.1
    assert change[0].max() < 1e-3 and change[1, 0] < 1e-3  # every other head's attention is the same
    assert [h.js for h in result.top_heads] == sorted((h.js for h in result.top_heads), reverse=True)
    assert len(result.top_heads) == min(5, change.size)
    # The embeddings and layer 0's output are untouched; layer 1's output moved.
    assert result.cka[0] == pytest.approx(1.0, abs=1e-6) and result.cka[1] == pytest.approx(1.0, abs=1e-6)
    assert result.cka[2] < 1 - 1e-6 and result.moved_layers == ("layer 1",)
    t = len(result.tokens)
    assert np.array(first.base).shape == np.array(first.tuned).shape == (t, t)
    assert np.array(first.tuned).sum(-1) == pytest.approx(np.ones(t), abs=1e-3)
    # The maps shown are the ones measured: their JS distance, averaged over query rows, is the head's.
    measured = js_distance(torch.tensor(first.base), torch.tensor(first.tuned)).mean()
    assert float(measured) == pytest.approx(first.js, abs=1e-3)


def test_probabilities_are_the_classifiers_and_the_json_is_complete(base, tokenizer):
    trained = _trained(base, tokenizer, _sharpen_query(0, 0))
    result = compare_to_base(TEXT, trained=trained, base=base, top_n=2)
    _label, _score, expected = trained.predict([TEXT])[0]
    payload = json.loads(json.dumps(result.to_dict()))
    assert list(payload["probabilities"].values()) == pytest.approx(list(expected), abs=1e-5)
    assert payload["predicted"] == trained.labels[int(np.argmax(expected))]
    assert set(payload) >= {"probabilities", "neighbours", "cka", "attention_change", "top_heads", "notes"}
    assert set(payload["neighbours"]) >= {"base", "tuned"} and len(payload["neighbours"]["tuned"]) == 2
    assert set(payload["top_heads"][0]) == {"layer", "head", "js"}


@pytest.mark.parametrize("text, top_n, message", [
    ("", 5, "Text is empty"),
    (None, 5, "Text is empty"),
    ("x" * 1_001, 5, "up to 1,000"),
    ("fine", 0, "Neighbours must be a whole number between 1 and 10"),
    ("fine", 11, "between 1 and 10"),
    ("fine", 2.5, "whole number"),
])
def test_input_is_checked_before_any_model_runs(text, top_n, message):
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"a model was used before the input was checked ({name})")

    with pytest.raises(BadInput, match=message):
        compare_to_base(text, trained=Untouchable(), base=Untouchable(), top_n=top_n)


def test_the_budget_refuses_the_text_or_searches_fewer_examples(base, tokenizer):
    trained = _trained(base, tokenizer)
    with pytest.raises(OverBudget, match="Use a shorter text"):
        compare_to_base(TEXT, trained=trained, base=base, budget=Budget(gflop=1e-9))
    shape = shape_of(base)
    text_tokens = len(tokenizer(TEXT)["input_ids"])
    order = ft_compare._pool_order(LABELS)
    first_three = sum(2 * forward_flops(shape, len(tokenizer(TEXTS[i])["input_ids"])) for i in order[:3])
    budget = Budget(gflop=(2 * forward_flops(shape, text_tokens) + first_three * 1.001) / 1e9)
    result = compare_to_base(TEXT, trained=trained, base=base, budget=budget)
    assert result.searched == 3
    assert any(f"searched among {result.searched} of the {len(TEXTS)}" in note for note in result.notes)
    assert {n.label for n in result.neighbours_base} == {"neg", "pos"}  # each label in turn: both are searched


def test_a_model_without_eager_attention_is_refused_with_a_message(base, tokenizer, cache):
    trained = _trained(base, tokenizer)
    trained.model.set_attn_implementation("sdpa")
    with pytest.raises(ModelUnavailable, match="eager attention"):
        compare_to_base(TEXT, trained=trained, base=base)


def test_a_long_text_is_read_up_to_the_cap(base, tokenizer):
    trained = _trained(base, tokenizer)
    trained.max_length = 512
    result = compare_to_base("word " * 190, trained=trained, base=base)
    assert len(result.tokens) == ft_compare.MAX_COMPARE_TOKENS
    assert any("first 128 are compared" in note for note in result.notes)
