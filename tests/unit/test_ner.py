"""NER: recognize against transformers' token-classification pipeline (every strategy, long texts in windows),
merge rules on a model whose per-token logits are known, label alignment for training, and spaCy's entities."""

from __future__ import annotations

import copy
import json
import math
import types

import pytest
import torch
from transformers import pipeline

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models.sources import NER_LABELS
from bertviz_ui.registry import Head
from bertviz_ui.render.ner import token_table
from bertviz_ui.tasks.budget import Budget, OverBudget, forward_flops, shape_of
from bertviz_ui.tasks.ner import (
    IGNORED,
    STRATEGIES,
    Entity,
    align_labels,
    entity_type,
    filter_entities,
    labels_are_bio,
    recognize,
    spacy_entities,
    split_words,
)
from bertviz_ui.tasks.pieces import PIECES, WORDS
from tests.unit.crafted import rule_token_classifier

SEED = "Elon Musk founded Tesla in California."
SEED_LABELS = "B-PER I-PER O B-ORG O B-LOC O"
SEED_TOKENS = ("[CLS]", "el", "##on", "mu", "##sk", "founded", "tesla", "in", "california", ".", "[SEP]")
# Character spans in SEED.
ELON, MUSK, ELON_MUSK, TESLA, CALIFORNIA = (0, 4), (5, 9), (0, 9), (18, 23), (27, 37)
# Accents (composed and decomposed), an emoji ([UNK]), Hebrew and Arabic (right to left), a zero-width space that
# the normalizer deletes (so "world" becomes a "##" piece of the Arabic word before it) and Chinese characters.
UNICODE = ("Elon Musk founded Tesla in California. Café 😀 in Zürich, שלום עולם and مرحبا\u200bworld 東京 naïve "
           "résumé Cafe\u0301")
# 1131 tokens with [CLS] and [SEP]: three windows of 512 with 128 tokens of overlap.
LONG = " ".join(f"Word{i} Elon Musk visited Paris." for i in range(120))
LONG_TOKENS = 1131
LONG_NOTE = ("The text is 1131 tokens, more than the model's 512: it was read in 3 overlapping windows (128 tokens of "
             "overlap) and entities were merged across window boundaries.")
# "Elon Musk" at tokens 508-511: the first window (tokens 1-510) ends after "mu", the second holds all four pieces.
STRADDLE = "a " * 507 + "Elon Musk" + " a" * 300
STRADDLE_SPAN = (1014, 1023)
MERGING = ("simple", "first", "average", "max")


def softmax(logits: dict[str, float], labels: tuple[str, ...] = NER_LABELS) -> dict[str, float]:
    """Probabilities by label when ``logits`` holds the only non-zero logits."""
    exps = {label: math.exp(logits.get(label, 0.0)) for label in labels}
    total = sum(exps.values())
    return {label: value / total for label, value in exps.items()}


def word_label(strategy: str, *pieces: dict[str, float]) -> tuple[str, float]:
    """The label and score a word of pieces with these logits gets, by transformers' documented rules: "first"
    takes the first piece's argmax, "max" the argmax of the piece with the highest top score, "average" the argmax
    of the mean probability vector."""
    probabilities = [softmax(logits) for logits in pieces]
    if strategy == "first":
        chosen = probabilities[0]
    elif strategy == "max":
        chosen = max(probabilities, key=lambda p: max(p.values()))
    else:
        chosen = {label: sum(p[label] for p in probabilities) / len(pieces) for label in NER_LABELS}
    label = max(NER_LABELS, key=lambda name: chosen[name])  # the first label on a tie, like argmax
    return label, chosen[label]


def by_piece(tokenizer, table: dict[str, dict[str, float]]):
    """A token rule: the logits of each wordpiece named in ``table`` (every other piece gets all zeros, so O wins
    no tie: argmax picks the first label, O)."""
    ids = {tokenizer.convert_tokens_to_ids(piece): logits for piece, logits in table.items()}
    assert len(ids) == len(table) and tokenizer.unk_token_id not in ids  # every piece is in the vocabulary
    return lambda row, position: ids.get(row[position], {})


def pipeline_entities(model, tokenizer, text: str, strategy: str, **kwargs) -> list[tuple[str, int, int, float]]:
    """(label, start, end, score) from transformers' own token-classification pipeline."""
    classifier = pipeline("token-classification", model=model, tokenizer=tokenizer.unwrapped,
                          aggregation_strategy=strategy)
    return [(str(e.get("entity_group", e.get("entity"))), int(e["start"]), int(e["end"]), float(e["score"]))
            for e in classifier(text, **kwargs)]


