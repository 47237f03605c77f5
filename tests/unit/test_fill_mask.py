"""Masked words: predictions against the fill-mask pipeline, crafted heads with known answers, the masking lab."""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from types import SimpleNamespace

import pytest
import torch
from transformers import pipeline

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.registry import Head
from bertviz_ui.tasks.budget import Budget, OverBudget, forward_flops, shape_of, vocabulary_flops
from bertviz_ui.tasks.fill_mask import (
    MAX_MASKS,
    Word,
    compare_context,
    corrupt,
    iterative_fill,
    mask_word,
    masking_lab,
    normalize_masks,
    predict_masks,
    predictions_through_layers,
    sentence_words,
)
from bertviz_ui.tasks.fill_mask import lab as lab_module
from tests.unit.crafted import VOCAB_SIZE, FullForwardOnly, RuleMaskedLM, fixed_mlm, one_hot_probability

# bert-base-uncased ids.
MASK_ID, MAT, ONE, TWO, THREE, FOUR, SOMETHING = 103, 13523, 2028, 2048, 2093, 2176, 2242
SEED_MASKED = "The cat sat on the [MASK]."
TWO_MASKS = "The [MASK] sat on the [MASK]."
# 29 word pieces between [CLS] and [SEP]: enough for the 80/10/10 shares to show.
LAB_SENTENCE = ("The quick brown fox jumps over the lazy dog while the old farmer watches quietly from his "
                "wooden porch and the children play games in the green field.")
LAB_PIECES = 29
SELECTED_ROLES = ("masked", "random", "unchanged")

# Softmax in float32 over 30,522 logits: relative error up to about 1e-5 against the exact value.
EXACT = 5e-5
# The tiny checkpoint's probabilities are all about 1/30522 = 3.3e-5, so an absolute tolerance of 1e-5 would
# accept any ordering: scores are compared relatively (1e-4 of 5e-5 is 5e-9).
REL = 1e-4


@pytest.fixture(scope="module")
def tiny(cache):
    return cache.load("tiny:masked_lm", Head.MASKED_LM)


@pytest.fixture(scope="module")
def reference_pipeline(tiny):
    def run(text: str, top_k: int):
        fill = pipeline("fill-mask", model=tiny.model, tokenizer=tiny.tokenizer.unwrapped, top_k=top_k)
        found = fill(text)
        return [found] if isinstance(found[0], dict) else found
    return run


@pytest.fixture(scope="module")
def crafted():
    """Every mask: "mat" with logit 10, every other token 0."""
    return fixed_mlm(MAT)


@pytest.fixture(scope="module")
def angle_tokenizer(uncased):
    """bert-base-uncased's vocabulary with RoBERTa's mask token "<mask>" added (id 30522)."""
    tokenizer = copy.deepcopy(uncased.unwrapped)
    tokenizer.add_special_tokens({"mask_token": "<mask>"})
    assert (tokenizer.mask_token, tokenizer.mask_token_id) == ("<mask>", VOCAB_SIZE)
    return tokenizer


def count_down(ids: list[int], position: int) -> tuple[int, float]:
    """A mask followed by "four" is "three" (logit 10), by "three" is "two" (9), by "two" is "one" (8); else weak."""
    return {FOUR: (THREE, 10.0), THREE: (TWO, 9.0), TWO: (ONE, 8.0)}.get(ids[position + 1], (SOMETHING, 4.0))


def token_ids(tokenizer, text: str) -> torch.Tensor:
    return tokenizer(text, return_tensors="pt")["input_ids"]


# --- predict_masks --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, positions", [(SEED_MASKED, (6,)), (TWO_MASKS, (2, 6))])
def test_predictions_match_the_fill_mask_pipeline(tiny, reference_pipeline, text, positions):
    result = predict_masks(text, model=tiny.model, tokenizer=tiny.tokenizer, top_k=7)
    expected = reference_pipeline(text, 7)
    assert tuple(m.position for m in result.masks) == positions
    assert len(result.masks) == len(expected)
    for mask, reference in zip(result.masks, expected):
        assert [p.token_id for p in mask.predictions] == [r["token"] for r in reference]
        assert [p.token for p in mask.predictions] == [r["token_str"] for r in reference]
        assert [p.score for p in mask.predictions] == pytest.approx([r["score"] for r in reference], rel=REL, abs=0)
        assert [p.score for p in mask.predictions] == pytest.approx([r["score"] for r in reference], abs=1e-5)
    if len(positions) == 1:
        assert result.completed == expected[0][0]["sequence"]


