"""Sentiment: classify against the text-classification pipeline, integrated gradients against an independent
implementation and the completeness property, and the head's arithmetic against the model's own logits."""

from __future__ import annotations

import copy
import inspect
import json
import math

import pytest
import torch
from transformers import (
    DistilBertConfig,
    DistilBertForSequenceClassification,
    ElectraConfig,
    ElectraForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
    pipeline,
)

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.registry import Head
from bertviz_ui.tasks.budget import ACTIVATION_SHARE, Budget, OverBudget, activation_bytes, forward_flops, shape_of
from bertviz_ui.tasks.sentiment import (
    IG_CHUNK,
    LOW_CONFIDENCE,
    MAX_LINES,
    attribute,
    classify,
    inside_head,
    integrated_gradients_flops,
    most_steps,
)
from tests.unit.crafted import VOCAB_SIZE, fixed_classifier

LABELS = ("NEGATIVE", "POSITIVE")
LABEL_CONFIG = {"id2label": dict(enumerate(LABELS)), "label2id": {label: i for i, label in enumerate(LABELS)}}
# Five reviews of 5, 12, 3, 8 and 10 tokens with two blank lines among them: batches sorted by length are not in
# input order, and every batch of two is padded.
MIXED = ("I loved it\n\nterrible, awful movie and I want my money back\nok\n  \nElon Musk loved Tesla\n"
         "meh meh meh meh")
MIXED_LINES = ("I loved it", "terrible, awful movie and I want my money back", "ok", "Elon Musk loved Tesla",
               "meh meh meh meh")
MIXED_LENGTHS = (5, 12, 3, 8, 10)
# Words that split into pieces: el ##on / mu ##sk (bert-base-uncased).
ELON = "Elon Musk loved Tesla"
ELON_TOKENS = ("[CLS]", "el", "##on", "mu", "##sk", "loved", "tesla", "[SEP]")
ELON_WORDS = (("Elon", 0, 4), ("Musk", 5, 9), ("loved", 10, 15), ("Tesla", 16, 21))
PAD_ID = 0
LONG = "word " * 600  # 602 tokens with [CLS] and [SEP]
# Completeness at 64 midpoint steps on the sharpened model. The midpoint rule's error falls as 1/steps^2; at 8 steps
# it is about 3e-6 here (measured), so at 64 about 5e-8. What remains is float32 rounding: the logits are about 1.5
# (one ulp = 1.2e-7) and the sum runs over 8 tokens of 32-dim products, measured 2-3e-7. 1e-6 is four such floors and
# at most 0.13% of target_logit - baseline_logit (8e-4 to 7e-3 on the sharp BERT, DistilBERT and RoBERTa), which a
# wrong path, scale or baseline would miss by far more.
COMPLETENESS = 1e-6


