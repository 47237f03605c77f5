"""The programmatic API through gradio_client against the launched tiny-mode app."""

from __future__ import annotations

import pytest
from gradio_client import Client

from bertviz_ui.tasks.zero_shot import DEFAULT_TEMPLATE

pytestmark = pytest.mark.integration

DEFAULTS = {"model": "tiny:encoder", "text": "The cat sat on the mat.", "text_pair": "It was a lazy afternoon.",
            "max_length": 0, "padding": False, "truncation": "longest_first", "split_special_tokens": False,
            "compare_with": ""}


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


def tokenize(client: Client, **overrides):
    return client.predict(**{**DEFAULTS, **overrides}, api_name="/tokenize")


def test_api_lists_tokenize_with_named_parameters(client):
    info = client.view_api(print_info=False, return_format="dict")
    parameters = [p["parameter_name"] for p in info["named_endpoints"]["/tokenize"]["parameters"]]
    assert parameters == list(DEFAULTS)


def test_tokenize_with_only_a_text_tokenizes_that_text(client):
    """The page opens with a pair filled in; the API's text_pair starts blank, so one text stays one text."""
    *_, payload = client.predict(text="The cat sat on the mat.", api_name="/tokenize")
    assert payload["tokens"] == ['[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]']
    assert payload["text_pair"] is None and payload["comparison"] is None and payload["max_length"] is None


# A free-text parameter whose default is not blank: the task's own default, the same for every caller.
TASK_DEFAULTS = {("/zero_shot", "template"): DEFAULT_TEMPLATE}


def test_no_parameter_defaults_to_an_example(client):
    """Every text an endpoint needs is required; every optional text or table starts blank (the page's examples
    arrive with the page, never through the API)."""
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    examples = []
    for name, endpoint in endpoints.items():
        for parameter in endpoint["parameters"]:
            default, kind = parameter["parameter_default"], parameter["component"]
            if not parameter["parameter_has_default"]:
                continue
            if kind == "Textbox" and default != TASK_DEFAULTS.get((name, parameter["parameter_name"]), ""):
                examples.append(f"{name} {parameter['parameter_name']}={default!r}")
            if kind == "Dataframe" and default["data"]:
                examples.append(f"{name} {parameter['parameter_name']} has {len(default['data'])} rows")
    assert examples == []
    assert not endpoints["/tokenize"]["parameters"][1]["parameter_has_default"]  # text: required


def test_tokenize_seed_pair(client):
    header, chips, comparison, _summary, table, payload = tokenize(client)
    assert payload["tokens"] == ['[CLS]', 'the', 'cat', 'sat', 'on', 'the', 'mat', '.', '[SEP]',
                                 'it', 'was', 'a', 'lazy', 'afternoon', '.', '[SEP]']
    assert payload["token_type_ids"] == [0] * 9 + [1] * 7
    assert payload["input_ids"][:9] == [101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 102]
    assert payload["attention_mask"] == [1] * 16
    assert payload["offsets"][6] == [19, 22] and payload["word_ids"][:2] == [None, 0]
    assert payload["comparison"] is None
    assert "untrained" in header and "bv-chip-flow" in chips and comparison == ""
    assert len(table["data"]) == 16


def test_comparison_with_the_offline_model(client):
    _, _, comparison, _, _, payload = tokenize(client, compare_with="sentence-transformers/all-MiniLM-L6-v2")
    assert "identical" in comparison
    assert payload["comparison"]["input_ids"] == payload["input_ids"]
    assert payload["comparison"]["model"] == "offline: all-MiniLM-L6-v2"


def test_hub_default_falls_back_to_offline_weights(client):
    header, *_, payload = tokenize(client, model="google-bert/bert-base-uncased", text_pair="")
    assert payload["input_ids"] == [101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 102]
    assert "offline: all-MiniLM-L6-v2" in header and "google-bert/bert-base-uncased" in header


@pytest.mark.parametrize("overrides, message", [
    ({"text": "   "}, "Text is empty"),
    ({"text": "x" * 100_000}, "up to 20,000"),
    ({"max_length": 100_000}, "Max length must be a whole number between 5 and 512"),
    ({"max_length": 12, "truncation": "sideways"}, "sideways is not in the list of choices"),
    ({"model": "no-such-org/no-such-model"}, "Hub can't be reached"),
    ({"model": "/not/a/dir"}, "No directory"),
    ({"model": "<img src=x onerror=alert(1)>"}, "neither a Hub id"),
    ({"text": None}, "Text is empty"),
])
def test_bad_input_gives_a_clear_message(client, overrides, message):
    with pytest.raises(Exception, match=message) as caught:
        tokenize(client, **overrides)
    assert "Traceback" not in str(caught.value)


def test_server_stays_up_after_errors(client):
    with pytest.raises(Exception, match="Text is empty"):
        tokenize(client, text="")
    assert tokenize(client)[-1]["num_tokens"] == 16


def test_models_endpoint_reports_what_is_loaded(client):
    tokenize(client)
    summary, table = client.predict(api_name="/models")
    assert "cpu" in summary and "float32" in summary
    assert "tiny:encoder" in [row[0] for row in table["data"]]


def test_the_page_fetches_plotly_while_it_opens_and_the_bundle_is_there(app_server):
    """The first figure drawn no longer waits for plotly.js (4.6 MB): the page's head (Gradio adds it from the config
    as the page starts) names Gradio's bundle to preload."""
    import re

    import requests

    head = requests.get(app_server.rstrip("/") + "/config", timeout=30).json()["head"]
    links = re.findall(r'<link rel="modulepreload" href="\./(assets/PlotlyPlot-[\w-]+\.js)">', head)
    assert len(links) == 1, head
    bundle = requests.get(app_server.rstrip("/") + "/" + links[0], timeout=30)
    assert bundle.status_code == 200 and len(bundle.content) > 1_000_000