def spans(result) -> list[tuple[str, int, int]]:
    return [(e.label, e.start, e.end) for e in result.entities]


def assert_equal_to_pipeline(result, expected) -> None:
    assert [(e.label, e.start, e.end) for e in result.entities] == [(label, s, e) for label, s, e, _ in expected]
    assert [e.score for e in result.entities] == pytest.approx([score for *_, score in expected], abs=1e-5)


def assert_consistent(result, text: str) -> None:
    """Entities are slices of the text; tokens are in order, inside the text, each span once."""
    assert result.text == text
    for entity in result.entities:
        assert entity.text == text[entity.start:entity.end]
        assert 0 <= entity.start < entity.end <= len(text)
    keys = [(t.start, t.end) for t in result.tokens]
    assert len(set(keys)) == len(keys)
    assert all(0 <= t.start < t.end <= len(text) for t in result.tokens)
    assert all(a.end <= b.start for a, b in zip(result.tokens, result.tokens[1:]))



pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(cache):
    return cache.load("tiny:token_classification", Head.TOKEN_CLASSIFICATION)


@pytest.fixture(scope="module")
def models(tiny):
    """The tiny checkpoint and a "sharp" copy.

    The random head gives every token almost the same distribution (top scores 0.13-0.15, nearly all I-LOC), so
    every strategy merges alike; scaling the classifier by 30 spreads scores over 0.26-1.0 and labels over B-/I-
    of four types, so the strategies disagree and a wrong merge would show.
    """
    sharp = copy.deepcopy(tiny.model)
    with torch.no_grad():
        sharp.classifier.weight.mul_(30)
        sharp.classifier.bias.mul_(30)
    return {"tiny": tiny.model, "sharp": sharp.eval()}


# --- recognize equals the pipeline ------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", ["tiny", "sharp"])
@pytest.mark.parametrize("text", [SEED, UNICODE], ids=["seed", "unicode"])
def test_recognize_equals_the_pipeline(models, uncased, strategy, name, text):
    model = models[name]
    result = recognize(text, model=model, tokenizer=uncased, strategy=strategy, label="tiny")
    assert_equal_to_pipeline(result, pipeline_entities(model, uncased, text, strategy))
    assert_consistent(result, text)
    assert (result.model, result.strategy, result.windows, result.labels) == ("tiny", strategy, 1, NER_LABELS)
    assert result.entities  # the comparison compared something


def test_the_sharp_model_makes_the_strategies_disagree(models, uncased):
    """Guards the test above: on the sharp model the strategies give different entities."""
    found = {s: spans(recognize(UNICODE, model=models["sharp"], tokenizer=uncased, strategy=s)) for s in STRATEGIES}
    assert len({tuple(v) for v in found.values()}) >= 3
    labels = {t.label for t in recognize(UNICODE, model=models["sharp"], tokenizer=uncased, strategy="none").tokens}
    assert len(labels) >= 5


def test_tokens_map_to_the_original_characters(models, uncased):
    """Offsets point into the text as typed: accents, emoji, right-to-left script, a deleted zero-width space."""
    result = recognize(UNICODE, model=models["sharp"], tokenizer=uncased, strategy="none")
    encoding = uncased.unwrapped(UNICODE)
    assert len(result.tokens) == len(encoding["input_ids"]) - 2  # every token but [CLS] and [SEP], once
    shown = [(t.token, UNICODE[t.start:t.end]) for t in result.tokens]
    for pair in [("cafe", "Café"), ("😀", "😀"), ("zurich", "Zürich"), ("naive", "naïve"), ("resume", "résumé")]:
        assert pair in shown  # [UNK] shows the text it stands for
    assert [text for token, text in shown if token in ("ש", "##ל", "##ו", "##ם")][:4] == list("שלום")
    world = next(t for t in result.tokens if t.token == "##world")
    assert UNICODE[world.start - 1:world.end] == "\u200bworld"
    # A decomposed accent is stripped by the normalizer and left out of the span: "Cafe" + U+0301 ends the text.
    assert shown[-1] == ("cafe", "Cafe") and result.tokens[-1].end == len(UNICODE) - 1


def test_token_index_is_the_position_in_the_encoding(models, uncased):
    result = recognize(SEED, model=models["sharp"], tokenizer=uncased, strategy="first")
    assert [(t.index, t.token) for t in result.tokens] == list(enumerate(SEED_TOKENS))[1:-1]


