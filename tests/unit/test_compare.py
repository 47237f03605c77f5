"""tasks/compare.py: the differences between two models' results, on crafted inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from transformers import BertTokenizerFast

from bertviz_ui.errors import BadInput
from bertviz_ui.tasks.budget import Budget
from bertviz_ui.tasks.compare import (
    check_task,
    diff_attention,
    diff_fill_mask,
    diff_sentiment,
    diff_tokenization,
    js_distance,
    side_budget,
    word_attention,
)
from bertviz_ui.tasks.encoder import EncoderRun, _summaries, run_encoder
from bertviz_ui.tasks.fill_mask import FillMaskResult, MaskPrediction, Prediction, predict_masks
from bertviz_ui.tasks.sentiment import classify
from bertviz_ui.tasks.tokenizer import tokenize
from tests.unit.crafted import fixed_classifier, fixed_mlm, one_hot_probability, tiny_config

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _wordpiece(words: list[str]) -> BertTokenizerFast:
    """A fast WordPiece tokenizer (uncased) of the special tokens and ``words``."""
    return BertTokenizerFast(vocab={word: i for i, word in enumerate([*SPECIALS, *words])})


# --- Tokenizer --------------------------------------------------------------------------------------


def test_a_word_split_differently_is_listed_with_its_pieces_under_each():
    whole = _wordpiece(["the", "unaffable", "cat", "."])
    pieces = _wordpiece(["the", "un", "##aff", "##able", "cat", "."])
    a = tokenize("The unaffable cat.", tokenizer=whole, model="A")
    b = tokenize("The unaffable cat.", tokenizer=pieces, model="B")
    diff = diff_tokenization(a, b)
    assert (diff.tokens_a, diff.tokens_b, diff.identical, diff.words_compared) == (6, 8, False, 4)
    assert [(w.text, w.pieces_a, w.pieces_b, w.segment) for w in diff.split_differently] == [
        ("unaffable", ("unaffable",), ("un", "##aff", "##able"), 0)]


def test_words_of_sentence_b_are_matched_in_sentence_b():
    whole = _wordpiece(["the", "unaffable", "cat", "."])
    pieces = _wordpiece(["the", "un", "##aff", "##able", "cat", "."])
    a = tokenize("The cat.", "unaffable cat", tokenizer=whole)
    b = tokenize("The cat.", "unaffable cat", tokenizer=pieces)
    (word,) = diff_tokenization(a, b).split_differently
    assert (word.segment, word.text, word.pieces_b) == (1, "unaffable", ("un", "##aff", "##able"))


def test_one_tokenizer_twice_is_identical(uncased):
    a = tokenize("Elon Musk founded Tesla.", tokenizer=uncased)
    diff = diff_tokenization(a, a)
    assert diff.identical and diff.split_differently == () and diff.words_compared == 5


# --- Masked words -----------------------------------------------------------------------------------


def _masks(*lists: list[tuple[str, float]]) -> FillMaskResult:
    masks = tuple(MaskPrediction(position=i + 1, predictions=tuple(Prediction(w, w, n, s) for n, (w, s)
                                                                   in enumerate(words)))
                  for i, words in enumerate(lists))
    return FillMaskResult(model="m", text="t", mask_token="[MASK]", tokens=(), masks=masks, completed="", notes=())


def test_words_entering_and_leaving_the_top_k_and_deltas_of_shared_words():
    a = _masks([("mat", 0.5), ("floor", 0.3), ("bed", 0.1)], [("sat", 0.9)])
    b = _masks([("floor", 0.6), ("rug", 0.2), ("mat", 0.125)], [("sat", 0.4)])
    diff = diff_fill_mask(a, b)
    first, second = diff.masks
    assert (first.mask, first.top1_a, first.top1_b) == (1, "mat", "floor")
    assert first.entered == ("rug",) and first.left == ("bed",)
    assert [(d.word, d.score_a, d.score_b) for d in first.shared] == [("mat", 0.5, 0.125), ("floor", 0.3, 0.6)]
    assert [d.delta for d in first.shared] == pytest.approx([-0.375, 0.3])
    assert second.entered == second.left == () and second.shared[0].delta == pytest.approx(-0.5)
    assert diff.notes == ()


def test_a_known_delta_from_two_crafted_masked_language_models(uncased):
    mat = uncased.convert_tokens_to_ids("mat")
    dog = uncased.convert_tokens_to_ids("dog")
    text = "The cat sat on the [MASK]."
    a = predict_masks(text, model=fixed_mlm(mat, logit=10.0), tokenizer=uncased, top_k=1)
    b = predict_masks(text, model=fixed_mlm(mat, logit=8.0), tokenizer=uncased, top_k=1)
    (mask,) = diff_fill_mask(a, b).masks
    (shared,) = mask.shared
    assert shared.word == "mat"
    assert shared.delta == pytest.approx(one_hot_probability(8.0) - one_hot_probability(10.0), rel=1e-4)
    c = predict_masks(text, model=fixed_mlm(dog), tokenizer=uncased, top_k=1)
    (mask,) = diff_fill_mask(a, c).masks
    assert (mask.entered, mask.left, mask.shared) == (("dog",), ("mat",), ())


def test_a_different_mask_count_compares_the_first_ones_and_says_so():
    diff = diff_fill_mask(_masks([("a", 0.5)], [("b", 0.5)]), _masks([("a", 0.5)]))
    assert len(diff.masks) == 1 and "found 2 mask(s) and model B 1" in diff.notes[0]


# --- Sentiment --------------------------------------------------------------------------------------


def test_class_deltas_by_label_name(uncased):
    text = "I loved it!\nTerrible."
    # Softmax of (0, ln 3) is (0.25, 0.75); the second model's labels come in the other order.
    a = classify(text, model=fixed_classifier((0.0, math.log(3))), tokenizer=uncased, label="A")
    b = classify(text, model=fixed_classifier((0.0, math.log(3)), labels=("POSITIVE", "NEGATIVE")),
                 tokenizer=uncased, label="B")
    diff = diff_sentiment(a, b)
    assert diff.same_labels and diff.notes == () and diff.agreement == 0.0
    line = diff.lines[0]
    assert (line.label_a, line.label_b, line.agree) == ("POSITIVE", "NEGATIVE", False)
    by_label = {c.label: c for c in line.classes}
    assert by_label["POSITIVE"].delta == pytest.approx(-0.5) and by_label["NEGATIVE"].delta == pytest.approx(0.5)
    assert by_label["POSITIVE"].score_a == pytest.approx(0.75)


def test_label_sets_that_differ_are_said_and_get_no_delta(uncased):
    a = classify("Fine.", model=fixed_classifier((0.0, 1.0)), tokenizer=uncased)
    b = classify("Fine.", model=fixed_classifier((0.0, 1.0, 2.0), labels=("neg", "neutral", "POSITIVE")),
                 tokenizer=uncased)
    diff = diff_sentiment(a, b)
    assert not diff.same_labels and diff.only_a == ("NEGATIVE",) and diff.only_b == ("neg", "neutral")
    by_label = {c.label: c for c in diff.lines[0].classes}
    assert list(by_label) == ["NEGATIVE", "POSITIVE", "neg", "neutral"]
    assert by_label["NEGATIVE"].score_b is None and by_label["NEGATIVE"].delta is None
    assert by_label["POSITIVE"].delta is not None
    assert "label sets differ" in diff.notes[0]


# --- Attention --------------------------------------------------------------------------------------


def _run(tokens: tuple[str, ...], word_ids: tuple[int | None, ...], attentions: np.ndarray) -> EncoderRun:
    kinds = tuple("cls" if t == "[CLS]" else "sep" if t == "[SEP]" else "word" for t in tokens)
    attentions = np.asarray(attentions, dtype=np.float32)
    return EncoderRun(model="m", model_type="bert", text="x", text_pair="", tokens=tokens,
                      token_ids=tuple(range(len(tokens))), segments=(0,) * len(tokens), word_ids=word_ids,
                      kinds=kinds, attentions=attentions, hidden_states=np.zeros((1, len(tokens), 2), np.float32),
                      embedding_parts=None, summaries=_summaries(attentions, kinds), total_tokens=len(tokens),
                      notes=(), seconds=0.0)


def test_js_distance_matches_scipy_or_the_formula():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(7), size=5), rng.dirichlet(np.ones(7), size=5)
    p[0, 3] = 0.0  # a zero probability is part of the definition (0 log 0 = 0)
    p[0] /= p[0].sum()
    try:
        from scipy.spatial.distance import jensenshannon
        expected = [jensenshannon(x, y, base=2) for x, y in zip(p, q)]
    except ImportError:  # the definition itself: sqrt of the mean KL divergence to the midpoint, in bits
        def kl(x, m):
            return sum(a * math.log2(a / b) for a, b in zip(x, m) if a > 0)
        expected = [math.sqrt((kl(x, (x + y) / 2) + kl(y, (x + y) / 2)) / 2) for x, y in zip(p, q)]
    assert js_distance(p, q) == pytest.approx(expected, abs=1e-12)
    assert js_distance([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    assert js_distance(p, p) == pytest.approx(np.zeros(5), abs=1e-7)


def test_one_model_twice_is_at_zero_distance_in_every_layer(uncased):
    import torch
    from transformers import BertModel

    torch.manual_seed(0)
    config = tiny_config()
    config._attn_implementation = "eager"  # sdpa returns no attention weights
    model = BertModel(config).eval()
    run = run_encoder("The cat sat on the mat.", "It was a lazy afternoon.", model=model, tokenizer=uncased)
    diff = diff_attention(run, run)
    assert diff.available and diff.unit == "words" and diff.distances == (0.0, 0.0)
    assert diff.words[:3] == ("[CLS]", "the", "cat") and len(diff.words) == 16


def test_distance_is_measured_between_words_so_different_splits_compare():
    # A reads "playing" as play ##ing, B as one token. A's rows give each of [CLS], play, ##ing, [SEP] 1/3, 1/6,
    # 1/6, 1/3: merged to words that is 1/3 per word, B's uniform attention: the same at word level.
    pieces = np.tile([1 / 3, 1 / 6, 1 / 6, 1 / 3], (1, 1, 4, 1))
    a = _run(("[CLS]", "play", "##ing", "[SEP]"), (None, 0, 0, None), pieces)
    b = _run(("[CLS]", "playing", "[SEP]"), (None, 0, None), np.full((1, 1, 3, 3), 1 / 3))
    diff = diff_attention(a, b)
    assert diff.available and diff.words == ("[CLS]", "playing", "[SEP]")
    assert diff.distances == pytest.approx((0.0,), abs=1e-7)
    np.testing.assert_allclose(word_attention(a), np.full((1, 3, 3), 1 / 3), atol=1e-7)
    # B attending to [CLS] only: every row is at the distance of uniform from one-hot.
    c = _run(("[CLS]", "playing", "[SEP]"), (None, 0, None), np.tile([1.0, 0.0, 0.0], (1, 1, 3, 1)))
    (distance,) = diff_attention(a, c).distances
    assert distance == pytest.approx(float(js_distance([1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0])), abs=1e-6)
    assert 0.0 < distance < 1.0


def test_no_distance_across_layer_counts_or_different_words_and_why():
    one = _run(("[CLS]", "cat", "[SEP]"), (None, 0, None), np.full((1, 1, 3, 3), 1 / 3))
    two = _run(("[CLS]", "cat", "[SEP]"), (None, 0, None), np.full((2, 1, 3, 3), 1 / 3))
    diff = diff_attention(one, two)
    assert not diff.available and diff.distances == ()
    assert diff.reason.startswith("Model A has 1 layers and model B 2")
    other = _run(("[CLS]", "dog", "[SEP]"), (None, 0, None), np.full((1, 1, 3, 3), 1 / 3))
    assert "different words" in diff_attention(one, other).reason
    cased = _run(("[CLS]", "Cat", "[SEP]"), (None, 0, None), np.full((1, 1, 3, 3), 1 / 3))
    assert diff_attention(one, cased).available  # case (and accents) don't make a word another


# --- Inputs and budget ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", None, "ner", "Tokenizer"])
def test_only_the_four_tasks_are_compared(value):
    with pytest.raises(BadInput):
        check_task(value)


def test_each_model_gets_half_the_request_work():
    budget = Budget(gflop=100.0, memory_gb=2.0)
    assert side_budget(budget) == Budget(gflop=50.0, memory_gb=2.0)