def test_crafted_head_gives_its_token_and_exact_probability(crafted, uncased):
    result = predict_masks(SEED_MASKED, model=crafted, tokenizer=uncased, top_k=3, label="crafted")
    (mask,) = result.masks
    top, *rest = mask.predictions
    assert (mask.position, top.token, top.piece, top.token_id) == (6, "mat", "mat", MAT)
    assert top.score == pytest.approx(math.exp(10) / (math.exp(10) + VOCAB_SIZE - 1), rel=EXACT)
    assert [p.score for p in rest] == pytest.approx([1 / (math.exp(10) + VOCAB_SIZE - 1)] * 2, rel=EXACT)
    assert result.completed == "the cat sat on the mat."
    assert result.tokens == ("[CLS]", "the", "cat", "sat", "on", "the", "[MASK]", ".", "[SEP]")
    assert (result.model, result.text, result.mask_token, result.notes) == ("crafted", SEED_MASKED, "[MASK]", ())


def test_crafted_head_fills_every_mask_independently(crafted, uncased):
    result = predict_masks(TWO_MASKS, model=crafted, tokenizer=uncased, top_k=1)
    assert [m.predictions[0].token for m in result.masks] == ["mat", "mat"]
    assert result.completed == "the mat sat on the mat."
    assert len(result.notes) == 1 and "2 masks: each is predicted independently" in result.notes[0]


def test_result_serializes_to_json(crafted, uncased):
    payload = json.loads(json.dumps(predict_masks(SEED_MASKED, model=crafted, tokenizer=uncased).to_dict()))
    assert payload["masks"][0]["predictions"][0]["token"] == "mat"
    assert payload["masks"][0]["position"] == 6 and len(payload["masks"][0]["predictions"]) == 5


def test_full_forward_path_gives_the_same_predictions(tiny):
    """An architecture whose vocabulary head isn't recognised runs the whole model: same numbers, only slower."""
    wrapped = FullForwardOnly(tiny.model).eval()
    fast = predict_masks(TWO_MASKS, model=tiny.model, tokenizer=tiny.tokenizer, top_k=5)
    slow = predict_masks(TWO_MASKS, model=wrapped, tokenizer=tiny.tokenizer, top_k=5)
    for a, b in zip(fast.masks, slow.masks):
        assert [p.token_id for p in a.predictions] == [p.token_id for p in b.predictions]
        assert [p.score for p in a.predictions] == pytest.approx([p.score for p in b.predictions], rel=1e-5)
    with pytest.raises(ModelUnavailable, match="layer by layer"):
        predictions_through_layers(SEED_MASKED, model=wrapped, tokenizer=tiny.tokenizer)


# --- Bad input --------------------------------------------------------------------------------------------------

def test_roberta_mask_given_to_bert_names_the_right_token(crafted, uncased):
    with pytest.raises(BadInput, match=r"<mask> is not this model's mask token: this model uses \[MASK\]"):
        predict_masks("The cat sat on the <mask>.", model=crafted, tokenizer=uncased)


def test_lowercase_mask_is_refused_not_read_as_three_pieces(crafted, uncased):
    with pytest.raises(BadInput, match=r"\[mask\] is not this model's mask token"):
        predict_masks("The cat sat on the [mask].", model=crafted, tokenizer=uncased)


@pytest.mark.parametrize("text", ["The cat sat on the mat.", "The cat sat on the MASK."])
def test_text_without_a_mask_is_refused(crafted, uncased, text):
    with pytest.raises(BadInput, match=r"Put at least one \[MASK\]"):
        predict_masks(text, model=crafted, tokenizer=uncased)


