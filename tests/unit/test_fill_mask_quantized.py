"""fp32 vs. int8 in the Masked words tab: the task against crafted masked LMs with known logits and against
predict_masks on each model, its budget and validation, and the tab's handler on the real cache."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from bertviz_ui.errors import BadInput
from bertviz_ui.models.quantization import INT8_LABEL, Int8Linear, Precision, quantize_int8
from bertviz_ui.registry import Head
from bertviz_ui.render.fill_mask import QUANTIZED_COLUMNS, quantized_figure, quantized_html, quantized_table
from bertviz_ui.tasks.budget import Budget, OverBudget, forward_flops, shape_of, vocabulary_flops
from bertviz_ui.tasks.fill_mask import compare_quantized, predict_masks
from bertviz_ui.ui import fill_mask
from bertviz_ui.ui.context import AppContext
from tests.unit.crafted import VOCAB_SIZE, fixed_mlm, one_hot_probability

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = "The cat sat on the [MASK]."
MB = 2**20


@pytest.fixture(scope="module")
def mat_and_dog(uncased):
    mat, dog = uncased.convert_tokens_to_ids(["mat", "dog"])
    return mat, dog


def compare(model, quantized, tokenizer, **kwargs):
    options = {"full_bytes": 400 * MB, "int8_bytes": 100 * MB, "top_k": 3, **kwargs}
    return compare_quantized(TEXT, model=model, quantized=quantized, tokenizer=tokenizer, **options)


def test_two_models_with_known_logits_side_by_side(uncased, mat_and_dog):
    mat, dog = mat_and_dog
    result = compare(fixed_mlm(mat), fixed_mlm(dog), uncased, label="crafted")
    (mask,) = result.masks
    high = one_hot_probability(10.0)  # 0.419: the vocabulary is large
    low = (1 - high) / (VOCAB_SIZE - 1)  # every other token
    assert mask.full.position == mask.int8.position == 6
    assert (mask.full.predictions[0].token, mask.int8.predictions[0].token) == ("mat", "dog")
    assert [side.predictions[0].score for side in (mask.full, mask.int8)] == pytest.approx([high, high], rel=1e-5)
    # The runners-up tie at 'low' in both models, at the same ids: they rank alike, so 2 of 3 are shared.
    assert not mask.same_top1 and mask.shared == 2
    assert mask.moved == pytest.approx(high - low, rel=1e-5)  # mat's and dog's probability swapped, nothing else
    assert result.notes and "changed the top guess" in result.notes[0]
    assert (result.full_bytes, result.int8_bytes, result.model) == (400 * MB, 100 * MB, "crafted")
    assert result.full_seconds > 0 and result.int8_seconds > 0
    assert result.tokens[6] == "[MASK]" and result.to_dict()["masks"][0]["same_top1"] is False


def test_a_real_int8_copy_of_a_model_whose_head_ignores_the_layers_predicts_the_same(uncased, mat_and_dog):
    mat, _ = mat_and_dog
    model = fixed_mlm(mat)
    quantized = copy.deepcopy(model)
    assert quantize_int8(quantized) == 2 * 6  # query, key, value, attention output, intermediate, output per layer
    (mask,) = compare(model, quantized, uncased, top_k=5).masks
    # The crafted decoder's weight is zero: its logits are its bias whatever the layers compute, in int8 too.
    assert mask.same_top1 and mask.shared == 5 and mask.moved == pytest.approx(0.0, abs=1e-7)
    assert mask.full == mask.int8


def test_each_side_is_what_predict_masks_gives_for_its_model(cache):
    full = cache.load("tiny:masked_lm", Head.MASKED_LM)
    int8 = cache.load("tiny:masked_lm", Head.MASKED_LM, precision=Precision.INT8)
    text = "I went to the [MASK] to buy some bread and [MASK]."
    result = compare_quantized(text, model=full.model, quantized=int8.model, tokenizer=full.tokenizer, top_k=4,
                               full_bytes=full.size_bytes, int8_bytes=int8.size_bytes)
    for side, loaded in (("full", full), ("int8", int8)):
        expected = predict_masks(text, model=loaded.model, tokenizer=loaded.tokenizer, top_k=4).masks
        assert tuple(getattr(mask, side) for mask in result.masks) == expected
    inputs = full.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        p = full.model(**inputs).logits[0].softmax(-1)
        q = int8.model(**inputs).logits[0].softmax(-1)
    for mask in result.masks:
        position = mask.full.position
        assert mask.moved == pytest.approx(0.5 * float((p[position] - q[position]).abs().sum()), abs=1e-6)
        ids = [{x.token_id for x in side.predictions} for side in (mask.full, mask.int8)]
        assert mask.shared == len(ids[0] & ids[1])


def test_two_forwards_are_checked_against_the_budget_up_front(uncased, mat_and_dog):
    mat, dog = mat_and_dog
    model = fixed_mlm(mat)
    tokens = len(uncased(TEXT)["input_ids"])
    shape = shape_of(model)
    one = forward_flops(shape, tokens) + vocabulary_flops(shape, 1)
    budget = Budget(gflop=1.5 * one / 1e9)  # one forward and head fit; two don't
    predict_masks(TEXT, model=model, tokenizer=uncased, budget=budget)
    with pytest.raises(OverBudget, match="fp32 and in int8"):
        compare(model, fixed_mlm(dog), uncased, budget=budget)


@pytest.mark.parametrize(("text", "options", "message"), [
    ("No mask here.", {}, "at least one"),
    (TEXT, {"top_k": 0}, "Top-k"),
    (TEXT, {"int8_bytes": 0}, "sizes"),
    ("<mask> is RoBERTa's.", {}, "not this model's mask token"),
])
def test_bad_input_is_refused(uncased, mat_and_dog, text, options, message):
    mat, _ = mat_and_dog
    model = fixed_mlm(mat)
    with pytest.raises(BadInput, match=message):
        compare_quantized(text, model=model, quantized=model, tokenizer=uncased,
                          **{"full_bytes": 1, "int8_bytes": 1, **options})


def test_the_view_shows_both_sizes_and_every_rank(uncased, mat_and_dog):
    mat, dog = mat_and_dog
    result = compare(fixed_mlm(mat), fixed_mlm(dog), uncased)
    html = quantized_html(result)
    assert "fp32 400.0 MB, int8 (dynamic) 100.0 MB (25% of the size)" in html
    assert "a different top guess: fp32 <b>mat</b>, int8 <b>dog</b>" in html and "2 of 3 candidates" in html
    table = quantized_table(result)
    assert list(table.columns) == list(QUANTIZED_COLUMNS) and len(table) == 3
    assert list(table.iloc[0]) == [1, 1, "mat", "41.9%", "dog", "41.9%"]
    figure = quantized_figure(result)
    int8_bars, fp32_bars = figure.data  # one axis of tokens: fp32's top 3, then dog (int8's only), best on top
    assert [trace.name for trace in figure.data] == ["int8", "fp32"]
    assert list(fp32_bars.y) == list(int8_bars.y) and fp32_bars.y[0] == "dog" and fp32_bars.y[-1] == "mat"
    assert fp32_bars.x[0] is None and fp32_bars.x[-1] == pytest.approx(0.419, abs=1e-3)
    assert int8_bars.x[-1] is None and int8_bars.x[0] == pytest.approx(0.419, abs=1e-3)


def test_the_tab_compares_the_fp32_and_int8_models_of_the_cache(settings, cache, monkeypatch):
    ctx = AppContext(settings=settings, cache=cache)  # quantize=none: the view still shows both
    shown = fill_mask.run_quantized(ctx, "tiny:masked_lm", "Paris is the [MASK] of France.", 3)
    full = cache.load("tiny:masked_lm", Head.MASKED_LM, precision=Precision.FULL)
    int8 = cache.load("tiny:masked_lm", Head.MASKED_LM, precision=Precision.INT8)
    assert any(isinstance(m, Int8Linear) for m in int8.model.modules()) and int8.quantization == INT8_LABEL
    assert (shown["raw"]["full_bytes"], shown["raw"]["int8_bytes"]) == (full.size_bytes, int8.size_bytes)
    assert "int8 (dynamic)" in shown["header"] and len(shown["table"]) == 3
    loads = []
    monkeypatch.setattr(cache, "load", lambda *args, **kwargs: loads.append(kwargs.get("precision")) or full)
    with pytest.raises(BadInput, match="at least one"):
        fill_mask.run_quantized(ctx, "tiny:masked_lm", "No mask at all.", 3)
    assert loads == [Precision.FULL]  # refused before the int8 model is asked for
    with pytest.raises(BadInput, match="Top-k"):
        fill_mask.run_quantized(ctx, "tiny:masked_lm", TEXT, 51)
    assert loads == [Precision.FULL]  # refused before any model


def test_results_are_frozen(uncased, mat_and_dog):
    mat, dog = mat_and_dog
    result = compare(fixed_mlm(mat), fixed_mlm(dog), uncased)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.masks[0].moved = 0.0
