"""Zero-shot: NLI scoring against the zero-shot-classification pipeline and the model's own logits, label and
template parsing, refusals, the offline embedding-similarity method against an independent computation, and the
renderer's arithmetic and escaping."""

from __future__ import annotations

import html
import json
import math

import pytest
import torch
from transformers import pipeline

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.registry import Head
from bertviz_ui.render.html import percent
from bertviz_ui.render.zero_shot import explanation_html, hypotheses_table, scores_figure
from bertviz_ui.tasks.budget import Budget, OverBudget, forward_flops, shape_of
from bertviz_ui.tasks.zero_shot import (
    DEFAULT_TEMPLATE,
    MAX_LABEL_CHARS,
    MAX_LABELS,
    METHOD_EMBEDDING,
    METHOD_NLI,
    LabelScore,
    ZeroShotResult,
    check_template,
    classify_by_similarity,
    classify_zero_shot,
    entailment_index,
    parse_labels,
)
from tests.unit.crafted import fixed_classifier, relabelled_classifier, scaled_copy

pytestmark = pytest.mark.usefixtures("one_thread")

# The seed text's example.
TEXT = "The government announced new economic policies today."
LABELS = ("politics", "technology", "sports", "entertainment")
# Pairs of 16, 17, 20 and 16 tokens with the seed text and the default template: the batch is padded.
UNEVEN = ("art", "economic policy", "science fiction and fantasy literature", "sports")
CUSTOM_TEMPLATE = "The topic of this news article is {}"
NLI_LABELS = ("contradiction", "neutral", "entailment")
ENTAILMENT_FIRST = ("entailment", "neutral", "contradiction")
XSS = "<img src=x onerror=alert(1)>"
SINGLE_LABEL_NOTE = "With one label, the score is entailment vs. contradiction for that label alone."
LONG_TEXT = "word " * 600  # 602 tokens with [CLS] and [SEP]


@pytest.fixture(scope="module")
def nli(cache):
    return cache.load("tiny:nli", Head.NLI)


@pytest.fixture(scope="module")
def models(nli):
    """The random NLI head's entailment logits differ across hypotheses by about 1e-5 (scores equal to 1e-6);
    scaling the classifier by 100 spreads single-label scores over about 3e-4, far beyond the 1e-7 at which the
    task and the pipeline agree. "entailment_first" is the same model with its label order reversed (entailment
    id 0, contradiction id 2): every score by label name must stay the same."""
    sharp = scaled_copy(nli.model, "classifier", 100)
    return {"sharp": sharp, "entailment_first": relabelled_classifier(sharp, ENTAILMENT_FIRST)}


@pytest.fixture(scope="module")
def minilm(cache):
    return cache.load("sentence-transformers/all-MiniLM-L6-v2", Head.ENCODER)


def pipeline_result(model, tokenizer, text: str, labels, **kwargs) -> dict:
    classifier = pipeline("zero-shot-classification", model=model, tokenizer=tokenizer.unwrapped)
    return classifier(text, candidate_labels=list(labels), **kwargs)


def direct_logits(model, tokenizer, text: str, hypothesis: str) -> list[float]:
    """The model's logits for one (text, hypothesis) pair, alone (no padding)."""
    with torch.no_grad():
        return model(**tokenizer.unwrapped(text, hypothesis, return_tensors="pt")).logits[0].tolist()


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def made_result(labels, logits, scores, *, multi_label=False, method=METHOD_NLI, logit_names=NLI_LABELS,
                template=DEFAULT_TEMPLATE) -> ZeroShotResult:
    """A result built by hand, ranked as given: the renderer needs no model."""
    hypotheses = tuple(template.format(label) for label in labels)
    details = tuple(LabelScore(label, hypothesis, score, tuple(row))
                    for label, hypothesis, score, row in zip(labels, hypotheses, scores, logits))
    return ZeroShotResult(model="hand-made", method=method, text=TEXT, template=template, multi_label=multi_label,
                          labels=tuple(labels), scores=tuple(scores), hypotheses=hypotheses,
                          logits=tuple(tuple(row) for row in logits), logit_names=tuple(logit_names),
                          details=details, forward_passes=1, seconds=0.25, notes=())