@pytest.mark.parametrize("text", ["", "   \n", None])
def test_empty_text_is_refused(crafted, uncased, text):
    with pytest.raises(BadInput, match="Text is empty"):
        predict_masks(text, model=crafted, tokenizer=uncased)


def test_more_masks_than_the_limit_are_refused(crafted, uncased):
    allowed = predict_masks(" ".join(["[MASK]"] * MAX_MASKS), model=crafted, tokenizer=uncased, top_k=1)
    assert len(allowed.masks) == MAX_MASKS == 8
    with pytest.raises(BadInput, match="9 masks: this tab predicts at most 8 at once"):
        predict_masks(" ".join(["[MASK]"] * 9), model=crafted, tokenizer=uncased)


def test_text_longer_than_the_model_reads_is_refused(crafted, uncased):
    with pytest.raises(BadInput, match="The text is 603 tokens; this model reads at most 512"):
        predict_masks("word " * 600 + "[MASK]", model=crafted, tokenizer=uncased)


@pytest.mark.parametrize("top_k", [0, 51, 2.5, "x", None, True, -1])
def test_bad_top_k_is_refused(crafted, uncased, top_k):
    with pytest.raises(BadInput, match="Top-k must be a whole number between 1 and 50"):
        predict_masks(SEED_MASKED, model=crafted, tokenizer=uncased, top_k=top_k)


@pytest.mark.parametrize("top_k, expected", [(1, 1), ("3", 3), (4.0, 4), (50, 50)])
def test_top_k_accepts_whole_numbers_in_any_form(crafted, uncased, top_k, expected):
    result = predict_masks(SEED_MASKED, model=crafted, tokenizer=uncased, top_k=top_k)
    assert len(result.masks[0].predictions) == expected


def test_newly_initialized_head_is_refused(cache, uncased):
    encoder = cache.load("tiny:encoder", Head.MASKED_LM)
    assert any(key.startswith("cls.predictions") for key in encoder.newly_initialized)
    with pytest.raises(ModelUnavailable, match="no trained masked-language-model head"):
        predict_masks(SEED_MASKED, model=encoder.model, tokenizer=encoder.tokenizer,
                      newly_initialized=encoder.newly_initialized)


def test_a_missing_pooler_alone_is_not_a_missing_head(crafted, uncased):
    result = predict_masks(SEED_MASKED, model=crafted, tokenizer=uncased,
                           newly_initialized=("bert.pooler.dense.bias", "bert.pooler.dense.weight"))
    assert result.masks[0].predictions[0].token == "mat"


# --- The model's own mask token ----------------------------------------------------------------------------------

def test_normalize_masks_rewrites_canonical_mask_to_the_models_own():
    angle = SimpleNamespace(mask_token="<mask>")
    assert normalize_masks("The [MASK] sat on the [MASK].", angle) == "The <mask> sat on the <mask>."
    assert normalize_masks("The <mask> sat.", angle) == "The <mask> sat."
    assert normalize_masks("The [MASK] sat on <mask>.", angle) == "The <mask> sat on <mask>."
    with pytest.raises(BadInput, match=r"\[mask\] is not this model's mask token: this model uses <mask>"):
        normalize_masks("The [mask] sat.", angle)
    with pytest.raises(BadInput, match=r"this model's mask token is <mask>"):
        normalize_masks("The cat sat.", angle)


def test_normalize_masks_leaves_bert_text_alone(uncased):
    assert normalize_masks("The [MASK] sat.", uncased) == "The [MASK] sat."