def test_to_dict_is_json(models, uncased):
    result = recognize(SEED, model=models["sharp"], tokenizer=uncased, strategy="first", label="tiny")
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["entities"][0] == {"label": result.entities[0].label, "text": result.entities[0].text,
                                      "start": result.entities[0].start, "end": result.entities[0].end,
                                      "score": result.entities[0].score}
    assert payload["tokens"][0]["token"] == "el" and payload["labels"] == list(NER_LABELS)
    assert (payload["model"], payload["strategy"], payload["windows"], payload["notes"]) == ("tiny", "first", 1, [])


# --- Merge rules on known logits --------------------------------------------------------------------------------

def crafted(uncased, table):
    """The seed sentence's pieces with ``table``'s logits; Tesla is B-ORG and California B-LOC (logit 4)."""
    return rule_token_classifier(by_piece(uncased, {"tesla": {"B-ORG": 4.0}, "california": {"B-LOC": 4.0},
                                                    **table}), NER_LABELS)


def entities_of(model, uncased, strategy, text=SEED):
    return recognize(text, model=model, tokenizer=uncased, strategy=strategy)


P4 = softmax({"B-ORG": 4.0})["B-ORG"]  # a piece with one label at logit 4
FRAGMENT_NOTE = ("'simple' merges by label only, so a word can be split into fragments: 'on'. 'first', 'average' "
                 "and 'max' decide per word.")


def test_crafted_model_runs_one_forward_and_gives_the_rule_labels(uncased):
    model = crafted(uncased, {"el": {"B-PER": 4.0}, "mu": {"I-PER": 4.0}})
    result = entities_of(model, uncased, "none")
    assert model.shapes == [(1, len(SEED_TOKENS))]
    assert [(t.token, t.label) for t in result.tokens] == [
        ("el", "B-PER"), ("##on", "O"), ("mu", "I-PER"), ("##sk", "O"), ("founded", "O"), ("tesla", "B-ORG"),
        ("in", "O"), ("california", "B-LOC"), (".", "O")]
    assert [t.score for t in result.tokens] == pytest.approx([P4, 1 / 9, P4, 1 / 9, 1 / 9, P4, 1 / 9, P4, 1 / 9],
                                                             abs=1e-6)
    # Strategy none: each non-O token is its own entity, with its own B-/I- label.
    assert [(e.label, e.text, e.start, e.end) for e in result.entities] == [
        ("B-PER", "El", 0, 2), ("I-PER", "Mu", 5, 7), ("B-ORG", "Tesla", *TESLA), ("B-LOC", "California", *CALIFORNIA)]


def test_first_gives_a_word_its_first_pieces_label_over_the_whole_word(uncased):
    """el B-PER, ##on O: "first" makes all of "Elon" one PER entity with el's score."""
    model = crafted(uncased, {"el": {"B-PER": 4.0}, "##on": {"O": 4.0}})
    result = entities_of(model, uncased, "first")
    assert [(e.label, e.text, e.start, e.end) for e in result.entities] == [
        ("PER", "Elon", *ELON), ("ORG", "Tesla", *TESLA), ("LOC", "California", *CALIFORNIA)]
    assert [e.score for e in result.entities] == pytest.approx([P4, P4, P4], abs=1e-6)
    assert result.notes == ()
    # "simple" keeps only the piece: "El".
    assert spans(entities_of(model, uncased, "simple"))[0] == ("PER", 0, 2)


def test_simple_leaves_a_fragment_and_says_so(uncased):
    """el all 0 (O at 1/9), ##on B-PER: "simple" finds "on" inside "Elon"; "first" follows el and finds no person,
    "max" and "average" follow ##on's surer PER over the whole word."""
    model = crafted(uncased, {"##on": {"B-PER": 4.0}})
    simple = entities_of(model, uncased, "simple")
    assert [(e.label, e.text, e.start, e.end) for e in simple.entities] == [
        ("PER", "on", 2, 4), ("ORG", "Tesla", *TESLA), ("LOC", "California", *CALIFORNIA)]
    assert [e.score for e in simple.entities] == pytest.approx([P4, P4, P4], abs=1e-6)
    assert "##on" in [t.token for t in simple.tokens]
    assert simple.notes == (FRAGMENT_NOTE,)
    first = entities_of(model, uncased, "first")
    assert spans(first) == [("ORG", *TESLA), ("LOC", *CALIFORNIA)] and first.notes == ()
    for strategy in ("average", "max"):
        result = entities_of(model, uncased, strategy)
        assert spans(result) == [("PER", *ELON), ("ORG", *TESLA), ("LOC", *CALIFORNIA)] and result.notes == ()
        assert result.entities[0].score == pytest.approx(word_label(strategy, {}, {"B-PER": 4.0})[1], abs=1e-6)
    assert_equal_to_pipeline(simple, pipeline_entities(model, uncased, SEED, "simple"))


