"""Inside BERT through gradio_client against the launched tiny-mode app: attention, parameters, comparison."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from gradio_client import Client

from bench import sizes
from bertviz_ui.registry import OFFLINE_MODEL_ID

pytestmark = pytest.mark.integration

MODEL = "tiny:encoder"
TUTORIAL_A, TUTORIAL_B = "The cat sat on the mat.", "It was a lazy afternoon."


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


def attention(client, text=TUTORIAL_A, pair=TUTORIAL_B, layer=1, heads=(), token=-1, hide_special=False, direction="all",
              renormalize=True, model=MODEL):
    return client.predict(model=model, text=text, pair=pair, layer=layer, heads=list(heads), token=token,
                          hide_special=hide_special, direction=direction, renormalize=renormalize,
                          api_name="/attention")


def attention_json(client, text=TUTORIAL_A, pair=TUTORIAL_B, layer=1, heads=(), token=-1, hide_special=False,
                   direction="all", renormalize=True, model=MODEL):
    return client.predict(model=model, text=text, pair=pair, layer=layer, heads=list(heads), token=token,
                          hide_special=hide_special, direction=direction, renormalize=renormalize,
                          api_name="/attention_json")


def test_attention_contract(client):
    header, *_, table, payload = attention(client)
    assert payload["tokens"][:3] == ["[CLS]", "the", "cat"] and len(payload["tokens"]) == 16
    assert payload["layers"] == 2 and payload["heads"] == 2 and payload["layer"] == 1
    assert "attention" not in payload  # the weights come from /attention_json, on request
    assert [row["head"] for row in payload["summaries"]] == [0, 1]
    assert "untrained random weights" in header and "16</b> tokens" in header
    assert len(table["data"]) == 2
    full = attention_json(client)
    weights = np.array(full["attention"])
    assert weights.shape == (2, 16, 16)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)  # float32 precision
    assert {key: value for key, value in full.items() if key not in ("attention", "kept")} == {
        key: value for key, value in payload.items() if key != "kept"}


def test_filters_renormalize(client):
    payload = attention_json(client, heads=[1], hide_special=True, direction="A->B")
    weights = np.array(payload["attention"])
    assert weights.shape == (1, 7, 6)  # A's 7 words attend to B's 6 (specials hidden)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    assert payload["filters"] == {"hide_special": True, "direction": "A->B", "renormalize": True, "token": None}


def test_long_text_is_truncated_and_said(client):
    header, *_, payload = attention(client, text="word " * 1000, pair="")
    assert len(payload["tokens"]) == 512 and "reads at most 512" in header
    assert any("first 128 rows" in note for note in payload["notes"])
    full = attention_json(client, text="word " * 1000, pair="")
    assert np.array(full["attention"]).shape == (2, 128, 128)
    assert any("first 128 rows" in note for note in full["notes"])


def test_attention_at_128_tokens_on_minilm_is_light(app_server):
    """/attention at 128 tokens on the offline all-MiniLM-L6-v2 (6 layers x 12 heads, real weights) sends at most
    1.5 MB: the bytes of the complete event's data as the page receives them (Gradio's queue stream). The weights at
    full precision are /attention_json's, on request."""
    endpoints = sizes.endpoints(app_server)
    session = uuid.uuid4().hex
    data = {"model": OFFLINE_MODEL_ID, "text": sizes.ATTENTION_TEXT, "pair": "", "layer": 0, "heads": [],
            "token": -1, "hide_special": False, "direction": "all", "renormalize": True, "unit": "pieces"}
    light = sizes.call(app_server, session, endpoints["/attention"], [data[p] for p in endpoints["/attention"].inputs])
    assert light.ok, light.message
    print(f"\n/attention at 128 tokens on MiniLM: {light.complete_bytes:,} bytes; per output {light.outputs}")
    assert light.complete_bytes <= 1_500_000
    assert light.outputs["attention-model-view"] <= 400_000 and light.outputs["attention-json"] <= 50_000
    full = sizes.call(app_server, session, endpoints["/attention_json"],
                      [data[p] for p in endpoints["/attention_json"].inputs])
    assert full.ok, full.message
    print(f"/attention_json: {full.complete_bytes:,} bytes")
    payload = attention_json(Client(app_server, verbose=False, analytics_enabled=False), text=sizes.ATTENTION_TEXT,
                             pair="", layer=0, model=OFFLINE_MODEL_ID)
    assert len(payload["tokens"]) == 128 and np.array(payload["attention"]).shape == (12, 128, 128)