def test_model_with_its_own_mask_token(angle_tokenizer):
    model = fixed_mlm(MAT, vocab_size=VOCAB_SIZE + 1)
    canonical = predict_masks(SEED_MASKED, model=model, tokenizer=angle_tokenizer, top_k=2)
    own = predict_masks("The cat sat on the <mask>.", model=model, tokenizer=angle_tokenizer, top_k=2)
    assert canonical.text == own.text == "The cat sat on the <mask>."
    assert canonical.mask_token == "<mask>"
    assert canonical.tokens == ("[CLS]", "the", "cat", "sat", "on", "the", "<mask>", ".", "[SEP]")
    assert canonical.masks == own.masks
    top = canonical.masks[0].predictions[0]
    assert (canonical.masks[0].position, top.token_id) == (6, MAT)
    assert top.score == pytest.approx(one_hot_probability(10.0, VOCAB_SIZE + 1), rel=EXACT)
    assert canonical.completed == "the cat sat on the mat."
    assert any("mask token is <mask>; [MASK] was rewritten" in note for note in canonical.notes)


# --- iterative_fill -----------------------------------------------------------------------------------------------

def test_iterative_fill_takes_the_most_confident_mask_first_and_reruns(uncased):
    model = RuleMaskedLM(count_down, MASK_ID)
    text = "[MASK] [MASK] [MASK] four."
    result = iterative_fill(text, model=model, tokenizer=uncased)
    # Only the mask next to "four" is sure at first; each filled word makes its left neighbour sure.
    assert [s.position for s in result.steps] == [3, 2, 1]
    assert [s.prediction.token_id for s in result.steps] == [THREE, TWO, ONE]
    assert [s.prediction.score for s in result.steps] == pytest.approx(
        [one_hot_probability(10.0), one_hot_probability(9.0), one_hot_probability(8.0)], rel=EXACT)
    assert [s.text_after.count("[MASK]") for s in result.steps] == [2, 1, 0]
    assert "[MASK] [MASK] three four" in result.steps[0].text_after
    assert result.completed == "one two three four."
    assert model.forward_calls == 3  # one forward per step
    independent = predict_masks(text, model=model, tokenizer=uncased, top_k=1)
    assert independent.completed == "something something three four."


def test_iterative_fill_on_a_real_model_matches_direct_forwards(tiny):
    model, tokenizer = tiny.model, tiny.tokenizer
    result = iterative_fill(TWO_MASKS, model=model, tokenizer=tokenizer)
    assert len(result.steps) == 2 and "[MASK]" not in result.completed
    tops = [m.predictions[0] for m in predict_masks(TWO_MASKS, model=model, tokenizer=tokenizer, top_k=1).masks]
    first = max(zip((2, 6), tops), key=lambda pair: pair[1].score)
    assert result.steps[0].position == first[0]
    assert result.steps[0].prediction.token_id == first[1].token_id
    assert result.steps[0].prediction.score == pytest.approx(first[1].score, rel=1e-5)
    ids = token_ids(tokenizer, TWO_MASKS)
    ids[0, result.steps[0].position] = result.steps[0].prediction.token_id
    second = ({2, 6} - {result.steps[0].position}).pop()
    with torch.no_grad():
        probs = model(input_ids=ids).logits[0, second].softmax(-1)
    assert (result.steps[1].position, result.steps[1].prediction.token_id) == (second, int(probs.argmax()))
    assert result.steps[1].prediction.score == pytest.approx(float(probs.max()), rel=1e-5)


def test_iterative_fill_refuses_text_without_a_mask(crafted, uncased):
    with pytest.raises(BadInput, match="at least one"):
        iterative_fill("The cat sat.", model=crafted, tokenizer=uncased)


# --- compare_context ------------------------------------------------------------------------------------------------

def test_compare_context_cuts_the_text_at_the_mask(tiny):
    text = "The [MASK] sat on the [MASK] today."
    model, tokenizer = tiny.model, tiny.tokenizer
    result = compare_context(text, model=model, tokenizer=tokenizer, mask_index=1, top_k=4)
    assert result.left_text == "The [MASK] sat on the [MASK]"
    assert result.mask_index == 1
    assert result.both_sides == predict_masks(text, model=model, tokenizer=tokenizer, top_k=4).masks[1]
    assert result.left_only == predict_masks(result.left_text, model=model, tokenizer=tokenizer, top_k=4).masks[1]
    assert result.left_only != result.both_sides  # "today." changes the guesses
    first = compare_context(text, model=model, tokenizer=tokenizer, mask_index=0, top_k=4)
    assert first.left_text == "The [MASK]"
    assert first.left_only == predict_masks("The [MASK]", model=model, tokenizer=tokenizer, top_k=4).masks[0]