def test_simple_notes_a_fragment_that_ends_inside_a_word(uncased):
    """el B-PER, ##on O: "El" is cut from "Elon" at its end (the note once looked only at where spans start)."""
    model = crafted(uncased, {"el": {"B-PER": 4.0}, "##on": {"O": 4.0}})
    result = entities_of(model, uncased, "simple")
    assert [(e.label, e.text) for e in result.entities] == [("PER", "El"), ("ORG", "Tesla"), ("LOC", "California")]
    assert result.notes == (FRAGMENT_NOTE.replace("'on'", "'El'"),)


def test_average_and_max_decide_per_word_as_transformers_documents(uncased):
    """"Elon": el leans PER (B-PER 3); ##on is surer of ORG (B-ORG 6) but also likes PER (B-PER 5).

    first: el's label. max: the label of the piece with the highest top score (##on's ORG, 0.722 > 0.715).
    average: the label with the highest mean probability over the pieces (PER 0.490 > ORG 0.379).
    """
    el, on = {"B-PER": 3.0}, {"B-ORG": 6.0, "B-PER": 5.0}
    p_el, p_on = softmax(el), softmax(on)
    model = crafted(uncased, {"el": el, "##on": on})
    expected = {
        "first": ("PER", p_el["B-PER"]),
        "max": ("ORG", p_on["B-ORG"]),
        "average": ("PER", (p_el["B-PER"] + p_on["B-PER"]) / 2),
    }
    assert p_on["B-ORG"] > p_el["B-PER"] and (p_el["B-PER"] + p_on["B-PER"]) > (p_el["B-ORG"] + p_on["B-ORG"])
    for strategy, (label, score) in expected.items():
        assert word_label(strategy, el, on) == ("B-" + label, pytest.approx(score, abs=1e-12))
    for strategy, (label, score) in expected.items():
        result = entities_of(model, uncased, strategy)
        assert [(e.label, e.text, e.start, e.end) for e in result.entities] == [
            (label, "Elon", *ELON), ("ORG", "Tesla", *TESLA), ("LOC", "California", *CALIFORNIA)]
        assert result.entities[0].score == pytest.approx(score, abs=1e-6)
        assert_equal_to_pipeline(result, pipeline_entities(model, uncased, SEED, strategy))
    simple = entities_of(model, uncased, "simple")
    assert spans(simple)[:2] == [("PER", 0, 2), ("ORG", 2, 4)]
    assert simple.notes == (FRAGMENT_NOTE.replace("'on'", "'El', 'on'"),)  # both halves of the split word
    assert simple.entities[1].score == pytest.approx(p_on["B-ORG"], abs=1e-6)


@pytest.mark.parametrize("strategy", MERGING)
def test_b_then_i_merge_into_one_entity(uncased, strategy):
    """el B-PER, ##on I-PER, mu I-PER, ##sk I-PER: "Elon Musk", scored by the mean over its tokens (simple) or its
    words (first, average, max)."""
    table = {"el": {"B-PER": 4.0}, "##on": {"I-PER": 3.0}, "mu": {"I-PER": 2.0}, "##sk": {"I-PER": 1.0}}
    if strategy == "simple":
        score = sum(softmax(logits)[label] for logits in table.values() for label in logits) / 4
    else:
        elon, musk = word_label(strategy, table["el"], table["##on"]), word_label(strategy, table["mu"], table["##sk"])
        assert (elon[0], musk[0]) == ("B-PER", "I-PER")
        score = (elon[1] + musk[1]) / 2
    result = entities_of(crafted(uncased, table), uncased, strategy)
    assert [(e.label, e.text, e.start, e.end) for e in result.entities] == [
        ("PER", "Elon Musk", *ELON_MUSK), ("ORG", "Tesla", *TESLA), ("LOC", "California", *CALIFORNIA)]
    assert result.entities[0].score == pytest.approx(score, abs=1e-6)


@pytest.mark.parametrize("strategy", MERGING)
def test_two_b_tags_stay_two_entities_and_i_alone_starts_one(uncased, strategy):
    both_b = crafted(uncased, {"el": {"B-PER": 4.0}, "##on": {"I-PER": 4.0}, "mu": {"B-PER": 4.0},
                               "##sk": {"I-PER": 4.0}})
    assert spans(entities_of(both_b, uncased, strategy))[:2] == [("PER", *ELON), ("PER", *MUSK)]
    only_i = crafted(uncased, {piece: {"I-PER": 4.0} for piece in ("el", "##on", "mu", "##sk")})
    assert spans(entities_of(only_i, uncased, strategy))[:1] == [("PER", *ELON_MUSK)]