# --- classify_zero_shot against the pipeline ------------------------------------------------------------------

@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("template", [DEFAULT_TEMPLATE, CUSTOM_TEMPLATE])
@pytest.mark.parametrize("labels", [LABELS, UNEVEN], ids=["seed", "uneven"])
@pytest.mark.parametrize("name", ["sharp", "entailment_first"])
def test_classify_equals_the_pipeline(models, nli, name, labels, template, multi_label):
    model = models[name]
    result = classify_zero_shot(TEXT, ", ".join(labels), model=model, tokenizer=nli.tokenizer, template=template,
                                multi_label=multi_label, label="tiny sharp")
    expected = pipeline_result(model, nli.tokenizer, TEXT, labels, hypothesis_template=template,
                               multi_label=multi_label)  # one pair per forward: no padding
    assert result.labels == tuple(expected["labels"])
    assert result.scores == pytest.approx(expected["scores"], abs=1e-5)
    assert (result.method, result.multi_label, result.template, result.text) == (METHOD_NLI, multi_label, template,
                                                                                 TEXT)
    assert result.model == "tiny sharp" and result.notes == () and result.seconds > 0
    if not multi_label:
        assert sum(result.scores) == pytest.approx(1.0, abs=1e-6)


def test_relabelled_model_gives_the_same_scores_by_label(models, nli):
    """Entailment at id 0 moves contradiction to the last id (-1): the label-name results must not move."""
    for multi_label in (False, True):
        one, other = (classify_zero_shot(TEXT, LABELS, model=models[name], tokenizer=nli.tokenizer,
                                         multi_label=multi_label) for name in ("sharp", "entailment_first"))
        assert one.labels == other.labels
        assert one.scores == pytest.approx(other.scores, abs=1e-7)
        assert [row[::-1] for row in other.logits] == [pytest.approx(row, abs=1e-6) for row in one.logits]
        assert other.logit_names == ENTAILMENT_FIRST and one.logit_names == NLI_LABELS


def test_sharp_scores_spread_and_padding_would_show(models, nli):
    """Guards the pipeline test: its labels score apart, the uneven hypotheses differ in length, and reading the
    padded batch without the attention mask moves the scores by far more than its 1e-5."""
    model = models["sharp"]
    result = classify_zero_shot(TEXT, UNEVEN, model=model, tokenizer=nli.tokenizer)
    assert max(result.scores) - min(result.scores) > 1e-4
    lengths = [len(nli.tokenizer.unwrapped(TEXT, DEFAULT_TEMPLATE.format(label))["input_ids"]) for label in UNEVEN]
    assert lengths == [16, 17, 20, 16]
    encoding = nli.tokenizer.unwrapped([TEXT] * 4, [DEFAULT_TEMPLATE.format(label) for label in UNEVEN],
                                       padding=True, return_tensors="pt")
    with torch.no_grad():
        unmasked = model(input_ids=encoding["input_ids"], token_type_ids=encoding["token_type_ids"]).logits
    by_label = dict(zip(result.labels, result.scores))
    unmasked_scores = unmasked[:, 2].softmax(0).tolist()
    assert max(abs(by_label[label] - s) for label, s in zip(UNEVEN, unmasked_scores)) > 1e-4


@pytest.mark.parametrize("multi_label, note", [(False, (SINGLE_LABEL_NOTE,)), (True, ())])
def test_one_label_uses_the_multi_label_rule_as_the_pipeline(models, nli, multi_label, note):
    model = models["sharp"]
    result = classify_zero_shot(TEXT, "politics", model=model, tokenizer=nli.tokenizer, multi_label=multi_label)
    expected = pipeline_result(model, nli.tokenizer, TEXT, ["politics"], multi_label=multi_label)
    contradiction, _, entailment = direct_logits(model, nli.tokenizer, TEXT, "This example is politics.")
    assert result.labels == ("politics",) and result.multi_label is True and result.notes == note
    assert result.scores == pytest.approx(expected["scores"], abs=1e-5)
    assert result.scores[0] == pytest.approx(sigmoid(entailment - contradiction), abs=1e-6)
    assert result.scores[0] < 0.5  # not the 1.0 a softmax over one label would give


