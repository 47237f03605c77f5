"""Next sentence: the NSP head's probabilities against a direct forward, crafted heads, and paragraph scoring."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.registry import Head
from bertviz_ui.tasks.budget import Budget, OverBudget, forward_flops, shape_of
from bertviz_ui.tasks.nsp import MAX_SENTENCES, predict_next_sentence, score_paragraph, split_sentences
from tests.unit.crafted import RuleNsp, fixed_nsp

TUTORIAL_A, TUTORIAL_B = "The cat sat on the mat.", "It was a lazy afternoon."
SEED_PAIR_TOKENS = ('[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]',
                    'it', 'was', 'a', 'lazy', 'afternoon', '.', '[SEP]')
# Four sentences of different lengths, so the batch of pairs is padded.
PARAGRAPH = ("The cat sat on the mat. It was a lazy afternoon. The sun was warm and bright over the quiet little "
             "town by the river. Then it rained.")
SENTENCES = ("The cat sat on the mat.", "It was a lazy afternoon.",
             "The sun was warm and bright over the quiet little town by the river.", "Then it rained.")
# Sentences start with one < two < three < four < five < six in bert-base-uncased ids (2028 ... 2416).
COUNTING = ("One cat sat down. Two dogs ran off. Three birds flew by. Four fish swam away. Five frogs hopped in. "
            "Six bees buzzed.")


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.fixture(scope="module")
def tiny(cache):
    return cache.load("tiny:next_sentence", Head.NEXT_SENTENCE)


@pytest.fixture(scope="module")
def sharp(tiny):
    """The tiny checkpoint with its NSP weights scaled by 300.

    Its own logits are about 0.01 apart, which any tolerance hides; scaled, the probabilities spread over
    0.8-0.84 and ignoring the attention mask of a padded batch moves them by about 1e-3.
    """
    model = copy.deepcopy(tiny.model)
    with torch.no_grad():
        model.cls.seq_relationship.weight.mul_(300)
    return model.eval()


def direct(model, tokenizer, a: str, b: str) -> tuple[list[float], list[float]]:
    with torch.no_grad():
        logits = model(**tokenizer.unwrapped(a, b, return_tensors="pt")).logits
    return logits[0].tolist(), logits.softmax(-1)[0].tolist()


# --- predict_next_sentence ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["tiny", "sharp"])
def test_probabilities_equal_a_direct_forward(tiny, sharp, which):
    model = tiny.model if which == "tiny" else sharp
    result = predict_next_sentence(TUTORIAL_A, TUTORIAL_B, model=model, tokenizer=tiny.tokenizer)
    logits, probs = direct(model, tiny.tokenizer, TUTORIAL_A, TUTORIAL_B)
    assert list(result.logits) == pytest.approx(logits, abs=1e-6)
    assert [result.is_next, result.not_next] == pytest.approx(probs, abs=1e-6)


def test_seed_pair_tokens_and_segments(tiny):
    result = predict_next_sentence(TUTORIAL_A, TUTORIAL_B, model=tiny.model, tokenizer=tiny.tokenizer, label="tiny")
    assert result.tokens == SEED_PAIR_TOKENS
    assert result.token_type_ids == (0,) * 9 + (1,) * 7
    assert (result.model, result.sentence_a, result.sentence_b) == ("tiny", TUTORIAL_A, TUTORIAL_B)


@pytest.mark.parametrize("is_next_logit, not_next_logit", [(2.0, -1.0), (-0.5, 1.5), (0.0, 0.0)])
def test_crafted_head_gives_softmax_of_its_logits(uncased, is_next_logit, not_next_logit):
    result = predict_next_sentence(TUTORIAL_A, TUTORIAL_B, model=fixed_nsp(is_next_logit, not_next_logit), tokenizer=uncased)
    assert result.logits == pytest.approx((is_next_logit, not_next_logit), abs=1e-6)
    assert result.is_next == pytest.approx(sigmoid(is_next_logit - not_next_logit), abs=1e-6)
    assert result.not_next == pytest.approx(sigmoid(not_next_logit - is_next_logit), abs=1e-6)


def test_result_serializes_to_json(uncased):
    payload = json.loads(json.dumps(predict_next_sentence(TUTORIAL_A, TUTORIAL_B, model=fixed_nsp(2.0, -1.0),
                                                          tokenizer=uncased).to_dict()))
    assert payload["is_next"] == pytest.approx(sigmoid(3.0), abs=1e-6)
    assert payload["token_type_ids"] == [0] * 9 + [1] * 7


@pytest.mark.parametrize("sentence_b", ["", "   ", None])
def test_empty_sentence_b_is_refused(tiny, sentence_b):
    with pytest.raises(BadInput, match="Sentence B is empty"):
        predict_next_sentence(TUTORIAL_A, sentence_b, model=tiny.model, tokenizer=tiny.tokenizer)


def test_empty_sentence_a_is_refused(tiny):
    with pytest.raises(BadInput, match="Sentence A is empty"):
        predict_next_sentence(" ", TUTORIAL_B, model=tiny.model, tokenizer=tiny.tokenizer)


def test_over_long_pair_is_refused(tiny):
    with pytest.raises(BadInput, match="A sentence pair is 603 tokens together; this model reads at most 512"):
        predict_next_sentence("word " * 300, "word " * 300, model=tiny.model, tokenizer=tiny.tokenizer)


def test_newly_initialized_head_is_refused_naming_roberta(cache):
    encoder = cache.load("tiny:encoder", Head.NEXT_SENTENCE)
    assert "cls.seq_relationship.weight" in encoder.newly_initialized
    with pytest.raises(ModelUnavailable, match="no trained next-sentence-prediction head.*RoBERTa"):
        predict_next_sentence(TUTORIAL_A, TUTORIAL_B, model=encoder.model, tokenizer=encoder.tokenizer,
                              newly_initialized=encoder.newly_initialized)
    with pytest.raises(ModelUnavailable, match="RoBERTa"):
        score_paragraph(PARAGRAPH, model=encoder.model, tokenizer=encoder.tokenizer,
                        newly_initialized=encoder.newly_initialized)


# --- score_paragraph ------------------------------------------------------------------------------------------------

def test_paragraph_is_split_by_spacy():
    assert split_sentences(PARAGRAPH) == SENTENCES
    assert split_sentences("  One.  Two!   Three? ") == ("One.", "Two!", "Three?")


def test_paragraph_pairs_are_consecutive_then_shuffled(tiny):
    result = score_paragraph(PARAGRAPH, model=tiny.model, tokenizer=tiny.tokenizer, seed=0, label="tiny")
    assert result.sentences == SENTENCES and (result.seed, result.model) == (0, "tiny")
    pairs = [(p.first, p.second, p.actually_next) for p in result.pairs]
    assert pairs[:3] == [(0, 1, True), (1, 2, True), (2, 3, True)]
    assert [first for first, _, _ in pairs[3:]] == [0, 1, 2]
    for first, second, actually_next in pairs[3:]:
        assert not actually_next and second not in (first, first + 1) and 0 <= second < 4


def test_shuffled_pairs_never_follow_for_any_seed(tiny):
    for seed in range(20):
        for pair in score_paragraph(COUNTING, model=RuleNsp(), tokenizer=tiny.tokenizer, seed=seed).pairs:
            assert pair.actually_next == (pair.second == pair.first + 1)


def test_batched_pairs_equal_single_predictions(tiny, sharp):
    """The pairs go through one padded batch: padding must not change a pair's probabilities."""
    result = score_paragraph(PARAGRAPH, model=sharp, tokenizer=tiny.tokenizer, seed=3)
    lengths = {len(tiny.tokenizer(SENTENCES[p.first], SENTENCES[p.second])["input_ids"]) for p in result.pairs}
    assert len(lengths) > 1  # the batch really is padded
    is_next = [p.is_next for p in result.pairs]
    assert max(is_next) - min(is_next) > 1e-3  # the pairs really score differently
    for pair in result.pairs:
        single = predict_next_sentence(SENTENCES[pair.first], SENTENCES[pair.second], model=sharp,
                                       tokenizer=tiny.tokenizer)
        assert (pair.is_next, pair.not_next) == pytest.approx((single.is_next, single.not_next), abs=1e-5)