def test_bioes_labels_merge_into_one_entity_or_fall_back_to_none(uncased):
    """Either fix passes: merge BIOES properly, or treat it as not BIO (strategy none, with the note)."""
    labels = ("O", "B-PER", "I-PER", "E-PER", "S-PER")
    model = rule_token_classifier(by_piece(uncased, {"el": {"B-PER": 4.0}, "##on": {"I-PER": 4.0},
                                                     "mu": {"I-PER": 4.0}, "##sk": {"E-PER": 4.0}}), labels)
    result = recognize(SEED, model=model, tokenizer=uncased, strategy="simple")
    assert spans(result) == [("PER", *ELON_MUSK)] or (result.strategy == "none" and result.notes)


# --- Long text, read in windows ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def long_results(models, uncased):
    return {s: recognize(LONG, model=models["sharp"], tokenizer=uncased, strategy=s) for s in STRATEGIES}


def test_long_text_is_read_in_windows_with_a_note(long_results, uncased):
    assert len(uncased.unwrapped(LONG)["input_ids"]) == LONG_TOKENS
    for strategy, result in long_results.items():
        assert result.windows == 3 and result.strategy == strategy
        assert result.notes[0] == LONG_NOTE
        assert_consistent(result, LONG)
        assert len(result.tokens) == LONG_TOKENS - 2  # every token once, overlaps included


@pytest.mark.parametrize("strategy", MERGING)
def test_long_text_entities_equal_the_pipeline_with_stride_128(models, uncased, long_results, strategy):
    expected = pipeline_entities(models["sharp"], uncased, LONG, strategy, stride=128)
    assert_equal_to_pipeline(long_results[strategy], expected)
    assert len(expected) > 100


def test_strategy_none_on_a_long_text_gives_each_token_once(long_results):
    """The pipeline refuses stride with strategy none; recognize still reads every window."""
    result = long_results["none"]
    assert [(e.label, e.start, e.end, e.score) for e in result.entities] == [
        (t.label, t.start, t.end, t.score) for t in result.tokens if t.label != "O"]
    assert result.tokens[-1].token == "." and result.tokens[-1].end == len(LONG)


@pytest.mark.parametrize("strategy", MERGING)
def test_an_entity_across_a_window_boundary_is_found_once_whole(uncased, strategy):
    """The first window ends inside "Elon Musk" ("Elon Mu"); the longer span from the second window wins."""
    model = rule_token_classifier(by_piece(uncased, {"el": {"B-PER": 4.0}, "##on": {"I-PER": 4.0},
                                                     "mu": {"I-PER": 4.0}, "##sk": {"I-PER": 4.0}}), NER_LABELS)
    result = recognize(STRADDLE, model=model, tokenizer=uncased, strategy=strategy)
    assert model.shapes == [(2, 512)] and result.windows == 2  # both windows in one forward
    assert [(e.label, e.text, e.start, e.end) for e in result.entities] == [("PER", "Elon Musk", *STRADDLE_SPAN)]
    # Every piece scores P4 on its own label; "average" also mixes in ##on's 0.016 on B-PER for "Elon".
    elon = word_label("average", {"B-PER": 4.0}, {"I-PER": 4.0})[1] if strategy == "average" else P4
    assert result.entities[0].score == pytest.approx((elon + P4) / 2, abs=1e-6)
    assert [t.token for t in result.tokens if t.label != "O"] == ["el", "##on", "mu", "##sk"]


def test_token_index_of_a_long_text_is_its_position_in_the_whole_text(long_results):
    assert [t.index for t in long_results["none"].tokens] == list(range(1, LONG_TOKENS - 1))


def test_tokenizer_without_a_limit_still_reads_windows_of_512(tiny, uncased):
    unlimited = copy.deepcopy(uncased.unwrapped)
    unlimited.model_max_length = int(1e30)  # what transformers sets when tokenizer_config.json has none
    result = recognize("word " * 600, model=tiny.model, tokenizer=unlimited, strategy="first")
    assert result.windows == 2


# --- Labels that are not BIO, refusals and bad input --------------------------------------------------------------

@pytest.mark.parametrize("labels, bio", [
    (NER_LABELS, True), (("O",), True),
    (("NOUN", "VERB", "ADJ"), False), (("LABEL_0", "LABEL_1"), False), (("O", "PER"), False),
    (("O", "B-"), False), (("o", "B-PER"), False), (("O", "b-PER"), False)])
def test_labels_are_bio(labels, bio):
    assert labels_are_bio(labels) is bio


