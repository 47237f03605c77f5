"""/compare through gradio_client against the launched tiny-mode app: each side is literally what the single-model
endpoint returns for that model and text, and every input is checked before a model runs."""

from __future__ import annotations

import pytest
from gradio_client import Client

from bertviz_ui.registry import OFFLINE_MODEL_ID

pytestmark = pytest.mark.integration

# Fields left out when comparing a side with the single endpoint's raw: none of the four raw outputs carries a timing
# (or any other per-call) field, so nothing is excluded. A timing field added later must be named here.
EXCLUDED: frozenset[str] = frozenset()
TEXT = "The cat sat on the mat."
PAIR = "It was a lazy afternoon."


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


def _without(raw: dict) -> dict:
    return {key: value for key, value in raw.items() if key not in EXCLUDED}


def compare(client: Client, **kwargs):
    return client.predict(**kwargs, api_name="/compare")


def test_the_api_lists_the_parameters_with_neutral_defaults(client):
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/compare"]
    parameters = {p["parameter_name"]: p for p in endpoint["parameters"]}
    assert list(parameters) == ["task", "text", "model_a", "model_b", "text_pair", "top_k", "layer"]
    assert [name for name, p in parameters.items() if not p["parameter_has_default"]] == ["task", "text", "model_b"]
    assert {name: p["parameter_default"] for name, p in parameters.items() if p["parameter_has_default"]} == {
        "model_a": "", "text_pair": "", "top_k": 5, "layer": 0}
    assert len(endpoint["returns"]) == 4


def test_tokenizer_sides_equal_tokenize(client):
    header, sides, diff, raw = compare(client, task="tokenizer", text=TEXT, text_pair=PAIR, model_b=OFFLINE_MODEL_ID)
    single = {model: client.predict(model=model, text=TEXT, text_pair=PAIR, api_name="/tokenize")[-1]
              for model in ("tiny:encoder", OFFLINE_MODEL_ID)}
    assert raw["task"] == "tokenizer"
    assert _without(raw["a"]) == _without(single["tiny:encoder"])
    assert _without(raw["b"]) == _without(single[OFFLINE_MODEL_ID])
    # The same vocabulary: nothing split differently, 16 tokens each.
    assert raw["diff"]["identical"] and raw["diff"]["split_differently"] == []
    assert (raw["diff"]["tokens_a"], raw["diff"]["tokens_b"], raw["diff"]["words_compared"]) == (16, 16, 13)
    assert "Model A" in header and "offline: all-MiniLM-L6-v2" in header
    assert "identical" in sides and "0 of 13 words split differently" in diff


def test_fill_mask_sides_equal_fill_mask(client):
    text = "The cat [MASK] on the [MASK]."
    *_, raw = compare(client, task="fill_mask", text=text, model_a="tiny:masked_lm", model_b="tiny:masked_lm",
                      top_k=3)
    single = client.predict(model="tiny:masked_lm", text=text, top_k=3, api_name="/fill_mask")[-1]
    assert _without(raw["a"]) == _without(single) and _without(raw["b"]) == _without(single)
    assert "iterative" in raw["a"]  # two masks: /fill_mask's iterative fill is part of each side
    # One model twice: nothing entered or left, every delta zero.
    assert [(m["entered"], m["left"]) for m in raw["diff"]["masks"]] == [([], []), ([], [])]
    assert all(d["delta"] == 0 for m in raw["diff"]["masks"] for d in m["shared"])
    assert all(len(m["shared"]) == 3 for m in raw["diff"]["masks"])


def test_sentiment_sides_equal_sentiment_and_differing_label_sets_are_said(client):
    text = "I loved it!\nTerrible."
    _, _, diff, raw = compare(client, task="sentiment", text=text, model_b="tiny:nli")
    for side, model in (("a", "tiny:sequence_classification"), ("b", "tiny:nli")):
        single = client.predict(model=model, text=text, api_name="/sentiment")[-1]
        assert _without(raw[side]) == _without(single)
    assert raw["diff"]["same_labels"] is False
    assert raw["diff"]["only_a"] == ["NEGATIVE", "POSITIVE"]
    assert raw["diff"]["only_b"] == ["contradiction", "neutral", "entailment"]
    assert all(c["delta"] is None for line in raw["diff"]["lines"] for c in line["classes"])
    assert "label sets differ" in diff


def test_attention_sides_equal_attention(client):
    *_, raw = compare(client, task="attention", text=TEXT, text_pair=PAIR, model_b="tiny:masked_lm", layer=1)
    for side, model in (("a", "tiny:encoder"), ("b", "tiny:masked_lm")):
        single = client.predict(model=model, text=TEXT, pair=PAIR, layer=1, api_name="/attention")[-1]
        assert _without(raw[side]) == _without(single)
    assert raw["diff"]["available"] and len(raw["diff"]["distances"]) == 2
    assert all(0.0 <= d <= 1.0 for d in raw["diff"]["distances"])


def test_attention_across_layer_counts_says_why_there_is_no_distance(client):
    _, _, diff, raw = compare(client, task="attention", text=TEXT, model_b=OFFLINE_MODEL_ID)
    single = client.predict(model=OFFLINE_MODEL_ID, text=TEXT, api_name="/attention")[-1]
    assert _without(raw["b"]) == _without(single)
    assert raw["diff"]["available"] is False and raw["diff"]["distances"] == []
    assert raw["diff"]["reason"].startswith("Model A has 2 layers and model B 6")
    assert "No per-layer distance" in diff


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"task": "tokenizer", "text": TEXT}, "No value provided for required argument: model_b"),
    ({"task": "tokenizer", "text": TEXT, "model_b": None}, "Choose a second model to compare with"),
    ({"task": "tokenizer", "text": TEXT, "model_b": "  "}, "Choose a second model to compare with"),
    ({"task": "ner", "text": TEXT, "model_b": "tiny:encoder"}, "ner is not in the list of choices"),
    ({"task": "fill_mask", "text": "No mask here.", "model_b": "tiny:masked_lm"}, "MASK"),
    ({"task": "fill_mask", "text": "A [MASK].", "model_b": "tiny:masked_lm", "top_k": 500}, "Top-k"),
    ({"task": "attention", "text": TEXT, "model_b": "tiny:encoder", "layer": 5}, "Layer"),
    ({"task": "sentiment", "text": TEXT, "model_b": "tiny:nli", "text_pair": "B"}, "Sentence B applies"),
    ({"task": "tokenizer", "text": " ", "model_b": "tiny:encoder"}, "Text is empty"),
    ({"task": "tokenizer", "text": TEXT, "model_b": "<img src=x onerror=alert(1)>"}, "neither a Hub id"),
    ({"task": "fill_mask", "text": "A [MASK].", "model_b": OFFLINE_MODEL_ID}, "masked-language"),
])
def test_bad_input_gives_a_clear_message(client, kwargs, message):
    with pytest.raises(Exception, match=message) as caught:
        compare(client, **kwargs)
    assert "Traceback" not in str(caught.value)
