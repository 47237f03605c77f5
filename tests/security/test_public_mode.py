"""A hostile visitor against `python app.py --tiny --public`: uploads, paths, the allow-list, payloads, shared controls."""

from __future__ import annotations

import json

import pytest
import requests
from gradio_client import Client

from tests.conftest import running_app

pytestmark = pytest.mark.security

TOKENIZE = {"text": "hello", "text_pair": "", "max_length": 0, "padding": False, "truncation": "longest_first",
            "split_special_tokens": False, "compare_with": ""}
PUBLIC_REFUSAL = "This server loads models from the Hugging Face Hub only"


@pytest.fixture(scope="module")
def public_server(cache_dir, tmp_path_factory):
    with running_app(["--tiny", "--public"], cache_dir, tmp_path_factory.mktemp("public")) as (url, process):
        yield url, process


@pytest.fixture(scope="module")
def client(public_server) -> Client:
    return Client(public_server[0], verbose=False)


def _tokenize_error(client: Client, model: str) -> str:
    with pytest.raises(Exception) as caught:
        client.predict(model=model, **TOKENIZE, api_name="/tokenize")
    return str(caught.value)


def _upload(url: str, name: str, content: bytes) -> requests.Response:
    return requests.post(url + "gradio_api/upload", files={"files": (name, content)}, timeout=30)


@pytest.mark.parametrize("vocab", ["/dev/zero", "/etc/passwd"])
def test_an_uploaded_tokenizer_config_is_never_loaded_and_the_server_lives(public_server, client, vocab):
    url, process = public_server
    response = _upload(url, "tokenizer_config.json",
                       json.dumps({"tokenizer_class": "BertTokenizer", "vocab": vocab}).encode())
    assert response.status_code == 200
    stored = response.json()[0]
    folder = stored.rsplit("/", 1)[0]
    message = _tokenize_error(client, folder)
    assert PUBLIC_REFUSAL in message
    assert folder not in message and "/tmp" not in message
    # Alive, and still answering.
    assert process.poll() is None
    assert client.predict(model="tiny:encoder", **TOKENIZE, api_name="/tokenize")[-1]["tokens"] == [
        "[CLS]", "hello", "[SEP]"]


def test_a_typed_path_gets_the_same_answer_whether_or_not_it_exists(client):
    messages = {path: _tokenize_error(client, path) for path in
                ("/etc", "/etc/passwd", "/no/such/dir", "../../etc", "~", "./tests", "C:\\Windows")}
    assert len(set(messages.values())) == 1, messages
    (message,) = set(messages.values())
    assert PUBLIC_REFUSAL in message and "/etc" not in message and "/no/such" not in message


def test_a_hub_id_outside_the_allow_list_is_refused_naming_the_setting(client):
    message = _tokenize_error(client, "meta-llama/Llama-2-70b-hf")
    assert "BERTVIZ_UI_ALLOW_MODELS" in message
    # The tab's curated choices stay allowed (offline they fall back to the shipped encoder, labelled).
    tokens = client.predict(model="google-bert/bert-base-uncased", **TOKENIZE, api_name="/tokenize")[-1]["tokens"]
    assert tokens == ["[CLS]", "hello", "[SEP]"]


def test_uploads_are_capped(public_server):
    url, _ = public_server
    assert _upload(url, "big.csv", b"x" * (3 * 2**20)).status_code == 413
    assert _upload(url, "ok.csv", b"text,label\nfine,a\n" * 1000).status_code == 200


@pytest.mark.parametrize("payload", [{"data": [None]}, {"data": []}, {"data": "x"}, {"data": [None] * 30},
                                     {"data": [{"__proto__": 1}] * 8}])
def test_malformed_payloads_get_no_internals(public_server, payload):
    url, process = public_server
    response = requests.post(url + "gradio_api/run/tokenize", json=payload, timeout=30)
    assert response.status_code >= 400
    for leak in ("gradio.components", "object at 0x", "Traceback", "File \"", "site-packages"):
        assert leak not in response.text
    assert process.poll() is None


def test_no_shared_controls_or_machine_timing_in_public_mode(public_server):
    url, _ = public_server
    config = requests.get(url + "config", timeout=30).json()
    elem_ids = {component.get("props", {}).get("elem_id") for component in config["components"]}
    assert "models-refresh" in elem_ids
    assert "models-free" not in elem_ids and "comparison-latency" not in elem_ids
    api_names = {dependency.get("api_name") for dependency in config["dependencies"]}
    assert "model_comparison" in api_names and "model_latency" not in api_names
    summary = Client(url, verbose=False).predict(api_name="/models")[0]
    assert "Public mode" in summary


# Every endpoint that takes a model goes through the same cache and policy: a few, the newest included, with the rest
# of their input valid, so the model is the only thing refused.
MODEL_ENDPOINTS = {
    "/similarity": {"sentences": "one\ntwo"},
    "/fill_mask": {"text": "Paris is the [MASK] of France.", "top_k": 3},
    "/fill_mask_quantized": {"text": "Paris is the [MASK] of France.", "top_k": 3},
    "/nsp": {"sentence_a": "It rained.", "sentence_b": "We stayed in."},
    "/sentiment": {"text": "Great film."},
    "/attention_json": {"text": "It rained."},
    "/compare": {"task": "tokenizer", "text": "It rained.", "model_a": "tiny:encoder", "model_b": "tiny:encoder"},
    "/explanation_check": {"text": "Great film."},
    "/attention_rollout": {"text": "It rained."},
}
# The parameters naming a model, where an endpoint has other names than ``model`` or several: each is refused alone,
# the others valid (model_b goes through the same policy as model_a).
MODEL_PARAMETERS = {"/compare": ("model_a", "model_b")}


def test_the_full_precision_attention_json_works_in_public_mode(client):
    payload = client.predict(model="tiny:encoder", text="It rained.", api_name="/attention_json")
    assert payload["tokens"] == ["[CLS]", "it", "rained", ".", "[SEP]"] and len(payload["attention"]) == 2


@pytest.mark.parametrize(("endpoint", "parameter"), [(endpoint, parameter) for endpoint in sorted(MODEL_ENDPOINTS)
                                                      for parameter in MODEL_PARAMETERS.get(endpoint, ("model",))])
@pytest.mark.parametrize(("model", "said"), [("/etc", PUBLIC_REFUSAL),
                                             ("meta-llama/Llama-2-70b-hf", "BERTVIZ_UI_ALLOW_MODELS")])
def test_every_model_endpoint_refuses_paths_and_names_outside_the_allow_list(client, endpoint, parameter, model, said):
    with pytest.raises(Exception) as caught:
        client.predict(**{**MODEL_ENDPOINTS[endpoint], parameter: model}, api_name=endpoint)
    assert said in str(caught.value)


def test_compare_works_in_public_mode_with_allowed_models(client):
    *_, raw = client.predict(task="tokenizer", text="It rained.", model_b="tiny:encoder", api_name="/compare")
    assert raw["a"]["tokens"] == raw["b"]["tokens"] == ["[CLS]", "it", "rained", ".", "[SEP]"]


def test_the_fp32_vs_int8_view_works_in_public_mode(client):
    header, _plot, table, payload = client.predict(text="Paris is the [MASK] of France.", top_k=3,
                                                   api_name="/fill_mask_quantized")
    assert 0 < payload["int8_bytes"] < payload["full_bytes"] and len(table["data"]) == 3
    assert "int8 (dynamic)" in header