@pytest.mark.parametrize("strategy", MERGING)
def test_non_bio_labels_force_strategy_none_with_a_note(uncased, strategy):
    labels = ("NOUN", "VERB", "PROPN")
    table = {"el": {"PROPN": 4.0}, "##on": {"PROPN": 4.0}, "founded": {"VERB": 4.0}, "tesla": {"PROPN": 4.0}}
    model = rule_token_classifier(by_piece(uncased, table), labels)
    result = recognize(SEED, model=model, tokenizer=uncased, strategy=strategy)
    assert result.strategy == "none" and result.labels == labels and not labels_are_bio(labels)
    (note,) = result.notes
    assert note.startswith("This model's labels (NOUN, VERB, PROPN")
    assert note.endswith("are not BIO tags, so tokens can't be merged into entities: showing each token's "
                         "prediction (strategy none).")
    # No O label: every token is an "entity", labelled by its argmax (NOUN on a tie at 0).
    assert [(e.label, e.text) for e in result.entities] == [
        ("PROPN", "El"), ("PROPN", "on"), ("NOUN", "Mu"), ("NOUN", "sk"), ("VERB", "founded"), ("PROPN", "Tesla"),
        ("NOUN", "in"), ("NOUN", "California"), ("NOUN", ".")]
    assert result.entities[0].score == pytest.approx(softmax({"PROPN": 4.0}, labels)["PROPN"], abs=1e-6)
    assert_equal_to_pipeline(result, pipeline_entities(model, uncased, SEED, "none"))


def test_a_checkpoint_without_a_trained_head_is_refused(cache, uncased):
    loaded = cache.load("tiny:encoder", Head.TOKEN_CLASSIFICATION)
    assert any("classifier" in key for key in loaded.newly_initialized)
    with pytest.raises(ModelUnavailable, match="no trained token-classification head"):
        recognize(SEED, model=loaded.model, tokenizer=loaded.tokenizer, newly_initialized=loaded.newly_initialized)


def test_a_slow_tokenizer_is_refused(tiny):
    with pytest.raises(ModelUnavailable, match="only a slow tokenizer"):
        recognize(SEED, model=tiny.model, tokenizer=types.SimpleNamespace(is_fast=False))


@pytest.mark.parametrize("text, message", [
    ("", "Text is empty"), ("  \n\t", "Text is empty"), (None, "Text is empty"), (42, "Text must be text"),
    ("x" * 20_001, "Text is 20,001 characters; this tab takes up to 20,000")])
def test_bad_text_is_refused(tiny, text, message):
    with pytest.raises(BadInput, match=message):
        recognize(text, model=tiny.model, tokenizer=tiny.tokenizer)


def test_the_longest_text_is_accepted(tiny):
    text = "ab " * 6666 + "ab"  # 20,000 characters, 6,667 tokens: 1 + ceil((6667 - 510) / 382) windows
    assert len(text) == 20_000
    result = recognize(text, model=tiny.model, tokenizer=tiny.tokenizer, strategy="first")
    assert result.windows == 18 and len(result.tokens) == 6667


@pytest.mark.parametrize("strategy", ["SIMPLE", "", None, "mean", "Simple"])
def test_unknown_strategy_is_refused(tiny, strategy):
    with pytest.raises(BadInput, match="Aggregation must be one of none, simple, first, average, max"):
        recognize(SEED, model=tiny.model, tokenizer=tiny.tokenizer, strategy=strategy)


# --- filter_entities and entity_type ----------------------------------------------------------------------------

FOUND = (Entity("PER", "Elon Musk", 0, 9, 0.9), Entity("ORG", "Tesla", 18, 23, 0.5),
         Entity("LOC", "California", 27, 37, 0.3), Entity("PER", "Musk", 40, 44, 0.1))


@pytest.mark.parametrize("labels, min_score, kept", [
    (None, 0.0, (0, 1, 2, 3)), ((), 0.0, (0, 1, 2, 3)), ([], 0.0, (0, 1, 2, 3)), (["PER"], 0.0, (0, 3)),
    ({"ORG", "LOC"}, 0.0, (1, 2)), (("MISC",), 0.0, ()), (None, 0.5, (0, 1)), (None, 0.50001, (0,)),
    (["PER"], 0.5, (0,)), (["PER", "LOC"], 0.2, (0, 2)), (None, 1.0, ())])
def test_filter_entities_by_type_and_minimum_score(labels, min_score, kept):
    assert filter_entities(FOUND, labels=labels, min_score=min_score) == tuple(FOUND[i] for i in kept)