@pytest.mark.parametrize("kwargs, message", [
    ({"text": " "}, "Text is empty"),
    ({"text": "x" * 20_001}, "up to 20,000"),
    ({"layer": 2}, "Layer must be a whole number between 0 and 1"),
    ({"heads": [5]}, "Each head must be"),
    ({"heads": ["x"]}, "Each head must be"),
    ({"direction": "sideways"}, "not in the list of choices"),
    ({"token": -5}, "Token must be"),
    ({"model": "<img src=x>"}, "neither a Hub id"),
])
def test_bad_input(client, kwargs, message):
    with pytest.raises(Exception, match=message) as caught:
        attention(client, **kwargs)
    assert "Traceback" not in str(caught.value) and "<img" not in str(caught.value)


def test_the_api_offers_integers_and_neutral_defaults(client):
    """Layer, heads and token are integers to an API client (not the picker's current choices as strings), the
    text is the only required input, and "-1" as a string is still every token."""
    parameters = {p["parameter_name"]: p for p in
                  client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/attention"]["parameters"]}
    assert {name: parameters[name]["python_type"]["type"] for name in ("layer", "heads", "token")} == {
        "layer": "int", "heads": "list[int]", "token": "int"}
    assert {name: parameters[name]["parameter_default"] for name in ("pair", "layer", "heads", "token")} == {
        "pair": "", "layer": 0, "heads": [], "token": -1}
    assert [name for name, p in parameters.items() if not p["parameter_has_default"]] == ["text"]
    *_, payload = client.predict(text=TUTORIAL_A, token="-1", api_name="/attention")
    assert payload["filters"]["token"] is None and payload["layer"] == 0 and len(payload["tokens"]) == 9


def test_a_token_beyond_the_text_shows_every_token_and_says_so(client):
    header, *_, payload = attention(client, token=99)
    assert "Token 99 is beyond this text" in header and payload["filters"]["token"] is None


def test_html_in_the_text_is_escaped(client):
    header, *_, payload = attention(client, text='<img src=x onerror="alert(1)"> cat', pair="")
    assert "<img" not in header
    assert payload["tokens"][1:4] == ["<", "im", "##g"]  # typed markup is text to the model


def test_parameters(client):
    header, _figure, table, seed, payload = client.predict(model=MODEL, head="sequence classification",
                                                           num_labels=2, api_name="/parameters")
    count = payload["count"]
    assert count["total"] == sum(m["parameters"] for m in count["modules"])
    assert count["total"] - count["encoder"] == 32 * 2 + 2
    assert payload["seed_check"]["total"] == 109_483_778 and payload["seed_check"]["frozen_trainable"] == 1_538
    assert "109,484,546" in seed and "<td>-768</td>" in seed
    assert table["data"][-1][0] == "total" and "task head (sequence classification): <b>66</b>" in header


def test_model_comparison(client):
    attention(client)  # tiny:encoder is loaded now, so it is timed
    table, notes, payload = client.predict(api_name="/model_comparison")
    names = [row["name"] for row in payload["rows"]]
    assert names[:5] == ["bert-base", "bert-large", "roberta-base", "distilbert-base", "albert-base"]
    assert payload["rows"][0]["parameters"] == 109_482_240
    assert "snapshot" in notes and len(table["data"]) == len(payload["rows"])
    timed = [row for row in payload["rows"] if row["latency_ms"]]
    assert any(row["model_id"] == MODEL for row in timed) and all(row["speed"] for row in timed)
