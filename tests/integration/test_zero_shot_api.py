"""Zero-shot classification through gradio_client against the launched tiny-mode app."""

from __future__ import annotations

import pytest
from gradio_client import Client

pytestmark = pytest.mark.integration

TEXT = "The government announced new economic policies today."
LABELS = "politics, technology, sports, entertainment"


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


def zero_shot(client: Client, **overrides):
    arguments = {"model": "tiny:nli", "method": "nli", "text": TEXT, "labels": LABELS,
                 "template": "This example is {}.", "multi_label": False, **overrides}
    return client.predict(**arguments, api_name="/zero_shot")


@pytest.mark.parametrize("multi_label", [False, True])
def test_zero_shot_contract(client, multi_label):
    _header, _plot, table, payload = zero_shot(client, multi_label=multi_label)
    assert sorted(payload["labels"]) == sorted(LABELS.split(", "))
    assert payload["scores"] == sorted(payload["scores"], reverse=True)
    assert payload["multi_label"] is multi_label
    assert payload["hypotheses"] == [f"This example is {label}." for label in payload["labels"]]
    assert all(len(row) == 3 for row in payload["logits"])
    assert payload["forward_passes"] == 1 and len(table["data"]) == 4
    if not multi_label:
        assert sum(payload["scores"]) == pytest.approx(1.0, abs=1e-5)


def test_offline_embedding_method_ranks_politics_first(client):
    header, _plot, _table, payload = zero_shot(client, method="embedding similarity", model="ignored/for-this-method")
    assert payload["method"] == "embedding similarity" and payload["labels"][0] == "politics"
    assert "offline: all-MiniLM-L6-v2" in header and "not NLI" in header


@pytest.mark.parametrize("overrides, message", [
    ({"labels": " , ,"}, "at least one candidate label"),
    ({"labels": ", ".join(f"label{i}" for i in range(51))}, "at most 50"),
    ({"template": "no braces"}, "exactly once"),
    ({"template": "{} or {}"}, "exactly once"),
    ({"template": "{name}"}, "exactly once"),
    ({"text": "  "}, "Text is empty"),
    ({"model": "tiny:sequence_classification"}, "name no entailment label"),
    ({"model": "tiny:encoder"}, "no trained NLI classification head"),
    ({"model": "facebook/bart-large-mnli"}, "BERTVIZ_UI_MODEL_ZERO_SHOT"),
])
def test_bad_input(client, overrides, message):
    with pytest.raises(Exception, match=message) as caught:
        zero_shot(client, **overrides)
    assert "Traceback" not in str(caught.value)


def test_duplicates_are_merged_and_html_escaped(client):
    header, _plot, _table, payload = zero_shot(client, labels='politics, Politics, <img src=x onerror="alert(1)">')
    assert len(payload["labels"]) == 2 and "Duplicate label" in header
    assert "<img" not in header