def scaled(model, layer: str, factor: float):
    """A copy of ``model`` with the weight of the submodule at ``layer`` multiplied by ``factor``."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        model.get_submodule(layer).weight.mul_(factor)
    return model.eval()


def tiny_distilbert():
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=VOCAB_SIZE, dim=32, n_layers=2, n_heads=2, hidden_dim=64, **LABEL_CONFIG)
    return DistilBertForSequenceClassification(config).eval()


def tiny_roberta():
    """RoBERTa's architecture (position ids offset past padding_idx, a dense+tanh head) over BERT's ids."""
    torch.manual_seed(0)
    config = RobertaConfig(vocab_size=VOCAB_SIZE, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=514, pad_token_id=PAD_ID, bos_token_id=101,
                           eos_token_id=102, type_vocab_size=1, **LABEL_CONFIG)
    return RobertaForSequenceClassification(config).eval()



pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(cache):
    return cache.load("tiny:sequence_classification", Head.SEQUENCE_CLASSIFICATION)


@pytest.fixture(scope="module")
def models(tiny):
    """Every model under test, by name.

    The random heads' logits barely depend on the text (probabilities 0.5013 +- 1e-4), which any tolerance would
    hide; the "sharp" copies scale the final linear layer by 100, so probabilities spread over 0.62-0.63 and
    attributions are about 1e-3 per token.
    """
    distilbert, roberta = tiny_distilbert(), tiny_roberta()
    return {
        "bert": tiny.model,
        "bert_sharp": scaled(tiny.model, "classifier", 100),
        "distilbert": distilbert,
        "distilbert_sharp": scaled(distilbert, "classifier", 100),
        "roberta": roberta,
        "roberta_sharp": scaled(roberta, "classifier.out_proj", 100),
    }


def forward_kwargs(model, encoding) -> dict[str, torch.Tensor]:
    """The tensors of ``encoding`` that ``model.forward`` takes (DistilBERT has no token_type_ids)."""
    accepted = inspect.signature(model.forward).parameters
    return {k: v for k, v in encoding.items() if k in accepted}


def direct_logits(model, tokenizer, text: str) -> torch.Tensor:
    with torch.no_grad():
        return model(**forward_kwargs(model, tokenizer.unwrapped(text, return_tensors="pt"))).logits[0]


def pipeline_scores(model, tokenizer, lines, **kwargs) -> list[dict[str, float]]:
    classifier = pipeline("text-classification", model=model, tokenizer=tokenizer.unwrapped, top_k=None)
    return [{d["label"]: d["score"] for d in found} for found in classifier(list(lines), **kwargs)]


def word_embedding_scores(model, tokenizer, text: str, index: int, alphas: list[float]) -> torch.Tensor:
    """Per-token sum over ``alphas`` of grad(logit[index]) * (x - x0), through the model's input_ids path.

    Independent of the task code: the word-embedding layer's output is swapped by a forward hook for the
    interpolated point, so positions, token types and masks come from the model's own input_ids forward.
    """
    encoding = tokenizer.unwrapped(text, return_tensors="pt", return_special_tokens_mask=True)
    special = encoding.pop("special_tokens_mask")[0].bool()
    ids = encoding["input_ids"]
    baseline = torch.where(special, ids[0], torch.tensor(PAD_ID))[None]
    embeddings = model.get_input_embeddings()
    with torch.no_grad():
        x, x0 = embeddings(ids)[0], embeddings(baseline)[0]
    total = torch.zeros_like(x)
    for alpha in alphas:
        point = (x0 + alpha * (x - x0)).detach().requires_grad_(True)
        handle = embeddings.register_forward_hook(lambda module, args, output, point=point: point[None])
        try:
            logit = model(**forward_kwargs(model, encoding)).logits[0, index]
        finally:
            handle.remove()
        (grad,) = torch.autograd.grad(logit, point)
        total += grad
    return ((x - x0) * total).sum(-1)


def reference_integrated_gradients(model, tokenizer, text: str, index: int, steps: int) -> list[float]:
    alphas = [(k + 0.5) / steps for k in range(steps)]
    return (word_embedding_scores(model, tokenizer, text, index, alphas) / steps).tolist()


def reference_gradient_x_input(model, tokenizer, text: str, index: int) -> list[float]:
    """grad(logit[index]) wrt the word embeddings, times the embeddings, summed over the hidden dimension."""
    encoding = tokenizer.unwrapped(text, return_tensors="pt")
    embeddings = model.get_input_embeddings()
    captured = []

    def keep(module, args, output):
        output.retain_grad()
        captured.append(output)

    handle = embeddings.register_forward_hook(keep)
    try:
        model(**forward_kwargs(model, encoding)).logits[0, index].backward()
    finally:
        handle.remove()
    model.zero_grad(set_to_none=True)
    (x,) = captured
    return (x.grad * x).sum(-1)[0].tolist()


def softmax(logits: tuple[float, ...]) -> list[float]:
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    return [e / sum(exps) for e in exps]


# --- classify ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bert", "bert_sharp", "distilbert", "distilbert_sharp", "roberta",
                                  "roberta_sharp"])
def test_classify_equals_the_pipeline_for_every_class_of_every_line(models, uncased, name):
    model = models[name]
    result = classify(MIXED, model=model, tokenizer=uncased, batch_size=2)
    expected = pipeline_scores(model, uncased, MIXED_LINES)  # one line at a time: no padding
    assert tuple(row.text for row in result.rows) == MIXED_LINES
    for row, scores in zip(result.rows, expected):
        assert [s.label for s in row.scores] == list(LABELS)
        assert [s.score for s in row.scores] == pytest.approx([scores[label] for label in LABELS], abs=1e-5)
        assert (row.label, row.score) == max(((s.label, s.score) for s in row.scores), key=lambda s: s[1])


def test_sharp_models_spread_and_padding_would_show(models, uncased):
    """Guards the test above: its lines score differently, and a padded batch read without the attention mask
    moves them by far more than its 1e-5."""
    model = models["bert_sharp"]
    result = classify(MIXED, model=model, tokenizer=uncased, batch_size=2)
    negative = [row.scores[0].score for row in result.rows]
    assert max(negative) - min(negative) > 5e-3
    encoding = uncased.unwrapped(list(MIXED_LINES), padding=True, return_tensors="pt")
    with torch.no_grad():
        unmasked = model(input_ids=encoding["input_ids"], token_type_ids=encoding["token_type_ids"]).logits
    assert (unmasked.softmax(-1)[:, 0] - torch.tensor(negative)).abs().max() > 1e-4


def test_batches_run_sorted_by_length_and_rows_come_back_in_input_order(models, uncased):
    model = models["bert_sharp"]
    shapes = []
    handle = model.base_model.register_forward_pre_hook(lambda module, args, kwargs: shapes.append(
        tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        result = classify(MIXED, model=model, tokenizer=uncased, batch_size=2, label="tiny sharp")
    finally:
        handle.remove()
    # Sorted lengths 3, 5 | 8, 10 | 12: each group packed into one sequence, no padding.
    assert shapes == [(1, 8), (1, 18), (1, 12)]
    assert result.forward_passes == 3
    assert tuple(row.text for row in result.rows) == MIXED_LINES
    assert tuple(row.num_tokens for row in result.rows) == MIXED_LENGTHS
    assert not any(row.truncated for row in result.rows)
    assert result.skipped_empty_lines == 2
    assert result.model == "tiny sharp" and result.labels == LABELS
    assert result.notes == ("2 empty line(s) skipped.", "5 lines classified in 3 batched forward pass(es).")


@pytest.mark.parametrize("batch_size, passes", [(1, 5), (2, 3), (4, 2), (5, 1), (32, 1)])
def test_one_forward_pass_per_batch(models, uncased, batch_size, passes):
    result = classify(MIXED, model=models["bert_sharp"], tokenizer=uncased, batch_size=batch_size)
    assert result.forward_passes == passes
    reference = classify(MIXED, model=models["bert_sharp"], tokenizer=uncased, batch_size=1)
    for row, single in zip(result.rows, reference.rows):
        assert [s.score for s in row.scores] == pytest.approx([s.score for s in single.scores], abs=1e-6)


def test_crafted_head_gives_softmax_of_its_bias_in_config_order(uncased):
    labels = ("negative", "neutral", "positive")
    logits = (0.5, 2.0, -1.0)
    result = classify("good\nbad", model=fixed_classifier(logits, labels), tokenizer=uncased)
    assert result.labels == labels
    for row in result.rows:
        assert [s.label for s in row.scores] == list(labels)
        assert [s.score for s in row.scores] == pytest.approx(softmax(logits), abs=1e-6)
        assert row.label == "neutral" and row.score == pytest.approx(softmax(logits)[1], abs=1e-6)


@pytest.mark.parametrize("probability, low", [(LOW_CONFIDENCE - 0.01, True), (LOW_CONFIDENCE + 0.01, False),
                                               (0.99, False), (0.55, True)])
def test_low_confidence_below_the_threshold(uncased, probability, low):
    logit = math.log(probability / (1 - probability))
    row = classify("fine", model=fixed_classifier((0.0, logit)), tokenizer=uncased).rows[0]
    assert (row.label, row.score) == ("POSITIVE", pytest.approx(probability, abs=1e-6))
    assert row.low_confidence is low


def test_a_tie_goes_to_the_first_label_with_low_confidence(uncased):
    row = classify("fine", model=fixed_classifier((0.25, 0.25)), tokenizer=uncased).rows[0]
    assert (row.label, row.score, row.low_confidence) == ("NEGATIVE", pytest.approx(0.5, abs=1e-7), True)


def test_to_dict_has_the_first_rows_label_and_scores_and_every_row(uncased):
    logits = (1.0, -1.0)
    result = classify("\nfirst line\nsecond", model=fixed_classifier(logits), tokenizer=uncased, label="crafted")
    payload = json.loads(json.dumps(result.to_dict()))
    p_negative, p_positive = softmax(logits)
    assert payload["label"] == "NEGATIVE"
    assert payload["scores"] == {"NEGATIVE": pytest.approx(p_negative, abs=1e-6),
                                 "POSITIVE": pytest.approx(p_positive, abs=1e-6)}
    assert payload["model"] == "crafted" and payload["labels"] == list(LABELS)
    assert payload["skipped_empty_lines"] == 1 and payload["forward_passes"] == 1
    assert [row["text"] for row in payload["rows"]] == ["first line", "second"]
    assert payload["rows"][1] == {
        "text": "second", "label": "NEGATIVE", "score": pytest.approx(p_negative, abs=1e-6),
        "scores": [{"label": "NEGATIVE", "score": pytest.approx(p_negative, abs=1e-6)},
                   {"label": "POSITIVE", "score": pytest.approx(p_positive, abs=1e-6)}],
        "num_tokens": 3, "truncated": False, "low_confidence": False}


def test_to_dict_label_and_scores_come_from_the_first_row_not_another(models, uncased):
    result = classify(MIXED, model=models["bert_sharp"], tokenizer=uncased, batch_size=2)
    payload = json.loads(json.dumps(result.to_dict()))
    first = {s.label: s.score for s in result.rows[0].scores}
    assert (payload["label"], payload["scores"]) == (result.rows[0].label, first)
    for row in result.rows[1:]:
        assert {s.label: s.score for s in row.scores} != first
    assert [row["scores"][0]["score"] for row in payload["rows"]] == [row.scores[0].score for row in result.rows]


def test_maximum_number_of_lines_is_accepted(uncased):
    text = "\n".join(f"review number {n}" for n in range(MAX_LINES))
    result = classify(text, model=fixed_classifier((0.0, 1.0)), tokenizer=uncased)
    assert len(result.rows) == MAX_LINES and result.forward_passes == MAX_LINES // 32
    assert result.rows[-1].text == f"review number {MAX_LINES - 1}"


# --- Long input ---------------------------------------------------------------------------------------------------

def test_long_line_is_truncated_to_512_with_a_note(models, uncased):
    model = models["bert_sharp"]
    result = classify(f"short review\n{LONG}", model=model, tokenizer=uncased)
    short, long = result.rows
    assert (short.num_tokens, short.truncated) == (4, False)
    assert (long.num_tokens, long.truncated) == (512, True)
    assert result.notes[0] == ("Line(s) 2 exceed the model's 512 tokens and were truncated to fit; only the "
                               "beginning was read.")
    expected = pipeline_scores(model, uncased, [LONG], truncation=True)[0]
    assert [s.score for s in long.scores] == pytest.approx([expected[label] for label in LABELS], abs=1e-5)


def test_attribute_and_inside_head_read_the_first_512_tokens_of_a_long_text(models, uncased):
    model = models["bert_sharp"]
    result = attribute(LONG, model=model, tokenizer=uncased, steps=1)
    assert len(result.tokens) == 512 and (result.tokens[0].text, result.tokens[-1].text) == ("[CLS]", "[SEP]")
    assert len(result.words) == 510 and result.words[-1] == result.tokens[-2]
    head = inside_head(LONG, model=model, tokenizer=uncased)
    expected = direct_logits(model, uncased, " ".join(["word"] * 510))
    assert head.logits == pytest.approx(expected.tolist(), abs=1e-5)


def test_the_pipeline_without_truncation_fails_on_a_long_line(tiny, uncased):
    """Why classify truncates: BERT has 512 position embeddings and the pipeline does not cut the input."""
    with pytest.raises(RuntimeError, match="size of tensor a \\(602\\) must match the size of tensor b \\(512\\)"):
        pipeline_scores(tiny.model, uncased, [LONG])


# --- Bad input ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", "\n \t\n", None])
def test_empty_text_is_refused(tiny, text):
    with pytest.raises(BadInput, match="Text is empty"):
        classify(text, model=tiny.model, tokenizer=tiny.tokenizer)
    for explain in (attribute, inside_head):
        with pytest.raises(BadInput, match="Text is empty"):
            explain(text, model=tiny.model, tokenizer=tiny.tokenizer)


@pytest.mark.parametrize("text", [42, b"bytes", ["a list"]])
def test_text_that_is_not_a_string_is_refused(tiny, text):
    for task in (classify, attribute, inside_head):
        with pytest.raises(BadInput, match="Text must be text"):
            task(text, model=tiny.model, tokenizer=tiny.tokenizer)


def test_too_many_lines_are_refused(tiny):
    text = "\n".join(["fine"] * (MAX_LINES + 1))
    with pytest.raises(BadInput, match=f"{MAX_LINES + 1} lines: this tab classifies at most {MAX_LINES} at once"):
        classify(text, model=tiny.model, tokenizer=tiny.tokenizer)


def test_over_long_line_is_refused_and_the_longest_allowed_is_truncated(tiny):
    with pytest.raises(BadInput, match="Line 2 is 20,001 characters; each line may have up to 20,000"):
        classify("fine\n" + "x" * 20_001, model=tiny.model, tokenizer=tiny.tokenizer)
    for explain in (attribute, inside_head):
        with pytest.raises(BadInput, match="Text is 20,001 characters"):
            explain("x" * 20_001, model=tiny.model, tokenizer=tiny.tokenizer)
    row = classify("ab " * 6_666 + "ab", model=tiny.model, tokenizer=tiny.tokenizer).rows[0]
    assert (row.num_tokens, row.truncated) == (512, True)


def test_over_long_line_is_named_by_its_line_in_the_text_box(tiny):
    with pytest.raises(BadInput, match="Line 3 is 20,001 characters"):
        classify("fine\n\n" + "x" * 20_001, model=tiny.model, tokenizer=tiny.tokenizer)


def test_newly_initialized_classifier_is_refused(cache):
    encoder = cache.load("tiny:encoder", Head.SEQUENCE_CLASSIFICATION)
    assert {"classifier.weight", "classifier.bias"} <= set(encoder.newly_initialized)
    for task in (classify, attribute, inside_head):
        with pytest.raises(ModelUnavailable, match="no trained classification head"):
            task("fine", model=encoder.model, tokenizer=encoder.tokenizer,
                 newly_initialized=encoder.newly_initialized)


@pytest.mark.parametrize("missing", [("pre_classifier.weight",), ("classifier.dense.bias",), ("score.weight",)])
def test_other_missing_head_weights_are_refused(tiny, missing):
    with pytest.raises(ModelUnavailable, match="no trained classification head"):
        classify("fine", model=tiny.model, tokenizer=tiny.tokenizer, newly_initialized=missing)


def test_missing_weights_outside_the_head_are_accepted(tiny):
    result = classify("fine", model=tiny.model, tokenizer=tiny.tokenizer,
                      newly_initialized=("bert.pooler.dense.weight",))
    assert len(result.rows) == 1


# --- attribute: integrated gradients ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bert_sharp", "distilbert_sharp", "roberta_sharp"])
@pytest.mark.parametrize("target", [None, "NEGATIVE", "POSITIVE"])
def test_integrated_gradients_are_complete(models, uncased, name, target):
    model = models[name]
    result = attribute(ELON, model=model, tokenizer=uncased, target=target, steps=64)
    predicted = LABELS[int(direct_logits(model, uncased, ELON).argmax())]
    assert result.target_label == (target or predicted)
    difference = result.target_logit - result.baseline_logit
    assert abs(difference) > 5e-4  # not trivially 0
    assert result.sum_of_attributions == pytest.approx(sum(t.score for t in result.tokens), abs=1e-9)
    assert abs(result.sum_of_attributions - difference) <= COMPLETENESS
    assert result.delta == pytest.approx(result.sum_of_attributions - difference, abs=1e-9)


def test_completeness_tightens_with_more_steps(models, uncased):
    """The midpoint rule's error falls as 1/steps^2. On the sharp model the 8-step error (about 3e-6) sits
    well above float32 rounding; a model with its word embeddings also scaled by 10 curves more (about 4e-4 at 8
    steps), enough to check the rate: 8x the steps must cut it by 16x at least (64x in theory)."""
    sharp = models["bert_sharp"]
    deltas = {steps: abs(attribute(ELON, model=sharp, tokenizer=uncased, steps=steps).delta) for steps in (8, 128)}
    assert deltas[8] > 1e-6
    assert deltas[128] <= deltas[8] + 1e-8
    curved = scaled(sharp, "bert.embeddings.word_embeddings", 10)
    coarse = abs(attribute(ELON, model=curved, tokenizer=uncased, steps=8).delta)
    fine = abs(attribute(ELON, model=curved, tokenizer=uncased, steps=64).delta)
    assert coarse > 1e-4
    assert fine <= coarse / 16


@pytest.mark.parametrize("name, steps", [("bert_sharp", 8), ("bert_sharp", 40), ("distilbert_sharp", 8),
                                         ("roberta_sharp", 8)])
def test_integrated_gradients_equal_an_independent_implementation(models, uncased, name, steps):
    """Same midpoint points, same order of sums: measured differences are below 1e-9 (1e-6 of the largest
    score); 1e-5 of the largest score leaves room for float32 reordering and no room for a wrong alpha, scale or
    baseline."""
    model = models[name]
    for target in LABELS:
        result = attribute(ELON, model=model, tokenizer=uncased, target=target, steps=steps)
        expected = reference_integrated_gradients(model, uncased, ELON, LABELS.index(target), steps)
        scale = max(abs(v) for v in expected)
        assert scale > 1e-3
        assert [t.score for t in result.tokens] == pytest.approx(expected, abs=1e-5 * scale)


@pytest.mark.parametrize("name", ["bert_sharp", "distilbert_sharp"])
def test_target_and_baseline_logits_equal_direct_forwards(models, uncased, name):
    """The baseline is the input with every non-special token replaced by [PAD]: [CLS] [PAD] x6 [SEP]."""
    model = models[name]
    encoding = uncased.unwrapped(ELON, return_tensors="pt")
    baseline = {**encoding, "input_ids": torch.tensor([[101] + [PAD_ID] * 6 + [102]])}
    with torch.no_grad():
        logits = model(**forward_kwargs(model, encoding)).logits[0]
        baseline_logits = model(**forward_kwargs(model, baseline)).logits[0]
    for index, target in enumerate(LABELS):
        result = attribute(ELON, model=model, tokenizer=uncased, target=target, steps=4)
        assert result.target_logit == pytest.approx(float(logits[index]), abs=1e-5)
        assert result.baseline_logit == pytest.approx(float(baseline_logits[index]), abs=1e-5)
    predicted = attribute(ELON, model=model, tokenizer=uncased, target="predicted", steps=4)
    assert predicted.target_label == LABELS[int(logits.argmax())]


def test_roberta_baseline_keeps_the_inputs_positions(models, uncased):
    """Only word embeddings move along the path: the baseline's [PAD] tokens keep the positions of the words they
    replace. RoBERTa's input_ids path would instead give tokens equal to padding_idx the padding position, so the
    baseline logit is a forward with explicit position ids (padding_idx + 1 onwards), not model(baseline_ids)."""
    model = models["roberta_sharp"]
    baseline = torch.tensor([[101] + [PAD_ID] * 6 + [102]])
    positions = torch.arange(8)[None] + model.config.pad_token_id + 1
    with torch.no_grad():
        kept = model(input_ids=baseline, position_ids=positions).logits[0]
        padded = model(input_ids=baseline).logits[0]
    assert (kept - padded).abs().max() > 1e-3  # the two readings differ
    for index, target in enumerate(LABELS):
        result = attribute(ELON, model=model, tokenizer=uncased, target=target, steps=4)
        assert result.baseline_logit == pytest.approx(float(kept[index]), abs=1e-5)


def test_words_sum_their_pieces_and_special_tokens_have_no_offsets(models, uncased):
    result = attribute(ELON, model=models["bert_sharp"], tokenizer=uncased, steps=16)
    assert tuple(t.text for t in result.tokens) == ELON_TOKENS
    cls, el, on, mu, sk, loved, tesla, sep = result.tokens
    for special in (cls, sep):
        assert (special.start, special.end, special.score) == (None, None, 0.0)
    assert [(t.start, t.end) for t in (el, on, mu, sk, loved, tesla)] == [(0, 2), (2, 4), (5, 7), (7, 9), (10, 15),
                                                                          (16, 21)]
    assert tuple((w.text, w.start, w.end) for w in result.words) == ELON_WORDS
    assert [w.score for w in result.words] == pytest.approx(
        [el.score + on.score, mu.score + sk.score, loved.score, tesla.score], abs=1e-9)
    assert all(abs(t.score) > 1e-6 for t in (el, on, mu, sk, loved, tesla))


def test_crafted_constant_head_gets_zero_attributions(uncased):
    result = attribute(ELON, model=fixed_classifier((1.5, -0.5)), tokenizer=uncased, steps=64)
    assert result.target_label == "NEGATIVE"
    assert (result.target_logit, result.baseline_logit) == pytest.approx((1.5, 1.5), abs=1e-6)
    assert all(t.score == 0.0 for t in result.tokens) and all(w.score == 0.0 for w in result.words)
    assert result.sum_of_attributions == 0.0 and result.delta == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("steps, passes", [(1, 3), (IG_CHUNK, 3), (IG_CHUNK + 1, 4), (64, 4), (100, 6), (256, 10)])
def test_forward_passes_are_two_plus_one_per_chunk_of_steps(models, uncased, steps, passes):
    model = models["bert_sharp"]
    batches = []
    handle = model.register_forward_pre_hook(lambda module, args, kwargs: batches.append(
        kwargs["inputs_embeds"].shape[0]), with_kwargs=True)
    try:
        result = attribute(ELON, model=model, tokenizer=uncased, steps=steps)
    finally:
        handle.remove()
    assert passes == 2 + math.ceil(steps / IG_CHUNK)
    assert len(batches) == passes and sum(batches[2:]) == steps and max(batches[2:]) <= IG_CHUNK
    assert (result.method, result.steps, result.forward_passes) == ("integrated_gradients", steps, passes)
    assert result.seconds > 0


@pytest.mark.parametrize("steps", ["16", 16.0])
def test_steps_given_as_text_or_float_are_accepted(tiny, steps):
    assert attribute(ELON, model=tiny.model, tokenizer=tiny.tokenizer, steps=steps).steps == 16


# --- attribute: gradient x input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bert_sharp", "distilbert_sharp", "roberta_sharp"])
def test_gradient_x_input_equals_autograd(models, uncased, name):
    model = models[name]
    for target in LABELS:
        result = attribute(ELON, model=model, tokenizer=uncased, target=target, method="gradient_x_input")
        expected = reference_gradient_x_input(model, uncased, ELON, LABELS.index(target))
        scale = max(abs(v) for v in expected)
        assert scale > 1e-2
        assert [t.score for t in result.tokens] == pytest.approx(expected, abs=1e-5 * scale)
        assert (result.method, result.target_label, result.steps, result.forward_passes) == (
            "gradient_x_input", target, 1, 3)
        assert result.sum_of_attributions == pytest.approx(sum(expected), abs=1e-5 * scale)
    assert all(p.grad is None for p in model.parameters())  # nothing accumulated in the shared model


# --- attribute: bad input -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["saliency", "", None, "Integrated_Gradients"])
def test_unknown_method_is_refused(tiny, method):
    with pytest.raises(BadInput, match="Method must be one of integrated_gradients, gradient_x_input"):
        attribute(ELON, model=tiny.model, tokenizer=tiny.tokenizer, method=method)


@pytest.mark.parametrize("steps", [0, 257, -1, 1.5, "x", None, True])
def test_steps_out_of_range_are_refused(tiny, steps):
    with pytest.raises(BadInput, match="Steps must be a whole number between 1 and 256"):
        attribute(ELON, model=tiny.model, tokenizer=tiny.tokenizer, steps=steps)


@pytest.mark.parametrize("target", ["NEUTRAL", "negative", 1])
def test_unknown_class_is_refused(tiny, target):
    with pytest.raises(BadInput, match="Unknown class .*; this model's classes are NEGATIVE, POSITIVE"):
        attribute(ELON, model=tiny.model, tokenizer=tiny.tokenizer, target=target)


# --- inside_head --------------------------------------------------------------------------------------------------

def expected_vector(model, tokenizer, text: str) -> torch.Tensor:
    """The vector entering the final linear layer, computed from each architecture's own modules."""
    encoding = tokenizer.unwrapped(text, return_tensors="pt")
    with torch.no_grad():
        if isinstance(model, DistilBertForSequenceClassification):
            first = model.distilbert(**forward_kwargs(model.distilbert, encoding))[0][:, 0]
            return torch.relu(model.pre_classifier(first))[0]
        if isinstance(model, RobertaForSequenceClassification):
            first = model.roberta(**forward_kwargs(model.roberta, encoding))[0][:, 0]
            return torch.tanh(model.classifier.dense(first))[0]
        return model.bert(**encoding).pooler_output[0]