@pytest.mark.parametrize("label, kind", [
    ("B-PER", "PER"), ("I-PER", "PER"), ("PER", "PER"), ("O", "O"), ("B-LOC", "LOC"), ("NOUN", "NOUN"), ("B-", "B-"), ("B-WORK-OF-ART", "WORK-OF-ART")])
def test_entity_type(label, kind):
    assert entity_type(label) == kind


# --- align_labels -------------------------------------------------------------------------------------------------

def rows(alignment):
    return [(t.token, t.word_id, t.word, t.label, t.label_id) for t in alignment.tokens]


def test_words_are_split_like_the_models_pre_tokenizer(uncased):
    assert split_words(SEED, uncased) == ("Elon", "Musk", "founded", "Tesla", "in", "California", ".")


def test_str_split_gives_six_words_so_the_seeds_seven_labels_do_not_line_up(uncased):
    """The seed text split words with str.split(): "California." stays whole, one label short."""
    assert SEED.split() == ["Elon", "Musk", "founded", "Tesla", "in", "California."]
    assert len(SEED_LABELS.split()) == 7
    with pytest.raises(BadInput, match=r"^7 words but 6 labels: give exactly one label per word\.$"):
        align_labels(SEED, "B-PER I-PER O B-ORG O B-LOC", tokenizer=uncased)


def test_align_labels_first_piece_only(uncased):
    alignment = align_labels(SEED, SEED_LABELS, tokenizer=uncased)
    assert alignment.words == ("Elon", "Musk", "founded", "Tesla", "in", "California", ".")
    assert alignment.word_labels == tuple(SEED_LABELS.split()) and alignment.label_all_subwords is False
    # Ids by first appearance, O first: O 0, B-PER 1, I-PER 2, B-ORG 3, B-LOC 4.
    assert rows(alignment) == [
        ("[CLS]", None, "", IGNORED, -100), ("el", 0, "Elon", "B-PER", 1), ("##on", 0, "Elon", IGNORED, -100),
        ("mu", 1, "Musk", "I-PER", 2), ("##sk", 1, "Musk", IGNORED, -100), ("founded", 2, "founded", "O", 0),
        ("tesla", 3, "Tesla", "B-ORG", 3), ("in", 4, "in", "O", 0), ("california", 5, "California", "B-LOC", 4),
        (".", 6, ".", "O", 0), ("[SEP]", None, "", IGNORED, -100)]
    assert tuple(t.token for t in alignment.tokens) == SEED_TOKENS
    assert IGNORED == "IGN"


def test_align_labels_every_piece(uncased):
    alignment = align_labels(SEED, SEED_LABELS, tokenizer=uncased, label_all_subwords=True)
    assert alignment.label_all_subwords is True
    assert [(t.token, t.label, t.label_id) for t in alignment.tokens] == [
        ("[CLS]", IGNORED, -100), ("el", "B-PER", 1), ("##on", "I-PER", 2), ("mu", "I-PER", 2),
        ("##sk", "I-PER", 2), ("founded", "O", 0), ("tesla", "B-ORG", 3), ("in", "O", 0), ("california", "B-LOC", 4),
        (".", "O", 0), ("[SEP]", IGNORED, -100)]


def test_align_labels_adds_an_i_tag_the_labels_lacked(uncased):
    """B-PER B-PER: the continuation pieces need I-PER, which gets the next id."""
    alignment = align_labels("Elon Musk founded Tesla", "B-PER B-PER O B-ORG", tokenizer=uncased,
                             label_all_subwords=True)
    assert [(t.token, t.label, t.label_id) for t in alignment.tokens][1:5] == [
        ("el", "B-PER", 1), ("##on", "I-PER", 3), ("mu", "B-PER", 1), ("##sk", "I-PER", 3)]
    assert alignment.tokens[6].label_id == 2  # B-ORG


def test_align_labels_with_the_models_label_ids(uncased):
    label2id = {label: i for i, label in enumerate(NER_LABELS)}
    alignment = align_labels(SEED, SEED_LABELS, tokenizer=uncased, label_all_subwords=True, label2id=label2id)
    assert [t.label_id for t in alignment.tokens] == [-100, 3, 4, 4, 4, 0, 5, 0, 7, 0, -100]


def test_align_labels_leaves_the_callers_label_ids_alone(uncased):
    label2id = {"O": 0, "B-PER": 1, "B-ORG": 2, "B-LOC": 3}
    align_labels(SEED, "B-PER B-PER O B-ORG O B-LOC O", tokenizer=uncased, label_all_subwords=True,
                 label2id=label2id)
    assert label2id == {"O": 0, "B-PER": 1, "B-ORG": 2, "B-LOC": 3}


