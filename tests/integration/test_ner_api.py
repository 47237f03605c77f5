"""NER through gradio_client against the launched tiny-mode app."""

from __future__ import annotations

import pytest
from gradio_client import Client

pytestmark = pytest.mark.integration

MODEL = "tiny:token_classification"
TEXT = "Apple CEO Tim Cook announced a new product at their Cupertino headquarters."


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_ner_contract(client, strategy):
    _header, _view, entities, _tokens, _types, payload = client.predict(
        model=MODEL, text=TEXT, strategy=strategy, api_name="/ner")
    assert payload["strategy"] == strategy
    for entity in payload["entities"]:
        assert TEXT[entity["start"]:entity["end"]] == entity["text"]
        assert set(entity) == {"label", "text", "start", "end", "score"}
    assert {"token", "label", "score", "start", "end"} <= set(payload["tokens"][0])
    assert payload["tokens"][0]["token"] == "apple" and payload["windows"] == 1
    assert len(entities["data"]) == len(payload["entities"])


def test_long_text_is_windowed(client):
    text = (TEXT + " ") * 40
    *_, payload = client.predict(model=MODEL, text=text, strategy="first", api_name="/ner")
    assert payload["windows"] > 1 and any("overlapping windows" in note for note in payload["notes"])
    assert all(text[e["start"]:e["end"]] == e["text"] for e in payload["entities"])


def test_alignment(client):
    table = client.predict(model=MODEL, sentence="Elon Musk founded Tesla in California.",
                           labels="B-PER I-PER O B-ORG O B-LOC O", all_subwords=False, api_name="/ner_alignment")
    assert [row[0] for row in table["data"]] == ["[CLS]", "el", "##on", "mu", "##sk", "founded", "tesla", "in",
                                                 "california", ".", "[SEP]"]
    assert [row[3] for row in table["data"]] == ["IGN", "B-PER", "IGN", "I-PER", "IGN", "O", "B-ORG", "O", "B-LOC",
                                                 "O", "IGN"]
    assert [row[4] for row in table["data"]][:4] == [-100, 3, -100, 4]  # dslim/bert-base-NER's label ids


def test_spacy_without_an_english_pipeline(client):
    view = client.predict(text=TEXT, api_name="/ner_spacy")
    assert "No spaCy English pipeline is installed" in view


@pytest.mark.parametrize("api, kwargs, message", [
    ("/ner", {"model": MODEL, "text": " ", "strategy": "simple"}, "Text is empty"),
    ("/ner", {"model": MODEL, "text": "x" * 20_001, "strategy": "simple"}, "up to 20,000"),
    ("/ner", {"model": "tiny:encoder", "text": "Paris", "strategy": "simple"}, "no trained token-classification"),
    ("/ner_alignment", {"model": MODEL, "sentence": "Elon Musk", "labels": "B-PER", "all_subwords": False},
     "2 words but 1 labels"),
    ("/ner_alignment", {"model": MODEL, "sentence": "Elon Musk", "labels": "PERSON O", "all_subwords": False},
     "Labels must be O or B-/I- tags"),
])
def test_bad_input(client, api, kwargs, message):
    with pytest.raises(Exception, match=message) as caught:
        client.predict(**kwargs, api_name=api)
    assert "Traceback" not in str(caught.value)


def test_html_is_escaped(client):
    _header, view, *_ = client.predict(model=MODEL, text='<img src=x onerror="alert(1)"> Paris', strategy="none",
                                      api_name="/ner")
    assert "<img" not in view and "&lt;" in view and "<mark" in view


def test_token_table_by_words_or_pieces(client):
    text = "Tim Cook visited Cupertino."
    _h, _v, _e, pieces, _t, payload = client.predict(model=MODEL, text=text, unit="pieces", api_name="/ner")
    _h, _v, _e, words, _t, same = client.predict(model=MODEL, text=text, unit="words", api_name="/ner")
    assert same == payload  # the switch changes the table, not the result
    assert len(pieces["data"]) == len(payload["tokens"])
    assert [row[1] for row in words["data"]] == ["Tim", "Cook", "visited", "Cupertino", "."]
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict(model=MODEL, text=text, unit="letters", api_name="/ner")