def test_long_text_is_truncated_like_the_pipeline(models, nli):
    model = models["sharp"]
    result = classify_zero_shot(LONG_TEXT, ["politics", "science fiction and fantasy"], model=model,
                                tokenizer=nli.tokenizer)
    expected = pipeline_result(model, nli.tokenizer, LONG_TEXT, ["politics", "science fiction and fantasy"])
    assert result.labels == tuple(expected["labels"])
    assert result.scores == pytest.approx(expected["scores"], abs=1e-5)


# --- Hypotheses, logits, one forward --------------------------------------------------------------------------

@pytest.mark.parametrize("name, names, entail, contradiction", [("sharp", NLI_LABELS, 2, 0),
                                                                ("entailment_first", ENTAILMENT_FIRST, 0, 2)])
@pytest.mark.parametrize("multi_label", [False, True])
def test_hypotheses_and_logit_rows_are_the_models_own_for_each_pair(models, nli, name, names, entail,
                                                                    contradiction, multi_label):
    model = models[name]
    result = classify_zero_shot(TEXT, UNEVEN, model=model, tokenizer=nli.tokenizer, template=CUSTOM_TEMPLATE,
                                multi_label=multi_label)
    assert sorted(result.labels) == sorted(UNEVEN)
    assert result.hypotheses == tuple(CUSTOM_TEMPLATE.format(label) for label in result.labels)
    assert result.logit_names == names
    for label, hypothesis, row in zip(result.labels, result.hypotheses, result.logits):
        assert row == pytest.approx(direct_logits(model, nli.tokenizer, TEXT, hypothesis), abs=1e-5)
    rows = torch.tensor(result.logits)
    if multi_label:
        expected = rows[:, [contradiction, entail]].softmax(-1)[:, 1]
    else:
        expected = rows[:, entail].softmax(0)
    assert result.scores == pytest.approx(expected.tolist(), abs=1e-6)
    assert list(result.scores) == sorted(result.scores, reverse=True)
    assert tuple((d.label, d.hypothesis, d.score, d.logits) for d in result.details) == tuple(
        zip(result.labels, result.hypotheses, result.scores, result.logits))