@pytest.mark.parametrize("mask_index, message", [(2, "There is no mask number 3; the text has 2"),
                                                 (-1, "Mask index must be a whole number between 0 and 7")])
def test_compare_context_refuses_a_missing_mask(crafted, uncased, mask_index, message):
    with pytest.raises(BadInput, match=message):
        compare_context(TWO_MASKS, model=crafted, tokenizer=uncased, mask_index=mask_index)


# --- predictions_through_layers ---------------------------------------------------------------------------------------

def test_layers_apply_the_head_to_every_hidden_state(tiny):
    model, tokenizer = tiny.model, tiny.tokenizer
    result = predictions_through_layers(TWO_MASKS, model=model, tokenizer=tokenizer, mask_index=1, top_k=3)
    assert len(result.layers) == model.config.num_hidden_layers + 1 == 3
    assert [step.layer for step in result.layers] == [0, 1, 2]
    with torch.no_grad():
        outputs = model(input_ids=token_ids(tokenizer, TWO_MASKS), output_hidden_states=True)
        per_layer = [model.cls(h[0, 6]).softmax(-1) for h in outputs.hidden_states]
    final_id = int(outputs.logits[0, 6].argmax())
    assert result.final_token == tokenizer.decode([final_id]).strip()
    for step, probs in zip(result.layers, per_layer):
        scores, ids = probs.topk(3)
        assert [p.token_id for p in step.top] == ids.tolist()
        assert [p.score for p in step.top] == pytest.approx(scores.tolist(), rel=1e-5)
        assert step.final_token_score == pytest.approx(float(probs[final_id]), rel=1e-5)
        assert step.final_token_rank == int((probs > probs[final_id]).sum()) + 1
    last = result.layers[-1]
    assert (last.top[0].token, last.top[0].token_id, last.final_token_rank) == (result.final_token, final_id, 1)
    top = predict_masks(TWO_MASKS, model=model, tokenizer=tokenizer, top_k=1).masks[1].predictions[0]
    assert (top.token_id, top.token) == (final_id, result.final_token)
    assert last.final_token_score == pytest.approx(top.score, rel=1e-5, abs=1e-6)


def test_layers_of_a_crafted_head_all_agree(crafted, uncased):
    result = predictions_through_layers(SEED_MASKED, model=crafted, tokenizer=uncased, top_k=2)
    assert result.final_token == "mat" and result.mask_index == 0
    for step in result.layers:
        assert (step.top[0].token_id, step.final_token_rank) == (MAT, 1)
        assert step.final_token_score == pytest.approx(one_hot_probability(10.0), rel=EXACT)


def test_layers_refuse_a_missing_mask(crafted, uncased):
    with pytest.raises(BadInput, match="There is no mask number 2; the text has 1"):
        predictions_through_layers(SEED_MASKED, model=crafted, tokenizer=uncased, mask_index=1)


# --- sentence_words / mask_word ---------------------------------------------------------------------------------------

ELON = "Elon Musk founded Tesla in California."


def test_sentence_words_group_pieces_into_words(uncased):
    assert sentence_words(ELON, tokenizer=uncased) == (
        Word(0, "Elon", 0, 4), Word(1, "Musk", 5, 9), Word(2, "founded", 10, 17), Word(3, "Tesla", 18, 23),
        Word(4, "in", 24, 26), Word(5, "California", 27, 37), Word(6, ".", 37, 38),
    )


@pytest.mark.parametrize("index, expected", [
    (1, "Elon [MASK] founded Tesla in California."),
    (0, "[MASK] Musk founded Tesla in California."),  # two pieces (el ##on), one mask
    (6, "Elon Musk founded Tesla in California[MASK]"),
    ("3", "Elon Musk founded [MASK] in California."),
])
def test_mask_word_replaces_one_word_with_one_mask(uncased, index, expected):
    assert mask_word(ELON, index, tokenizer=uncased) == expected