@pytest.mark.parametrize("name, source", [
    ("bert", "BERT: the pooled output"), ("bert_sharp", "BERT: the pooled output"),
    ("distilbert", "DistilBERT: the [CLS] hidden state through pre_classifier"),
    ("distilbert_sharp", "DistilBERT: the [CLS] hidden state through pre_classifier"),
    ("roberta", "RobertaForSequenceClassification: the first token's hidden state through a linear layer + tanh"),
    ("roberta_sharp", "RobertaForSequenceClassification: the first token's hidden state through a linear layer + tanh")])
def test_inside_head_equals_the_models_own_logits(models, uncased, name, source):
    model = models[name]
    result = inside_head(ELON, model=model, tokenizer=uncased)
    logits = direct_logits(model, uncased, ELON)
    assert result.logits == pytest.approx(logits.tolist(), abs=1e-5)
    assert result.probabilities == pytest.approx(softmax(result.logits), abs=1e-6)
    assert result.probabilities == pytest.approx(logits.softmax(-1).tolist(), abs=1e-6)
    assert result.labels == LABELS and result.weight_shape == (2, 32)
    linear = model.classifier.out_proj if name.startswith("roberta") else model.classifier
    assert result.bias == tuple(linear.bias.tolist())
    assert result.source.startswith(source)