def test_same_seed_same_pairs_other_seeds_differ(tiny):
    def shuffled(seed: int) -> list[tuple[int, int]]:
        result = score_paragraph(COUNTING, model=tiny.model, tokenizer=tiny.tokenizer, seed=seed)
        return [(p.first, p.second) for p in result.pairs if not p.actually_next]

    assert shuffled(4) == shuffled(4)
    assert any(shuffled(seed) != shuffled(4) for seed in range(5))


@pytest.mark.parametrize("is_next_logit, not_next_logit", [(3.0, 0.0), (0.0, 3.0)])
def test_constant_head_is_right_on_half_the_pairs(uncased, is_next_logit, not_next_logit):
    result = score_paragraph(PARAGRAPH, model=fixed_nsp(is_next_logit, not_next_logit), tokenizer=uncased)
    assert len(result.pairs) == 6
    assert result.accuracy == 0.5
    for pair in result.pairs:
        assert pair.is_next == pytest.approx(sigmoid(is_next_logit - not_next_logit), abs=1e-6)


def test_accuracy_counts_each_pair_against_the_truth(uncased):
    """The fake says IsNext iff B's first word counts higher than A's: right on every consecutive pair and on
    every shuffled pair that goes backwards, wrong on shuffled pairs that skip forward."""
    for seed in range(6):
        result = score_paragraph(COUNTING, model=RuleNsp(), tokenizer=uncased, seed=seed)
        assert len(result.pairs) == 10
        backwards = sum(1 for p in result.pairs if p.second < p.first)
        assert result.accuracy == pytest.approx((5 + backwards) / 10)
        for pair in result.pairs:
            assert pair.is_next == pytest.approx(sigmoid(4.0) if pair.second > pair.first else sigmoid(-4.0),
                                                 abs=1e-6)