@pytest.mark.parametrize("index, message", [(7, "between 1 and 7"), (-1, "between 1 and 7"),
                                            ("x", "Pick a word"), (None, "Pick a word")])
def test_mask_word_refuses_a_missing_word(uncased, index, message):
    with pytest.raises(BadInput, match=message):
        mask_word(ELON, index, tokenizer=uncased)


def test_masked_word_feeds_prediction(crafted, uncased):
    result = predict_masks(mask_word(ELON, 1, tokenizer=uncased), model=crafted, tokenizer=uncased)
    assert result.completed == "elon mat founded tesla in california."


# --- masking_lab ----------------------------------------------------------------------------------------------------------

def lab(loaded, seed: int, probability: float = 0.5, sentence: str = LAB_SENTENCE):
    return masking_lab(sentence, model=loaded.model, tokenizer=loaded.tokenizer, seed=seed, probability=probability)


@pytest.fixture(scope="module")
def uniform(uncased):
    """A fake with all-zero logits (no encoder): draws many times faster than any BERT."""
    return SimpleNamespace(model=RuleMaskedLM(lambda ids, position: (MAT, 0.0), MASK_ID), tokenizer=uncased)


def test_lab_roles_are_consistent_with_the_corruption(tiny):
    roles_seen = Counter()
    for seed in range(8):
        result = lab(tiny, seed)
        assert len(result.tokens) == LAB_PIECES + 2
        assert [t.original for t in result.tokens] == tiny.tokenizer.convert_ids_to_tokens(
            token_ids(tiny.tokenizer, LAB_SENTENCE)[0].tolist())
        for token in result.tokens:
            roles_seen[token.role] += 1
            if token.role == "masked":
                assert token.corrupted == "[MASK]" != token.original
            elif token.role == "random":
                assert token.corrupted != token.original and token.corrupted != "[MASK]"
            else:
                assert token.corrupted == token.original
            scored = token.role in SELECTED_ROLES
            assert (token.loss is not None) == scored
            assert (token.prediction is not None) == (token.prediction_score is not None) == scored
            if scored:
                assert token.loss == pytest.approx(-math.log(token.original_score), rel=1e-5)
        assert result.counts == {role: sum(t.role == role for t in result.tokens) for role in SELECTED_ROLES}
        assert (result.seed, result.probability, result.notes) == (seed, 0.5, ())
    assert all(roles_seen[role] > 0 for role in (*SELECTED_ROLES, "not selected"))


@pytest.fixture(scope="module")
def draws(uniform):
    """200 seeded draws at rate 0.5 over the 29 pieces of LAB_SENTENCE."""
    return [lab(uniform, seed) for seed in range(200)]


def test_lab_never_selects_special_tokens(draws):
    for result in draws:
        tokens = result.tokens
        assert [t.index for t in tokens if t.role == "special"] == [0, LAB_PIECES + 1]
        assert (tokens[0].corrupted, tokens[-1].corrupted) == ("[CLS]", "[SEP]")


def test_lab_shares_follow_80_10_10(draws):
    """About 2,900 selected of 5,800 candidates.

    Binomial standard deviations: selected share sqrt(.5*.5/5800) = 0.0066; masked share sqrt(.8*.2/2900) = 0.0074;
    random and unchanged shares sqrt(.1*.9/2900) = 0.0056. The bounds are 6 (0.04, 0.035) to 8 (0.06) standard
    deviations wide: a correct draw fails by chance less than once in a hundred million runs, while a 70/15/15
    split, a 90/5/5 split or a 40% selection fails. (The draws are seeded, so this test is deterministic anyway.)
    """
    totals = Counter()
    for result in draws:
        totals.update(result.counts)
    selected = sum(totals.values())
    assert 0.46 <= selected / (len(draws) * LAB_PIECES) <= 0.54
    assert 0.74 <= totals["masked"] / selected <= 0.86
    assert 0.065 <= totals["random"] / selected <= 0.135
    assert 0.065 <= totals["unchanged"] / selected <= 0.135