@pytest.mark.parametrize("name", ["bert", "distilbert", "roberta"])
def test_inside_head_vector_statistics(models, uncased, name):
    model = models[name]
    result = inside_head(ELON, model=model, tokenizer=uncased)
    vector = expected_vector(model, uncased, ELON)
    assert result.vector_size == vector.numel() == 32
    assert result.vector_norm == pytest.approx(float(vector.norm()), abs=1e-5)
    assert result.vector_mean == pytest.approx(float(vector.mean()), abs=1e-6)
    assert (result.vector_min, result.vector_max) == pytest.approx((float(vector.min()), float(vector.max())),
                                                                   abs=1e-6)
    assert result.vector_min <= result.vector_mean <= result.vector_max
    assert len(result.vector_head) == 8
    assert result.vector_head == pytest.approx([round(v, 4) for v in vector[:8].tolist()], abs=1e-4)
    linear = model.classifier.out_proj if name == "roberta" else model.classifier
    with torch.no_grad():
        recomputed = (linear.weight @ vector).tolist()
    assert [l - b for l, b in zip(result.logits, result.bias)] == pytest.approx(recomputed, abs=1e-5)
    if name == "distilbert":
        assert result.vector_min >= 0.0  # after ReLU


def test_inside_head_of_a_crafted_head_shows_its_bias(uncased):
    labels = ("negative", "neutral", "positive")
    result = inside_head("fine", model=fixed_classifier((0.5, 2.0, -1.0), labels), tokenizer=uncased)
    assert result.logits == pytest.approx((0.5, 2.0, -1.0), abs=1e-6)
    assert result.bias == pytest.approx((0.5, 2.0, -1.0), abs=1e-7)
    assert result.probabilities == pytest.approx(softmax((0.5, 2.0, -1.0)), abs=1e-6)
    assert result.weight_shape == (3, 32) and result.labels == labels