def test_all_labels_go_through_one_forward(models, nli):
    model = models["sharp"]
    shapes = []
    handle = model.register_forward_pre_hook(lambda module, args, kwargs: shapes.append(
        tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        result = classify_zero_shot(TEXT, UNEVEN, model=model, tokenizer=nli.tokenizer)
    finally:
        handle.remove()
    assert shapes == [(4, 20)]  # four pairs, padded to the longest (20 tokens)
    assert result.forward_passes == 1


def test_crafted_head_with_entailment_first_takes_contradiction_from_the_last_logit(uncased):
    """Logits (entailment 2, neutral 0.5, contradiction -1) for every pair: multi-label scores are
    sigmoid(2 - (-1)) = 0.9526; taking neutral or entailment as "contradiction" would give 0.8176 or 0.5."""
    model = fixed_classifier((2.0, 0.5, -1.0), ENTAILMENT_FIRST)
    assert entailment_index(model) == 0
    multi = classify_zero_shot(TEXT, LABELS, model=model, tokenizer=uncased, multi_label=True)
    assert multi.scores == pytest.approx([sigmoid(3.0)] * 4, abs=1e-6)
    assert multi.logits == ((pytest.approx(2.0), pytest.approx(0.5), pytest.approx(-1.0)),) * 4
    single = classify_zero_shot(TEXT, LABELS, model=model, tokenizer=uncased)
    assert single.scores == pytest.approx([0.25] * 4, abs=1e-6)
    expected = pipeline_result(model, uncased, TEXT, LABELS, multi_label=True)
    assert expected["scores"] == pytest.approx([sigmoid(3.0)] * 4, abs=1e-6)


def test_crafted_head_in_the_usual_order(uncased):
    model = fixed_classifier((-1.0, 0.5, 2.0), NLI_LABELS)
    assert entailment_index(model) == 2
    result = classify_zero_shot(TEXT, "politics", model=model, tokenizer=uncased)
    assert result.scores == pytest.approx([sigmoid(3.0)], abs=1e-6)


def test_result_serializes_to_json(models, nli):
    result = classify_zero_shot(TEXT, "politics, Politics, sports", model=models["sharp"], tokenizer=nli.tokenizer)
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["labels"] == list(result.labels) and payload["scores"] == list(result.scores)
    assert payload["logits"] == [list(row) for row in result.logits]
    assert payload["logit_names"] == list(NLI_LABELS) and payload["method"] == METHOD_NLI
    assert payload["details"][0] == {"label": result.labels[0], "hypothesis": result.hypotheses[0],
                                     "score": result.scores[0], "logits": list(result.logits[0])}
    assert payload["notes"] == ["Duplicate label 'Politics' ignored."] and payload["forward_passes"] == 1


# --- parse_labels -----------------------------------------------------------------------------------------------

def test_labels_split_on_commas_and_newlines_trimmed_and_blanks_dropped():
    raw = " politics,technology\n sports ,\n\n, entertainment ,,\n"
    assert parse_labels(raw) == (["politics", "technology", "sports", "entertainment"], [])


def test_duplicates_are_merged_case_insensitively_with_a_note():
    labels, notes = parse_labels("Politics, sports\npolitics, POLITICS , Sports, science")
    assert labels == ["Politics", "sports", "science"]
    assert notes == ["Duplicate label 'politics' ignored.", "Duplicate label 'POLITICS' ignored.",
                     "Duplicate label 'Sports' ignored."]


def test_the_cap_counts_distinct_labels():
    fifty = [f"label{i}" for i in range(MAX_LABELS)]
    assert MAX_LABELS == 50
    assert parse_labels(", ".join(fifty))[0] == fifty
    assert parse_labels(", ".join([*fifty, "LABEL0"]))[0] == fifty
    with pytest.raises(BadInput, match=r"^51 labels: this tab scores at most 50 "):
        parse_labels(", ".join([*fifty, "one more"]))


def test_label_length_limit():
    assert MAX_LABEL_CHARS == 100
    assert parse_labels("x" * 100) == (["x" * 100], [])
    with pytest.raises(BadInput, match="A label is 101 characters; labels may have up to 100"):
        parse_labels(f"politics, {'x' * 101}")


@pytest.mark.parametrize("raw", ["", "   ", " , ,\n ,", None])
def test_no_labels_is_refused(raw):
    with pytest.raises(BadInput, match="Give at least one candidate label"):
        parse_labels(raw)


@pytest.mark.parametrize("raw", [5, [3], b"politics", 1.5])
def test_labels_that_are_not_text_are_refused(raw):
    with pytest.raises(BadInput, match="Labels must be text"):
        parse_labels(raw)


def test_classify_accepts_a_list_of_labels(models, nli):
    model = models["sharp"]
    from_list = classify_zero_shot(TEXT, [" politics", "sports ", "", "Politics", "technology"], model=model,
                                   tokenizer=nli.tokenizer)
    from_text = classify_zero_shot(TEXT, "politics, sports, technology", model=model, tokenizer=nli.tokenizer)
    assert from_list.labels == from_text.labels and sorted(from_list.labels) == ["politics", "sports", "technology"]
    assert from_list.scores == pytest.approx(from_text.scores, abs=1e-7)
    assert from_list.notes == ("Duplicate label 'Politics' ignored.",)
    with pytest.raises(BadInput, match="Give at least one candidate label"):
        classify_zero_shot(TEXT, [], model=model, tokenizer=nli.tokenizer)


def test_classify_refuses_labels_that_are_neither_text_nor_a_list(models, nli):
    with pytest.raises(BadInput, match="Labels must be"):
        classify_zero_shot(TEXT, 5, model=models["sharp"], tokenizer=nli.tokenizer)


def test_list_items_are_whole_labels_as_in_the_pipeline(models, nli):
    labels = ["politics, economics", "sports"]
    expected = pipeline_result(models["sharp"], nli.tokenizer, TEXT, labels)
    result = classify_zero_shot(TEXT, labels, model=models["sharp"], tokenizer=nli.tokenizer)
    assert sorted(result.labels) == sorted(expected["labels"]) == sorted(labels)


# --- check_template ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("template", ["{}", DEFAULT_TEMPLATE, CUSTOM_TEMPLATE, "Is it about {}?"])
def test_template_with_one_placeholder_is_accepted(template):
    assert check_template(template) == template


@pytest.mark.parametrize("template, message", [
    ("This example is politics.", "exactly once"),
    ("{} and {}", "exactly once"),
    ("{0}", "exactly once"),
    ("{name}", "exactly once"),
    ("{{}}", "exactly once"),
    ("{", "unbalanced braces"),
    ("}", "unbalanced braces"),
    ("This is {.", "unbalanced braces"),
    ("", "empty"),
    ("   ", "empty"),
    (None, "empty"),
    (5, "empty"),
])
def test_bad_templates_are_refused(template, message):
    with pytest.raises(BadInput, match=message):
        check_template(template)


def test_classify_refuses_a_bad_template_before_running_the_model(models, nli):
    with pytest.raises(BadInput, match="exactly once"):
        classify_zero_shot(TEXT, LABELS, model=models["sharp"], tokenizer=nli.tokenizer, template="{} or {}")


@pytest.mark.parametrize("template", ["This is {:d}.", "This is {!x}.", "This is {:{}}.", "This is {!r}.",
                                      "This is {:>12}."])
def test_placeholder_with_a_format_spec_or_conversion_is_refused(models, nli, template):
    with pytest.raises(BadInput):
        classify_zero_shot(TEXT, LABELS, model=models["sharp"], tokenizer=nli.tokenizer, template=template)


def test_a_template_too_long_for_the_model_is_refused(models, nli):
    with pytest.raises(BadInput):
        classify_zero_shot(TEXT, LABELS, model=models["sharp"], tokenizer=nli.tokenizer,
                           template="{} " + "word " * 600)


# --- Refusals and pass-through ---------------------------------------------------------------------------------

def test_a_model_without_an_entailment_label_is_refused(cache):
    loaded = cache.load("tiny:sequence_classification", Head.NLI)
    assert loaded.newly_initialized == ()
    message = r"This model's labels \(NEGATIVE, POSITIVE\) name no entailment label"
    with pytest.raises(ModelUnavailable, match=message):
        entailment_index(loaded.model)
    with pytest.raises(ModelUnavailable, match=message):
        classify_zero_shot(TEXT, LABELS, model=loaded.model, tokenizer=loaded.tokenizer,
                           newly_initialized=loaded.newly_initialized)


def test_an_untrained_classification_head_is_refused(cache, models, nli):
    loaded = cache.load("tiny:encoder", Head.NLI)
    assert loaded.newly_initialized == ("classifier.bias", "classifier.weight")
    with pytest.raises(ModelUnavailable, match="no trained NLI classification head"):
        classify_zero_shot(TEXT, LABELS, model=loaded.model, tokenizer=loaded.tokenizer,
                           newly_initialized=loaded.newly_initialized)
    # The head check stands on its own: a model with entailment labels but a missing head is refused too.
    with pytest.raises(ModelUnavailable, match="no trained NLI classification head"):
        classify_zero_shot(TEXT, LABELS, model=models["sharp"], tokenizer=nli.tokenizer,
                           newly_initialized=("classifier.weight",))


def test_entailment_label_is_found_case_insensitively():
    assert entailment_index(fixed_classifier((0.0, 0.0), ("ENTAILMENT", "not_entailment"))) == 0
    assert entailment_index(fixed_classifier((0.0, 0.0, 0.0), ("CONTRADICTION", "NEUTRAL", "Entails"))) == 2


@pytest.mark.parametrize("text", ["", "   \n", None])
def test_empty_text_is_refused(models, nli, text):
    with pytest.raises(BadInput, match="Text is empty"):
        classify_zero_shot(text, LABELS, model=models["sharp"], tokenizer=nli.tokenizer)


def test_html_in_labels_and_text_passes_through_unchanged(models, nli):
    """Escaping is the renderer's job: the result keeps what the user typed."""
    text = f"{TEXT} {XSS}"
    result = classify_zero_shot(text, ["politics", XSS], model=models["sharp"], tokenizer=nli.tokenizer)
    assert sorted(result.labels) == sorted(["politics", XSS]) and result.text == text
    assert f"This example is {XSS}." in result.hypotheses


# --- Offline: embedding similarity on all-MiniLM-L6-v2 ---------------------------------------------------------

def embedding(model, tokenizer, text: str) -> torch.Tensor:
    """Mean of the last hidden states over the attention mask, L2-normalised: one text at a time."""
    encoding = tokenizer.unwrapped(text, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**encoding).last_hidden_state[0]
    mask = encoding["attention_mask"][0].float()[:, None]
    pooled = (hidden * mask).sum(0) / mask.sum()
    return pooled / pooled.norm()


def test_similarity_ranks_politics_first_with_cosines_computed_independently(minilm):
    result = classify_by_similarity(TEXT, ", ".join(LABELS), model=minilm.model, tokenizer=minilm.tokenizer,
                                    label=minilm.label)
    text_vector = embedding(minilm.model, minilm.tokenizer, TEXT)
    cosines = {label: float(embedding(minilm.model, minilm.tokenizer, DEFAULT_TEMPLATE.format(label)) @ text_vector)
               for label in LABELS}
    assert result.labels[0] == "politics"
    assert result.labels == tuple(sorted(LABELS, key=lambda label: -cosines[label]))
    assert [row[0] for row in result.logits] == pytest.approx([cosines[label] for label in result.labels], abs=1e-5)
    assert result.scores == pytest.approx(
        torch.tensor([cosines[label] / 0.05 for label in result.labels]).softmax(0).tolist(), abs=1e-5)
    assert sum(result.scores) == pytest.approx(1.0, abs=1e-6)
    assert result.hypotheses == tuple(DEFAULT_TEMPLATE.format(label) for label in result.labels)
    # Two forwards: the text alone, then the hypotheses (not padded to the text's length).
    assert (result.method, result.logit_names, result.multi_label, result.forward_passes) == (
        METHOD_EMBEDDING, ("cosine",), False, 2)
    assert result.model == minilm.label
    assert len(result.notes) == 1 and result.notes[0].startswith("Embedding similarity, not NLI:")


def test_similarity_keeps_the_template_and_duplicate_notes(minilm):
    result = classify_by_similarity(TEXT, "politics\nPolitics\nsports", model=minilm.model,
                                    tokenizer=minilm.tokenizer, template=CUSTOM_TEMPLATE)
    assert sorted(result.hypotheses) == sorted(CUSTOM_TEMPLATE.format(label) for label in ("politics", "sports"))
    assert "not NLI" in result.notes[0] and result.notes[1:] == ("Duplicate label 'Politics' ignored.",)
    with pytest.raises(BadInput, match="exactly once"):
        classify_by_similarity(TEXT, LABELS, model=minilm.model, tokenizer=minilm.tokenizer, template="{name}")
    with pytest.raises(BadInput, match="Text is empty"):
        classify_by_similarity(" ", LABELS, model=minilm.model, tokenizer=minilm.tokenizer)


# --- Rendering -------------------------------------------------------------------------------------------------

def test_single_label_explanation_shows_the_softmax_across_labels():
    result = made_result(["politics", "sports"], [(-1.0, 0.5, 2.0), (0.0, 0.0, 1.0)],
                         [sigmoid(1.0), 1 - sigmoid(1.0)])
    text = explanation_html(result)
    assert "Single-label: softmax of the entailment logits across all labels, so scores sum to 1." in text
    assert "need not" not in text
    assert "“politics”: e^2.000 / (e^2.000 + e^1.000) = 73.1%." in text
    assert "2 hypotheses scored in 1 batched forward pass in 250 ms." in text


def test_single_label_explanation_lists_four_terms_then_an_ellipsis():
    labels = ["a", "b", "c", "d", "e"]
    text = explanation_html(made_result(labels, [(0.0, 0.0, 2.0)] * 5, [0.2] * 5))
    assert "“a”: e^2.000 / (e^2.000 + e^2.000 + e^2.000 + e^2.000 + …) = 20.0%." in text


@pytest.mark.parametrize("names, row", [(NLI_LABELS, (-1.0, 0.5, 2.0)), (ENTAILMENT_FIRST, (2.0, 0.5, -1.0))])
def test_multi_label_explanation_uses_contradiction_and_entailment(names, row):
    result = made_result(["politics"], [row], [sigmoid(3.0)], multi_label=True, logit_names=names)
    text = explanation_html(result)
    assert ("Multi-label: for each label on its own, softmax over its [contradiction, entailment] logits, keeping "
            "the entailment share (neutral is ignored).") in text
    assert "“politics”: e^2.000 / (e^-1.000 + e^2.000) = 95.3%. Scores need not sum to 1." in text


@pytest.mark.parametrize("multi_label", [False, True])
def test_explanation_numbers_are_the_top_labels_logits(models, nli, multi_label):
    model = models["sharp"]
    result = classify_zero_shot(TEXT, LABELS, model=model, tokenizer=nli.tokenizer, multi_label=multi_label)
    top = result.labels[0]
    contradiction, _, entailment = direct_logits(model, nli.tokenizer, TEXT, DEFAULT_TEMPLATE.format(top))
    text = explanation_html(result)
    if multi_label:
        assert (f"“{top}”: e^{entailment:.3f} / (e^{contradiction:.3f} + e^{entailment:.3f}) = "
                f"{percent(result.scores[0])}. Scores need not sum to 1.") in text
    else:
        terms = " + ".join(f"e^{direct_logits(model, nli.tokenizer, TEXT, DEFAULT_TEMPLATE.format(label))[2]:.3f}"
                           for label in result.labels)
        assert f"“{top}”: e^{entailment:.3f} / ({terms}) = {percent(result.scores[0])}." in text
        assert "so scores sum to 1" in text and "need not" not in text


def test_similarity_explanation_shows_the_cosine(minilm):
    result = classify_by_similarity(TEXT, LABELS, model=minilm.model, tokenizer=minilm.tokenizer)
    cosine = float(embedding(minilm.model, minilm.tokenizer, DEFAULT_TEMPLATE.format("politics"))
                   @ embedding(minilm.model, minilm.tokenizer, TEXT))
    text = explanation_html(result)
    assert f"“politics”: cosine {cosine:+.3f} → {percent(result.scores[0])}." in text
    assert "softmax of cosine / 0.05 across labels" in text


def test_explanation_of_nothing_is_empty():
    assert explanation_html(made_result([], [], [])) == ""


@pytest.mark.parametrize("multi_label", [False, True])
def test_renderers_escape_a_label_with_markup(multi_label):
    result = made_result([XSS, "politics"], [(-1.0, 0.5, 2.0), (0.0, 0.0, 1.0)], [0.7, 0.3],
                         multi_label=multi_label)
    text = explanation_html(result)
    assert "<img" not in text and f"“{html.escape(XSS)}”" in text
    table = hypotheses_table(result)
    # gr.Dataframe's default "str" datatype shows cells as text: the table holds the label as typed.
    assert table["label"].tolist() == [XSS, "politics"]
    assert table["hypothesis fed to the model"].tolist() == [f"This example is {XSS}.", "This example is politics."]
    assert "<img" not in table.to_html()
    figure = scores_figure(result)
    assert "<img" not in figure.to_html(include_plotlyjs=False) and "<img" not in figure.to_json()


def test_table_has_one_row_per_label_with_logits_by_name():
    result = made_result(["politics", "sports"], [(-1.23456, 0.5, 2.0), (0.0, 0.0, 1.0)], [0.731058, 0.268941])
    table = hypotheses_table(result)
    assert list(table.columns) == ["label", "hypothesis fed to the model", *NLI_LABELS, "score"]
    assert table.values.tolist() == [["politics", "This example is politics.", -1.2346, 0.5, 2.0, 0.7311],
                                     ["sports", "This example is sports.", 0.0, 0.0, 1.0, 0.2689]]


@pytest.mark.parametrize("multi_label, method, title", [
    (False, METHOD_NLI, "Scores: softmax across labels (single-label)"),
    (True, METHOD_NLI, "Scores: independent per label (multi-label)"),
    (False, METHOD_EMBEDDING, "Scores: embedding similarity (not NLI)"),
])
def test_figure_bars_best_on_top_with_the_mode_in_the_title(multi_label, method, title):
    result = made_result(["politics", "sports", "art"], [(0.0, 0.0, 1.0)] * 3, [0.5, 0.3, 0.2],
                         multi_label=multi_label, method=method)
    figure = scores_figure(result)
    bars = figure.data[0]
    assert list(bars.y) == ["art", "sports", "politics"] and list(bars.x) == [0.2, 0.3, 0.5]
    assert list(bars.text) == ["20.0%", "30.0%", "50.0%"]
    assert figure.layout.title.text.replace("<br>", " ") == title  # broken into lines that fit a phone


def test_figure_shows_labels_with_markup_as_typed():
    label = "<b>bold</b>"
    figure = scores_figure(made_result([label], [(0.0, 0.0, 1.0)], [0.5], multi_label=True))
    (shown,) = figure.data[0].y
    assert "<" not in shown and html.unescape(shown) == label


# --- Budgets ------------------------------------------------------------------------------------------------------

def test_labels_over_budget_are_refused_naming_how_many_fit(models, nli):
    model = models["sharp"]
    budget = Budget(gflop=forward_flops(shape_of(model), 20, 3.5) / 1e9)  # UNEVEN pads to 20 tokens: 3 pairs fit
    with pytest.raises(OverBudget, match=r"^Scoring 4 labels against a text of 20 tokens would take .* At most 3 "
                                         r"labels for this text, or shorten the text\.$"):
        classify_zero_shot(TEXT, UNEVEN, model=model, tokenizer=nli.tokenizer, budget=budget)
    assert len(classify_zero_shot(TEXT, UNEVEN[:3], model=model, tokenizer=nli.tokenizer, budget=budget).labels) == 3


def test_pairs_run_in_batches_that_fit_memory_with_the_same_scores(models, nli):
    model = models["sharp"]
    shapes = []
    handle = model.register_forward_pre_hook(lambda module, args, kwargs: shapes.append(
        tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        batched = classify_zero_shot(TEXT, UNEVEN, model=model, tokenizer=nli.tokenizer, budget=Budget(memory_gb=1e-9))
    finally:
        handle.remove()
    whole = classify_zero_shot(TEXT, UNEVEN, model=model, tokenizer=nli.tokenizer)
    assert shapes == [(1, 20)] * 4 and batched.forward_passes == 4 and whole.forward_passes == 1
    assert batched.labels == whole.labels and max(whole.scores) - min(whole.scores) > 1e-4
    assert batched.scores == pytest.approx(whole.scores, abs=1e-6)


def test_a_long_text_is_tokenized_from_a_prefix_once_per_label(models, nli):
    model = models["sharp"]
    text = "The government announced new economic policies today. " * 360  # 19,800 characters
    lengths = []

    class Spy:
        def __getattr__(self, name):
            return getattr(nli.tokenizer, name)

        def __call__(self, first, *rest, **kwargs):
            lengths.extend(len(t) for t in (first if isinstance(first, list) else [first]))
            return nli.tokenizer(first, *rest, **kwargs)

    result = classify_zero_shot(text, LABELS, model=model, tokenizer=Spy())
    assert max(lengths) <= 513 * 16 < len(text)
    reference = classify_zero_shot(text[:8000], LABELS, model=model, tokenizer=nli.tokenizer)  # > 512 tokens too
    assert result.scores == pytest.approx(reference.scores, abs=1e-6) and result.labels == reference.labels


def test_similarity_does_not_pad_the_labels_to_the_texts_length(minilm):
    text = TEXT + " " + "It was discussed in parliament for many hours before the final vote. " * 8
    shapes = []
    handle = minilm.model.register_forward_pre_hook(lambda module, args, kwargs: shapes.append(
        tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        result = classify_by_similarity(text, LABELS, model=minilm.model, tokenizer=minilm.tokenizer)
    finally:
        handle.remove()
    text_width, hypotheses_width = shapes[0][1], shapes[1][1]
    assert shapes[0][0] == 1 and shapes[1][0] == 4 and hypotheses_width < 12 and text_width > 100
    # The same scores as one batch of the text and the hypotheses padded together (the method before).
    encoding = minilm.tokenizer.unwrapped([text, *(DEFAULT_TEMPLATE.format(label) for label in LABELS)],
                                          padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = minilm.model(**encoding).last_hidden_state
    mask = encoding["attention_mask"][..., None].float()
    pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    cosines = dict(zip(LABELS, (pooled[1:] @ pooled[0]).tolist()))
    assert [row[0] for row in result.logits] == pytest.approx([cosines[label] for label in result.labels], abs=1e-6)