def test_lab_loss_is_the_models_own_mlm_loss(tiny):
    model, tokenizer = tiny.model, tiny.tokenizer
    result = lab(tiny, seed=5)
    encoding = tokenizer(LAB_SENTENCE, return_tensors="pt", return_special_tokens_mask=True)
    corrupted, labels = corrupt(encoding["input_ids"], encoding["special_tokens_mask"], tokenizer=tokenizer, seed=5,
                                probability=0.5)
    assert tokenizer.convert_ids_to_tokens(corrupted[0].tolist()) == [t.corrupted for t in result.tokens]
    selected = (labels[0] != -100).nonzero().flatten().tolist()
    assert selected == [t.index for t in result.tokens if t.role in SELECTED_ROLES]
    with torch.no_grad():
        outputs = model(input_ids=corrupted, labels=labels)
    assert result.mean_loss == pytest.approx(float(outputs.loss), abs=1e-5)
    log_probs = outputs.logits[0].log_softmax(-1)
    original = encoding["input_ids"][0]
    for i in selected:
        token = result.tokens[i]
        assert token.loss == pytest.approx(-float(log_probs[i, original[i]]), abs=1e-5)
        assert token.prediction == tokenizer.decode([int(log_probs[i].argmax())]).strip()
        assert token.prediction_score == pytest.approx(float(log_probs[i].exp().max()), rel=1e-5)


def test_lab_same_seed_gives_the_same_draw_whatever_the_global_rng(uniform):
    torch.manual_seed(1)
    first = lab(uniform, 7)
    torch.manual_seed(2)
    assert lab(uniform, 7) == first
    torch.manual_seed(3)
    encoding = uniform.tokenizer(LAB_SENTENCE, return_tensors="pt", return_special_tokens_mask=True)
    corrupted, _ = corrupt(encoding["input_ids"], encoding["special_tokens_mask"], tokenizer=uniform.tokenizer,
                           seed=7, probability=0.5)
    assert uniform.tokenizer.convert_ids_to_tokens(corrupted[0].tolist()) == [t.corrupted for t in first.tokens]


def test_lab_different_seeds_give_different_draws(draws):
    first = [t.corrupted for t in draws[0].tokens]
    assert all([t.corrupted for t in result.tokens] != first for result in draws[1:5])


def test_lab_without_a_selection_says_so(tiny, monkeypatch):
    monkeypatch.setattr(lab_module, "corrupt", lambda ids, special, **_: (ids.clone(), torch.full_like(ids, -100)))
    result = masking_lab("Hi there.", model=tiny.model, tokenizer=tiny.tokenizer, seed=7, probability=0.05)
    assert result.mean_loss is None
    assert result.counts == {"masked": 0, "random": 0, "unchanged": 0}
    assert [t.role for t in result.tokens] == ["special", "not selected", "not selected", "not selected", "special"]
    assert len(result.notes) == 1 and "No token was selected with seed 7 at rate 0.05" in result.notes[0]


@pytest.mark.parametrize("seed", [-1, 2**31, 1.5, "x", None])
def test_lab_refuses_a_bad_seed(tiny, seed):
    with pytest.raises(BadInput, match="Seed must be a whole number between 0 and 2147483647"):
        lab(tiny, seed)


@pytest.mark.parametrize("probability, message", [
    (0.01, "between 0.05 and 0.5"), (0.51, "between 0.05 and 0.5"), (float("nan"), "between 0.05 and 0.5"),
    ("x", "must be a number"), (None, "must be a number"),
])
def test_lab_refuses_a_bad_rate(tiny, probability, message):
    with pytest.raises(BadInput, match=message):
        lab(tiny, 0, probability)


def test_lab_refuses_an_over_long_sentence(tiny):
    with pytest.raises(BadInput, match="The sentence is 602 tokens; this model reads at most 512"):
        lab(tiny, 0, sentence="word " * 600)