def test_inside_head_vector_head_is_the_whole_vector_when_shorter_than_eight(uncased):
    """A 4-dim BERT: the preview shows all 4 values."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=VOCAB_SIZE, hidden_size=4, num_hidden_layers=1,
                                                     num_attention_heads=1, intermediate_size=8,
                                                     **LABEL_CONFIG)).eval()
    result = inside_head(ELON, model=model, tokenizer=uncased)
    assert result.vector_size == 4 and len(result.vector_head) == 4 and result.weight_shape == (2, 4)
    assert result.logits == pytest.approx(direct_logits(model, uncased, ELON).tolist(), abs=1e-5)


def test_inside_head_refuses_a_head_it_cannot_open(tiny, uncased):
    model = copy.deepcopy(tiny.model)
    model.classifier = torch.nn.Sequential(model.classifier)
    with pytest.raises(ModelUnavailable, match="BertForSequenceClassification's classification head is not one"):
        inside_head(ELON, model=model, tokenizer=uncased)


def test_inside_head_of_electra_equals_its_logits(uncased):
    torch.manual_seed(0)
    model = ElectraForSequenceClassification(ElectraConfig(
        vocab_size=VOCAB_SIZE, embedding_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, **LABEL_CONFIG)).eval()
    model = scaled(model, "classifier.out_proj", 100)
    result = inside_head(ELON, model=model, tokenizer=uncased)
    assert result.logits == pytest.approx(direct_logits(model, uncased, ELON).tolist(), abs=1e-5)


# --- A tokenizer without a length limit --------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["classify", "attribute", "inside_head"])
def test_tokenizer_without_a_limit_still_truncates_to_the_models_positions(tiny, uncased, task):
    unlimited = copy.deepcopy(uncased.unwrapped)
    unlimited.model_max_length = int(1e30)  # what transformers sets when tokenizer_config.json has none
    if task == "classify":
        row = classify(LONG, model=tiny.model, tokenizer=unlimited).rows[0]
        assert (row.num_tokens, row.truncated) == (512, True)
    elif task == "attribute":
        assert len(attribute(LONG, model=tiny.model, tokenizer=unlimited, steps=1).tokens) == 512
    else:
        assert len(inside_head(LONG, model=tiny.model, tokenizer=unlimited).logits) == 2


# --- Budgets ------------------------------------------------------------------------------------------------------

def test_integrated_gradients_over_budget_are_refused_naming_the_steps_that_fit(models, uncased):
    model = models["bert_sharp"]
    budget = Budget(gflop=integrated_gradients_flops(shape_of(model), 8, 10.5) / 1e9)  # ELON is 8 tokens
    assert most_steps(model, 8, budget) == 10
    assert attribute(ELON, model=model, tokenizer=uncased, steps=10, budget=budget).steps == 10
    with pytest.raises(OverBudget, match=r"^Integrated gradients with 11 steps on 8 tokens would take .* At most 10 "
                                         r"steps for this text \(or shorten it\), or use gradient × input\.$"):
        attribute(ELON, model=model, tokenizer=uncased, steps=11, budget=budget)
    # One point: gradient x input stays within the same budget.
    assert attribute(ELON, model=model, tokenizer=uncased, method="gradient_x_input", budget=budget).steps == 1


def test_integrated_gradients_in_chunks_that_fit_memory_equal_one_batch(models, uncased):
    model = models["bert_sharp"]
    per_point = activation_bytes(shape_of(model), 8, 1, mode="inputs")
    small = Budget(memory_gb=3.5 * per_point / ACTIVATION_SHARE / 1e9)  # room for 3 points' activations
    batches = []
    handle = model.register_forward_pre_hook(lambda module, args, kwargs: batches.append(
        kwargs["inputs_embeds"].shape[0]), with_kwargs=True)
    try:
        chunked = attribute(ELON, model=model, tokenizer=uncased, steps=64, budget=small)
    finally:
        handle.remove()
    whole = attribute(ELON, model=model, tokenizer=uncased, steps=64)
    assert batches[2:] == [3] * 21 + [1] and chunked.forward_passes == 2 + 22 and whole.forward_passes == 2 + 2
    # Scores of about 2e-3: leaving out one chunk of 3 points of 64 would move them by about 1e-4.
    assert max(abs(t.score) for t in whole.tokens) > 1e-3
    assert [t.score for t in chunked.tokens] == pytest.approx([t.score for t in whole.tokens], abs=1e-6)
    assert chunked.delta == pytest.approx(whole.delta, abs=1e-6)


def test_classifying_over_budget_is_refused_naming_the_lines_that_fit(models, uncased):
    model = models["bert_sharp"]
    # Packed groups of the sorted lengths 3, 5 | 8, 10 | 12 (batch_size 2); the budget takes a little more than
    # the first three lines' packs would cost.
    shape = shape_of(model)
    budget = Budget(gflop=(forward_flops(shape, 5 + 12) + forward_flops(shape, 3) + 1e3) / 1e9)
    with pytest.raises(OverBudget, match=r"^Classifying 5 lines of up to 12 tokens \(38 tokens in all\) would take "
                                         r".* At most 3 of these lines fit one request"):
        classify(MIXED, model=model, tokenizer=uncased, batch_size=2, budget=budget)
    first_three = "\n".join(MIXED_LINES[:3])
    assert len(classify(first_three, model=model, tokenizer=uncased, batch_size=2, budget=budget).rows) == 3


def test_a_20000_character_line_is_read_from_a_prefix(models, uncased):
    model = models["bert_sharp"]
    line = ("word " * 4000).strip()  # 4,000 tokens, 19,999 characters
    seen = []

    class Spy:
        def __getattr__(self, name):
            return getattr(uncased, name)

        def __call__(self, text, *args, **kwargs):
            seen.extend([text] if isinstance(text, str) else text)
            return uncased(text, *args, **kwargs)

    result = classify(f"short review\n{line}", model=model, tokenizer=Spy())
    assert max(len(text) for text in seen) <= 513 * 16 < len(line)
    assert (result.rows[1].num_tokens, result.rows[1].truncated) == (512, True)
    expected = pipeline_scores(model, uncased, [line], truncation=True)[0]
    assert [s.score for s in result.rows[1].scores] == pytest.approx([expected[label] for label in LABELS], abs=1e-5)
    seen.clear()
    explained = attribute(line, model=model, tokenizer=Spy(), steps=1)
    assert max(len(text) for text in seen) <= 513 * 16 and len(explained.tokens) == 512


@pytest.mark.parametrize("name", ["albert", "electra"])
def test_inside_head_opens_albert_and_electra_heads(uncased, name):
    """ALBERT's pooler is a bare Linear with its tanh beside it (before models/anatomy.py the view applied the Linear
    to a [n, 1, hidden] tensor and skipped the tanh: wrong logits); ELECTRA's head names its own activation."""
    from transformers import (
        AlbertConfig,
        AlbertForSequenceClassification,
        ElectraConfig,
        ElectraForSequenceClassification,
    )

    sizes = {"vocab_size": VOCAB_SIZE, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "embedding_size": 16, "id2label": dict(enumerate(LABELS)),
             "label2id": {label: i for i, label in enumerate(LABELS)}}
    torch.manual_seed(0)
    model = (AlbertForSequenceClassification(AlbertConfig(**sizes)) if name == "albert"
             else ElectraForSequenceClassification(ElectraConfig(**sizes))).eval()
    result = inside_head(ELON, model=model, tokenizer=uncased)
    assert result.logits == pytest.approx(direct_logits(model, uncased, ELON).tolist(), abs=1e-5)
    assert result.source.startswith("ALBERT: the pooled output" if name == "albert" else
                                    "ElectraForSequenceClassification: the first token's hidden state through a "
                                    "linear layer + GELUActivation")
