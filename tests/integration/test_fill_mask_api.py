"""Masked words and next-sentence prediction through gradio_client against the launched tiny-mode app."""

from __future__ import annotations

import pytest
from gradio_client import Client

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


def fill_mask(client: Client, text: str, top_k: int = 5, model: str = "tiny:masked_lm"):
    return client.predict(model=model, text=text, top_k=top_k, api_name="/fill_mask")


def test_fill_mask_contract(client):
    header, _plot, _iterative, payload = fill_mask(client, "The cat [MASK] on the [MASK].", top_k=3)
    assert [m["position"] for m in payload["masks"]] == [3, 6]
    for mask in payload["masks"]:
        assert len(mask["predictions"]) == 3
        scores = [p["score"] for p in mask["predictions"]]
        assert scores == sorted(scores, reverse=True)
        assert {"token", "token_id", "score", "piece"} <= set(mask["predictions"][0])
    assert payload["mask_token"] == "[MASK]" and "[MASK]" not in payload["completed"]
    assert payload["iterative"]["order"] and sorted(payload["iterative"]["order"]) == [3, 6]
    assert "predicted independently" in header


def test_fill_mask_quantized_contract(client):
    header, _plot, table, payload = client.predict(model="tiny:masked_lm", text="The cat [MASK] on the [MASK].",
                                                   top_k=3, api_name="/fill_mask_quantized")
    assert [(m["full"]["position"], m["int8"]["position"]) for m in payload["masks"]] == [(3, 3), (6, 6)]
    for mask in payload["masks"]:
        assert len(mask["full"]["predictions"]) == len(mask["int8"]["predictions"]) == 3
        assert 0 <= mask["moved"] <= 1 and 0 <= mask["shared"] <= 3 and isinstance(mask["same_top1"], bool)
    assert 0 < payload["int8_bytes"] < payload["full_bytes"] and payload["int8_seconds"] > 0
    assert table["headers"] == ["mask", "rank", "fp32", "fp32 probability", "int8", "int8 probability"]
    assert len(table["data"]) == 6 and "int8 (dynamic)" in header and "fp32" in header


def test_fill_mask_analysis(client):
    _context, left, _layers, table = client.predict(model="tiny:masked_lm", text="The cat [MASK] on the mat.",
                                                  mask_number=1, top_k=3, api_name="/fill_mask_analysis")
    assert "The cat [MASK]" in left
    assert len(table["data"]) == 3  # embeddings + 2 layers of the tiny model


def test_masking_lab(client):
    _view, payload = client.predict(model="tiny:masked_lm", sentence="The quick brown fox jumps over the lazy dog.",
                                   seed=7, probability=0.5, api_name="/masking_lab")
    roles = [t["role"] for t in payload["tokens"]]
    assert roles[0] == roles[-1] == "special"
    assert sum(payload["counts"].values()) == sum(1 for r in roles if r in ("masked", "random", "unchanged"))
    again = client.predict(model="tiny:masked_lm", sentence="The quick brown fox jumps over the lazy dog.",
                           seed=7, probability=0.5, api_name="/masking_lab")[1]
    assert again == payload


def test_nsp_contract(client):
    _header, _plot, payload = client.predict(model="tiny:next_sentence", sentence_a="The cat sat on the mat.",
                                           sentence_b="It was a lazy afternoon.", api_name="/nsp")
    assert payload["is_next"] + payload["not_next"] == pytest.approx(1.0, abs=1e-6)
    assert payload["token_type_ids"] == [0] * 9 + [1] * 7


def test_nsp_paragraph(client):
    summary, _table, payload = client.predict(model="tiny:next_sentence",
                                             paragraph="One. Two is here. Three follows. Four ends.", seed=0,
                                             api_name="/nsp_paragraph")
    assert len(payload["sentences"]) == 4 and len(payload["pairs"]) == 6
    assert "4 sentences, 6 pairs" in summary


@pytest.mark.parametrize("api, kwargs, message", [
    ("/fill_mask", {"text": "No mask here.", "top_k": 5}, "Put at least one"),
    ("/fill_mask", {"text": "A <mask> here.", "top_k": 5}, "not this model's mask token"),
    ("/fill_mask", {"text": " ".join(["[MASK]"] * 9), "top_k": 5}, "at most 8"),
    ("/fill_mask", {"text": "word " * 600 + "[MASK]", "top_k": 5}, "at most 512"),
    ("/fill_mask", {"text": "A [MASK].", "top_k": 500}, "greater than maximum value 50"),
    ("/fill_mask", {"text": "A [MASK].", "top_k": 5, "model": "tiny:encoder"}, "no trained masked-language-model"),
    ("/fill_mask", {"text": "A [MASK].", "top_k": 5, "model": "google-bert/bert-base-uncased"},
     "BERTVIZ_UI_MODEL_FILL_MASK"),
    ("/nsp", {"sentence_a": "Hello.", "sentence_b": "  "}, "Sentence B is empty"),
    ("/nsp", {"sentence_a": "Hello.", "sentence_b": "Hi.", "model": "tiny:encoder"}, "RoBERTa"),
    ("/nsp_paragraph", {"paragraph": "Only one sentence.", "seed": 0}, "at least two sentences"),
    ("/fill_mask_quantized", {"text": "No mask.", "top_k": 3}, "at least one"),
    ("/fill_mask_quantized", {"text": "A [MASK].", "top_k": 5, "model": "tiny:encoder"},
     "no trained masked-language-model"),
    ("/fill_mask_quantized", {"text": "word " * 600 + "[MASK]", "top_k": 5}, "at most 512"),
    ("/masking_lab", {"sentence": "A b c.", "seed": -1, "probability": 0.15}, "less than minimum value 0"),
    ("/masking_lab", {"sentence": "  ", "seed": 1, "probability": 0.15}, "Sentence is empty"),
])
def test_bad_input(client, api, kwargs, message):
    defaults = {"/fill_mask": {"model": "tiny:masked_lm"}, "/fill_mask_quantized": {"model": "tiny:masked_lm"},
                "/nsp": {"model": "tiny:next_sentence"},
                "/nsp_paragraph": {"model": "tiny:next_sentence"}, "/masking_lab": {"model": "tiny:masked_lm"}}
    with pytest.raises(Exception, match=message) as caught:
        client.predict(**{**defaults[api], **kwargs}, api_name=api)
    assert "Traceback" not in str(caught.value)