def test_paragraph_result_serializes_to_json(uncased):
    payload = json.loads(json.dumps(score_paragraph(PARAGRAPH, model=fixed_nsp(3.0, 0.0), tokenizer=uncased).to_dict()))
    assert payload["sentences"] == list(SENTENCES) and payload["accuracy"] == 0.5
    assert payload["pairs"][0] == {"first": 0, "second": 1, "actually_next": True,
                                   "is_next": pytest.approx(sigmoid(3.0)), "not_next": pytest.approx(sigmoid(-3.0))}


def test_one_sentence_is_refused(tiny):
    with pytest.raises(BadInput, match="at least two sentences"):
        score_paragraph("Just one sentence here.", model=tiny.model, tokenizer=tiny.tokenizer)


def test_sentence_limit(uncased):
    many = " ".join(f"This is sentence {n}." for n in range(1, MAX_SENTENCES + 2))
    with pytest.raises(BadInput, match="The paragraph has 25 sentences; this tab scores at most 24"):
        score_paragraph(many, model=fixed_nsp(1.0, 0.0), tokenizer=uncased)
    allowed = " ".join(f"This is sentence {n}." for n in range(1, MAX_SENTENCES + 1))
    result = score_paragraph(allowed, model=fixed_nsp(1.0, 0.0), tokenizer=uncased)
    assert len(result.sentences) == MAX_SENTENCES and len(result.pairs) == 2 * (MAX_SENTENCES - 1)


@pytest.mark.parametrize("paragraph", ["", "  \n ", None])
def test_empty_paragraph_is_refused(tiny, paragraph):
    with pytest.raises(BadInput, match="Paragraph is empty"):
        score_paragraph(paragraph, model=tiny.model, tokenizer=tiny.tokenizer)


@pytest.mark.parametrize("seed", [-1, 2**31, 0.5, "x"])
def test_bad_seed_is_refused(tiny, seed):
    with pytest.raises(BadInput, match="Seed must be a whole number"):
        score_paragraph(PARAGRAPH, model=tiny.model, tokenizer=tiny.tokenizer, seed=seed)


def test_two_sentences_still_get_a_not_next_pair(uncased):
    result = score_paragraph("The cat sat on the mat. It was a lazy afternoon.", model=fixed_nsp(3.0, 0.0),
                             tokenizer=uncased)
    assert sum(not p.actually_next for p in result.pairs) == sum(p.actually_next for p in result.pairs) == 1
    assert result.accuracy == 0.5


def test_over_long_pair_in_a_paragraph_is_not_silently_truncated(tiny):
    long_a, long_b = "The " + "cat " * 300 + "sat.", "A " + "dog " * 300 + "ran."
    with pytest.raises(BadInput, match="at most 512"):
        predict_next_sentence(long_a, long_b, model=tiny.model, tokenizer=tiny.tokenizer)
    with pytest.raises(BadInput, match="at most 512"):
        score_paragraph(f"{long_a} {long_b}", model=tiny.model, tokenizer=tiny.tokenizer)


# --- Budgets ------------------------------------------------------------------------------------------------------

def test_a_paragraph_over_budget_is_refused_up_front(sharp, tiny):
    # PARAGRAPH: 6 pairs, the longest 25 tokens; one batch padded to it.
    cost = forward_flops(shape_of(sharp), 25, 6)
    assert len(score_paragraph(PARAGRAPH, model=sharp, tokenizer=tiny.tokenizer,
                               budget=Budget(gflop=cost * 1.001 / 1e9)).pairs) == 6
    with pytest.raises(OverBudget, match=r"^Scoring 6 sentence pairs of up to 25 tokens would take .* At most about "
                                         r"2 sentences of this length fit one request"):
        # Half the work: 3 of the 6 pairs, the pairs of about 2 sentences.
        score_paragraph(PARAGRAPH, model=sharp, tokenizer=tiny.tokenizer, budget=Budget(gflop=cost * 0.5 / 1e9))


def test_pairs_run_in_batches_that_fit_memory_with_the_same_probabilities(sharp, tiny):
    shapes = []
    handle = sharp.register_forward_pre_hook(lambda module, args, kwargs: shapes.append(
        tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        batched = score_paragraph(PARAGRAPH, model=sharp, tokenizer=tiny.tokenizer, seed=3,
                                  budget=Budget(memory_gb=1e-9))
    finally:
        handle.remove()
    whole = score_paragraph(PARAGRAPH, model=sharp, tokenizer=tiny.tokenizer, seed=3)
    assert len(shapes) == 6 and all(rows == 1 for rows, _ in shapes)  # one pair per forward, unpadded
    assert [(p.first, p.second) for p in batched.pairs] == [(p.first, p.second) for p in whole.pairs]
    assert max(p.is_next for p in whole.pairs) - min(p.is_next for p in whole.pairs) > 1e-3
    assert [p.is_next for p in batched.pairs] == pytest.approx([p.is_next for p in whole.pairs], abs=1e-6)