def test_align_labels_gives_a_label_the_label_ids_lack_the_next_free_id(uncased):
    label2id = {label: i for i, label in enumerate(NER_LABELS)}
    alignment = align_labels(SEED, "B-PER I-PER O B-PRODUCT O B-LOC O", tokenizer=uncased, label2id=label2id)
    assert [t.label_id for t in alignment.tokens if t.label == "B-PRODUCT"] == [len(NER_LABELS)]
    assert label2id == {label: i for i, label in enumerate(NER_LABELS)}


@pytest.mark.parametrize("labels, message", [
    ("B-PER I-PER O B-ORG O B-LOC", r"^7 words but 6 labels: give exactly one label per word\.$"),
    ("B-PER I-PER O B-ORG O B-LOC O O", r"^7 words but 8 labels: give exactly one label per word\.$"),
    ("B-PER I-PER O NOUN O B-LOC O", r"^Labels must be O or B-/I- tags \(e\.g\. B-PER I-PER O\); got NOUN\.$"),
    ("PER PER O ORG O LOC O", r"; got PER, PER, ORG\.$"),
    ("", r"^Word labels is empty"), ("   ", r"^Word labels is empty")])
def test_align_labels_refuses_bad_labels(uncased, labels, message):
    with pytest.raises(BadInput, match=message):
        align_labels(SEED, labels, tokenizer=uncased)


def test_align_labels_refuses_an_empty_sentence(uncased):
    with pytest.raises(BadInput, match="^Words is empty"):
        align_labels(" ", "O", tokenizer=uncased)


# --- spaCy --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ruler():
    spacy = pytest.importorskip("spacy")
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([
        {"label": "ORG", "pattern": "Tesla"},
        {"label": "PERSON", "pattern": [{"LOWER": "elon"}, {"LOWER": "musk"}]},
        {"label": "GPE", "pattern": "California"},
        {"label": "GPE", "pattern": "Zürich"}])
    return nlp


def test_spacy_entities_are_exact_character_spans(ruler):
    assert spacy_entities(SEED, ruler) == (Entity("PERSON", "Elon Musk", *ELON_MUSK, 1.0),
                                           Entity("ORG", "Tesla", *TESLA, 1.0),
                                           Entity("GPE", "California", *CALIFORNIA, 1.0))
    text = "Café 😀 in Zürich: elon musk"
    assert spacy_entities(text, ruler) == (Entity("GPE", "Zürich", 10, 16, 1.0),
                                           Entity("PERSON", "elon musk", 18, 27, 1.0))
    assert text[10:16] == "Zürich" and text[18:27] == "elon musk"
    assert spacy_entities("Nothing to see here.", ruler) == ()


# --- Budgets ------------------------------------------------------------------------------------------------------

def test_a_text_over_budget_is_refused_up_front(models, uncased):
    # LONG: three windows of at most 512 tokens.
    shape = shape_of(models["sharp"])
    over = Budget(gflop=2 * forward_flops(shape, 512) / 1e9)  # two full windows: less than the three
    with pytest.raises(OverBudget, match=rf"^Reading {LONG_TOKENS:,} tokens in 3 windows with this model would take "
                                         r".* At most about [0-9,]+ characters of this text fit one request: split "
                                         r"it\.$"):
        recognize(LONG, model=models["sharp"], tokenizer=uncased, budget=over)
    enough = Budget(gflop=3.01 * forward_flops(shape, 512) / 1e9)  # the windows are padded to 512
    assert recognize(LONG, model=models["sharp"], tokenizer=uncased, budget=enough).windows == 3


# --- the token table by words or pieces --------------------------------------------------------------------------

def test_token_table_by_words_labels_each_word_by_its_first_piece(tiny):
    text = "Elon Musk founded Tesla unbelievably fast."
    result = recognize(text, model=tiny.model, tokenizer=tiny.tokenizer, strategy="none")
    pieces = token_table(result.tokens, PIECES, text)
    words = token_table(result.tokens, WORDS, text)
    assert len(pieces) == len(result.tokens)
    assert list(words["word"]) == ["Elon", "Musk", "founded", "Tesla", "unbelievably", "fast", "."]
    assert len(words) < len(pieces)  # "unbelievably" (at least) has several pieces
    for _, row in words.iterrows():
        members = [t for t in result.tokens if row["start"] <= t.start and t.end <= row["end"]]
        assert row["word"] == text[row["start"]:row["end"]]
        assert row["pieces"] == " ".join(t.token for t in members)
        assert (row["label"], row["score"]) == (members[0].label, round(members[0].score, 4))
