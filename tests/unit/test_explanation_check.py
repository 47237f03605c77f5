"""The explanation check: a crafted model whose one keyword decides the prediction (so the right ranking and curves are
known), p0 against transformers' pipelines, the batched deletion forward against one forward per version, attention
and rollout against the model's own attentions, determinism, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from transformers import pipeline
from transformers.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput

from bertviz_ui.errors import BadInput
from bertviz_ui.registry import Head
from bertviz_ui.tasks.budget import Budget, OverBudget
from bertviz_ui.tasks.explanation_check import (
    MAX_WORDS,
    METHODS,
    RANDOM,
    RANDOM_ORDERS,
    SEED,
    aopc,
    check_explanations,
    check_request,
    points_of,
)
from bertviz_ui.tasks.pieces import groups, merge_scores
from bertviz_ui.tasks.rollout import rollout
from tests.unit.crafted import VOCAB_SIZE, scaled_copy, tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")

LABELS = ("NEGATIVE", "POSITIVE")
KEYWORD_LOGIT = 4.0
# "i really loved the long film": the keyword is "loved"; the crafted attention looks at "really" and never at it.
REVIEW = "I really loved the long film"
PARIS = "The [MASK] of France is Paris"


class KeywordModel(nn.Module):
    """A bag of words whose one keyword decides: every token's 2-number embedding is zero but the keyword's (0, 1), and
    the logits are KEYWORD_LOGIT times the summed second numbers, for one class (sentiment) or one vocabulary token at
    every position (fill_mask). Its attention, in every layer and head, puts 0.9 on ``distractor`` and none on the
    keyword: attention and rollout must rank the keyword last, while gradients rank it first (its score is exactly
    KEYWORD_LOGIT for both gradient methods, every other word's exactly 0).
    """

    def __init__(self, keyword: int, distractor: int, *, target: int = 1, masked_lm: bool = False):
        super().__init__()
        self.config = tiny_config()
        self.config.id2label, self.config.label2id = dict(enumerate(LABELS)), {n: i for i, n in enumerate(LABELS)}
        self.keyword, self.distractor, self.masked_lm = keyword, distractor, masked_lm
        self.embeddings = nn.Embedding(VOCAB_SIZE, 2)
        outputs = VOCAB_SIZE if masked_lm else len(LABELS)
        self.out = nn.Linear(2, outputs, bias=False)
        with torch.no_grad():
            self.embeddings.weight.zero_()
            self.embeddings.weight[keyword, 1] = 1.0
            self.out.weight.zero_()
            self.out.weight[target, 1] = KEYWORD_LOGIT
        self.calls = 0

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None,
                output_attentions=False, output_hidden_states=False):
        self.calls += 1
        x = self.embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        total = x.sum(dim=1)  # [batch, 2]
        batch, length = x.shape[:2]
        attentions = None
        if output_attentions:
            ids = input_ids if input_ids is not None else torch.zeros(batch, length, dtype=torch.long)
            weights = torch.full((batch, 2, length, length), 0.1 / max(1, length - 2))
            weights[:, :, :, self.distractor] = 0.9
            for row in range(batch):
                weights[row, :, :, ids[row] == self.keyword] = 0.0
            weights = weights / weights.sum(-1, keepdim=True)
            attentions = (weights, weights)
        logits = self.out(total)
        if self.masked_lm:
            return MaskedLMOutput(logits=logits[:, None, :].expand(batch, length, -1), attentions=attentions)
        return SequenceClassifierOutput(logits=logits, attentions=attentions)


def softmax_of(logit: float, others: int) -> float:
    """The probability of the one logit ``logit`` among ``others`` zeros."""
    return math.exp(logit) / (math.exp(logit) + others)


@pytest.fixture(scope="module")
def tiny_classifier(cache):
    return cache.load("tiny:sequence_classification", Head.SEQUENCE_CLASSIFICATION, attentions=True)


@pytest.fixture(scope="module")
def sharp(tiny_classifier):
    """The tiny classifier with its last layer scaled by 100: probabilities spread (0.62-0.63), not all 0.5013."""
    return scaled_copy(tiny_classifier.model, "classifier", 100)


@pytest.fixture(scope="module")
def tiny_mlm(cache):
    return cache.load("tiny:masked_lm", Head.MASKED_LM, attentions=True)


def keyword_model(uncased, text: str, keyword: str, distractor: str, **kwargs) -> KeywordModel:
    tokens = uncased.convert_ids_to_tokens(uncased(text)["input_ids"])
    return KeywordModel(uncased.convert_tokens_to_ids(keyword), tokens.index(distractor), **kwargs)


# --- The crafted model: the right answer is known ---------------------------------------------------------------

def test_the_keyword_ranks_first_by_gradients_and_its_deletion_drops_the_curve_at_once(uncased):
    model = keyword_model(uncased, REVIEW, "loved", "really")
    result = check_explanations("sentiment", REVIEW, model=model, tokenizer=uncased, steps=8)
    words = [w.text for w in result.words]
    assert words == ["I", "really", "loved", "the", "long", "film"]
    assert result.target == "POSITIVE" and result.p0 == pytest.approx(softmax_of(KEYWORD_LOGIT, 1), abs=1e-6)
    for method in ("integrated_gradients", "gradient_x_input"):
        assert result.scores[method] == pytest.approx((0, 0, KEYWORD_LOGIT, 0, 0, 0), abs=1e-6)
        assert result.curves[method][1:] == pytest.approx([0.5] * 6, abs=1e-6)  # the keyword went first
    # Attention looks at "really" and never at "loved": the keyword is deleted last.
    assert words[int(np.argmax(result.scores["attention"]))] == "really"
    assert result.scores["attention"][2] == 0 and result.scores["rollout"][2] == 0
    assert result.curves["attention"][1:] == pytest.approx([result.p0] * 5 + [0.5], abs=1e-6)
    assert result.removed == (0, 1, 2, 3, 4, 5, 6)
    assert result.aopc["integrated_gradients"] == pytest.approx(result.p0 - 0.5, abs=1e-6)
    assert result.aopc["attention"] == pytest.approx((result.p0 - 0.5) / 6, abs=1e-6)
    assert result.aopc["integrated_gradients"] > result.aopc[RANDOM] > result.aopc["attention"]
    assert result.ranking[-1] in ("attention", "rollout") and result.ranking[0] in ("integrated_gradients",
                                                                                     "gradient_x_input")


def test_the_random_baseline_is_the_mean_of_seeded_orders(uncased):
    model = keyword_model(uncased, REVIEW, "loved", "really")
    result = check_explanations("sentiment", REVIEW, model=model, tokenizer=uncased, steps=4)
    rng = np.random.default_rng(SEED)
    # With the keyword at word 2, a random order's curve is p0 until the keyword goes, then 0.5.
    curves = []
    for _ in range(RANDOM_ORDERS):
        where = list(rng.permutation(6)).index(2) + 1
        curves.append([result.p0 if k < where else 0.5 for k in range(1, 7)])
    assert result.curves[RANDOM][1:] == pytest.approx(np.mean(curves, axis=0).tolist(), abs=1e-6)


def test_masked_words_keep_the_target_mask_and_read_the_same_token_there(uncased):
    capital = uncased.convert_tokens_to_ids("capital")
    model = keyword_model(uncased, PARIS, "paris", "france", target=capital, masked_lm=True)
    result = check_explanations("fill_mask", PARIS, model=model, tokenizer=uncased, steps=8)
    assert [w.text for w in result.words] == ["The", "of", "France", "is", "Paris"]  # the mask is never a candidate
    assert result.target == "capital" and result.target_id == capital and result.position == 2
    assert result.p0 == pytest.approx(softmax_of(KEYWORD_LOGIT, VOCAB_SIZE - 1), rel=1e-5)
    assert result.scores["integrated_gradients"] == pytest.approx((0, 0, 0, 0, KEYWORD_LOGIT), abs=1e-6)
    assert result.curves["integrated_gradients"][1:] == pytest.approx([1 / VOCAB_SIZE] * 5, rel=1e-5)
    assert result.aopc["gradient_x_input"] > result.aopc[RANDOM] > result.aopc["rollout"]
    assert result.read_from == "[MASK] (mask 1)" and any("[MASK] (mask 1)" in note for note in result.notes)


# --- Real (tiny) checkpoints against references -------------------------------------------------------------------

def test_p0_is_the_text_classification_pipelines_probability(sharp, tiny_classifier):
    tokenizer = tiny_classifier.tokenizer
    text = "The acting was superb but the plot made no sense."
    result = check_explanations("sentiment", text, model=sharp, tokenizer=tokenizer, steps=4)
    (found,) = pipeline("text-classification", model=sharp, tokenizer=tokenizer.unwrapped, top_k=None)([text])
    best = max(found, key=lambda d: d["score"])
    assert result.target == best["label"] and abs(result.p0 - best["score"]) < 1e-5
    assert all(curve[0] == result.p0 for curve in result.curves.values())


def test_p0_is_the_fill_mask_pipelines_top_score(tiny_mlm):
    text = "The cat [MASK] on the [MASK]."
    result = check_explanations("fill_mask", text, model=tiny_mlm.model, tokenizer=tiny_mlm.tokenizer, mask_number=2,
                                steps=4)
    found = pipeline("fill-mask", model=tiny_mlm.model, tokenizer=tiny_mlm.tokenizer.unwrapped, top_k=1)(text)
    top = found[1][0]
    assert result.target_id == top["token"] and result.position == 6
    assert result.p0 == pytest.approx(top["score"], rel=1e-4)  # probabilities of about 3e-5: compared relatively
    assert [w.text for w in result.words] == ["The", "cat", "on", "the", "."]  # neither mask is a candidate


def _version(ids: list[int], words, order, count: int, replacement: int) -> torch.Tensor:
    row = torch.tensor(ids)
    for unit in order[:count]:
        row[list(words[unit].tokens)] = replacement
    return row[None]


@pytest.mark.parametrize("task", ["sentiment", "fill_mask"])
def test_the_batched_deletion_forward_equals_one_forward_per_version(task, sharp, tiny_classifier, tiny_mlm):
    text = "Elon Musk [MASK] the whole plan was brilliant" if task == "fill_mask" else "Elon Musk said it was brilliant"
    model = sharp if task == "sentiment" else tiny_mlm.model
    tokenizer = tiny_classifier.tokenizer
    result = check_explanations(task, text, model=model, tokenizer=tokenizer, steps=4)
    encoding = tokenizer(text, return_tensors="pt")
    ids = encoding["input_ids"][0].tolist()
    rng = np.random.default_rng(SEED)
    randoms = [rng.permutation(len(result.words)) for _ in range(RANDOM_ORDERS)]

    def probability(row: torch.Tensor) -> float:
        with torch.no_grad():
            logits = model(input_ids=row, attention_mask=torch.ones_like(row),
                           token_type_ids=torch.zeros_like(row)).logits
        logits = logits[0, result.position] if task == "fill_mask" else logits[0]
        return float(logits.softmax(-1)[result.target_id])

    mask_id = tokenizer.mask_token_id
    for method in METHODS:
        order = np.argsort(-np.asarray(result.scores[method]), kind="stable")
        alone = [probability(_version(ids, result.words, order, k, mask_id)) for k in result.removed[1:]]
        assert result.curves[method][1:] == pytest.approx(alone, abs=1e-5, rel=1e-4)
    alone = np.mean([[probability(_version(ids, result.words, order, k, mask_id)) for k in result.removed[1:]]
                     for order in randoms], axis=0)
    assert result.curves[RANDOM][1:] == pytest.approx(alone.tolist(), abs=1e-5, rel=1e-4)
    assert result.deleted_versions == (len(METHODS) + RANDOM_ORDERS) * (len(result.removed) - 1)


@pytest.mark.parametrize("task", ["sentiment", "fill_mask"])
def test_attention_and_rollout_are_the_models_own_last_layer_rows(task, sharp, tiny_classifier, tiny_mlm):
    text = "Elon Musk [MASK] Tesla in California" if task == "fill_mask" else "Elon Musk founded Tesla in California"
    model = sharp if task == "sentiment" else tiny_mlm.model
    tokenizer = tiny_classifier.tokenizer
    result = check_explanations(task, text, model=model, tokenizer=tokenizer, steps=2)
    encoding = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        attentions = model(**encoding, output_attentions=True).attentions
    stacked = torch.stack([a[0] for a in attentions]).double().numpy()
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"][0].tolist())
    word_ids = [None if t in ("[CLS]", "[SEP]") else w for t, w in zip(tokens, encoding.word_ids())]
    grouping = groups(tokens, word_ids)
    kept = [u for u, label in enumerate(grouping.labels) if label not in ("[CLS]", "[SEP]", "[MASK]")]
    row = tokens.index("[MASK]") if task == "fill_mask" else 0
    assert result.position == row
    raw = merge_scores(stacked[-1].mean(axis=0)[row], grouping)[kept]
    rolled = merge_scores(rollout(stacked)[-1][row], grouping)[kept]
    assert result.scores["attention"] == pytest.approx(raw.tolist(), abs=1e-6)
    assert result.scores["rollout"] == pytest.approx(rolled.tolist(), abs=1e-6)
    assert [w.text for w in result.words][:2] == ["Elon", "Musk"]  # el ##on, mu ##sk: pieces summed into words


def test_the_same_request_gives_the_same_result(sharp, tiny_classifier):
    runs = [check_explanations("sentiment", "Not bad at all, quite fun really.", model=sharp,
                               tokenizer=tiny_classifier.tokenizer, steps=4).to_dict() for _ in range(2)]
    for run in runs:
        run.pop("seconds")
    assert runs[0] == runs[1]


def test_aopc_is_the_mean_drop_after_the_first_point(sharp, tiny_classifier):
    result = check_explanations("sentiment", "What a wonderful, moving film.", model=sharp,
                                tokenizer=tiny_classifier.tokenizer, steps=4)
    for name, curve in result.curves.items():
        assert result.aopc[name] == pytest.approx(np.mean([curve[0] - p for p in curve[1:]]))
    assert aopc(1.0, (1.0, 0.5, 0.0)) == 0.75
    assert list(result.ranking) == sorted(result.aopc, key=lambda name: -result.aopc[name])
    assert result.fractions[0] == 0 and result.fractions[-1] == 1


def test_points_cover_every_word_in_at_most_ten_steps():
    assert points_of(1) == (0, 1)
    assert points_of(6) == (0, 1, 2, 3, 4, 5, 6)
    assert points_of(64) == (0, 6, 13, 19, 26, 32, 38, 45, 51, 58, 64)


# --- Refusals, before any model runs ------------------------------------------------------------------------------

@pytest.mark.parametrize(("task", "text", "options", "message"), [
    ("nope", "Fine.", {}, "Task must be one of: sentiment, fill_mask"),
    ("sentiment", "   ", {}, "Text is empty"),
    ("sentiment", "x " * 1_500, {}, "up to 2,000"),
    ("sentiment", "Fine.", {"steps": 0}, "Steps must be a whole number between 1 and 256"),
    ("sentiment", "Fine.", {"steps": 2.5}, "Steps must be a whole number"),
    ("fill_mask", "No mask here.", {}, "Put a [MASK] in the text"),
    ("fill_mask", "One [MASK] only.", {"mask_number": 2}, "Mask number 2: the text has 1 mask"),
    ("fill_mask", "One [MASK] only.", {"mask_number": 0}, "Mask number must be a whole number between 1 and 8"),
    ("fill_mask", "[MASK]", {}, "at least one word besides the mask"),
    ("sentiment", "word " * (MAX_WORDS + 1), {}, f"takes up to {MAX_WORDS}"),
])
def test_bad_input_is_refused_before_the_model_runs(uncased, task, text, options, message):
    model = KeywordModel(uncased.convert_tokens_to_ids("loved"), 1)
    with pytest.raises(BadInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_explanations(task, text, model=model, tokenizer=uncased, **options)
    assert model.calls == 0


def test_a_request_over_budget_is_refused_before_the_model_runs_and_says_how_many_steps_fit(uncased, sharp):
    model = KeywordModel(uncased.convert_tokens_to_ids("loved"), 1)
    tiny_budget = Budget(gflop=0.05)
    with pytest.raises(OverBudget, match=r"integration steps .* would take") as caught:
        check_explanations("sentiment", REVIEW, model=sharp, tokenizer=uncased, steps=256, budget=tiny_budget)
    assert "Use at most" in str(caught.value)
    with pytest.raises(OverBudget):
        check_explanations("sentiment", REVIEW, model=model, tokenizer=uncased, budget=Budget(gflop=1e-9))
    assert model.calls == 0


def test_the_request_check_needs_no_model():
    request = check_request("fill_mask", "A [MASK] and a [MASK].", 2, "16")
    assert (request.task, request.mask_number, request.steps) == ("fill_mask", 2, 16)
    assert check_request(None, "Fine.").task == "sentiment"