def test_lab_result_serializes_to_json(tiny):
    payload = json.loads(json.dumps(lab(tiny, 3).to_dict()))
    assert payload["tokens"][0] == {"index": 0, "original": "[CLS]", "corrupted": "[CLS]", "role": "special",
                                    "prediction": None, "prediction_score": None, "original_score": None,
                                    "loss": None}
    assert payload["probability"] == 0.5 and payload["seed"] == 3


def test_lab_reads_typed_special_tokens_as_text(cache):
    from bertviz_ui.registry import Head
    from bertviz_ui.tasks.fill_mask import masking_lab

    loaded = cache.load("tiny:masked_lm", Head.MASKED_LM)
    result = masking_lab("A [MASK] and a [SEP] typed here.", model=loaded.model, tokenizer=loaded.tokenizer, seed=0)
    assert [t.original for t in result.tokens][2:5] == ["[", "mask", "]"]
    assert [t.role for t in result.tokens].count("special") == 2


@pytest.mark.parametrize("mask_index", ["x", 1.5, -1])
def test_bad_mask_index_is_bad_input(cache, mask_index):
    from bertviz_ui.registry import Head
    from bertviz_ui.tasks.fill_mask import compare_context, predictions_through_layers

    loaded = cache.load("tiny:masked_lm", Head.MASKED_LM)
    for function in (compare_context, predictions_through_layers):
        with pytest.raises(BadInput, match="Mask index"):
            function("The [MASK] sat.", model=loaded.model, tokenizer=loaded.tokenizer, mask_index=mask_index)


def test_last_layer_shortcut_equals_the_full_forward(cache):
    from bertviz_ui.models.anatomy import bert_last_layer_at
    from bertviz_ui.tasks.fill_mask import mask_logits

    loaded = cache.load("tiny:masked_lm", Head.MASKED_LM)
    model, tokenizer = loaded.model, loaded.tokenizer
    encoding = tokenizer("The cat [MASK] on the [MASK] today.", "A pair [MASK] too.", return_tensors="pt")
    positions = [(0, 3), (0, 6), (0, 12)]
    assert bert_last_layer_at(model, encoding, positions) is not None  # the shortcut applies
    fast, _ = mask_logits(model, encoding, positions)
    with torch.inference_mode():
        full = model(**encoding).logits[0, [3, 6, 12]]
    assert torch.allclose(fast, full, atol=1e-5, rtol=0)


def test_last_layer_shortcut_steps_aside_for_padded_batches(cache):
    from bertviz_ui.models.anatomy import bert_last_layer_at

    loaded = cache.load("tiny:masked_lm", Head.MASKED_LM)
    encoding = loaded.tokenizer(["The [MASK] sat.", "A longer [MASK] sentence here."], padding=True,
                                return_tensors="pt")
    assert bert_last_layer_at(loaded.model, encoding, [(0, 2), (1, 3)]) is None


# --- Budgets ------------------------------------------------------------------------------------------------------

def test_masked_words_over_budget_are_refused_up_front(tiny):
    text = "The cat [MASK] on the [MASK]."  # 9 tokens, 2 masks
    shape = shape_of(tiny.model)
    one = forward_flops(shape, 9) + vocabulary_flops(shape, 2)
    budget = Budget(gflop=1.01 * one / 1e9)
    assert len(predict_masks(text, model=tiny.model, tokenizer=tiny.tokenizer, budget=budget).masks) == 2
    # The iterative fill runs one forward per mask: twice the work.
    with pytest.raises(OverBudget, match=r"^Filling the masks one at a time \(2 forward pass\(es\) over 9 tokens "
                                         r"with this model\) would take .* Use a shorter text, fewer masks or a "
                                         r"smaller model\.$"):
        iterative_fill(text, model=tiny.model, tokenizer=tiny.tokenizer, budget=budget)
    with pytest.raises(OverBudget, match="^Predicting the masks"):
        predict_masks(text, model=tiny.model, tokenizer=tiny.tokenizer, budget=Budget(gflop=0.99 * one / 1e9))
    with pytest.raises(OverBudget, match="^Scoring the masked sentence"):
        masking_lab("The cat sat on the mat.", model=tiny.model, tokenizer=tiny.tokenizer, budget=budget)
