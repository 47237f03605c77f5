"""Sentiment through gradio_client against the launched tiny-mode app."""

from __future__ import annotations

import pytest
from gradio_client import Client

pytestmark = pytest.mark.integration

MODEL = "tiny:sequence_classification"


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


def test_sentiment_contract(client):
    header, _plot, table, _classes, payload = client.predict(
        model=MODEL, text="I loved it!\n\nTerrible.\nIt's okay.", api_name="/sentiment")
    assert payload["label"] in ("NEGATIVE", "POSITIVE")
    assert set(payload["scores"]) == {"NEGATIVE", "POSITIVE"}
    assert sum(payload["scores"].values()) == pytest.approx(1.0, abs=1e-6)
    assert [row["text"] for row in payload["rows"]] == ["I loved it!", "Terrible.", "It's okay."]
    assert payload["skipped_empty_lines"] == 1 and payload["forward_passes"] == 1
    assert len(table["data"]) == 3 and "1 empty line(s) skipped" in header


def test_explain_contract(client):
    _heatmap, _plot, cost, _head, payload = client.predict(
        model=MODEL, text="I loved it!\nTerrible acting, wonderful music.", line=2, target="POSITIVE",
        method="integrated_gradients", steps=16, api_name="/sentiment_explain")
    attribution = payload["attributions"]
    assert payload["line"] == 2 and attribution["target_label"] == "POSITIVE" and attribution["steps"] == 16
    assert [w["text"] for w in attribution["words"]] == ["Terrible", "acting", ",", "wonderful", "music", "."]
    assert attribution["sum_of_attributions"] == pytest.approx(
        attribution["target_logit"] - attribution["baseline_logit"], abs=1e-4)
    assert payload["head"]["labels"] == ["NEGATIVE", "POSITIVE"]
    assert "16 step(s)" in cost and "Completeness" in cost


@pytest.mark.parametrize("api, kwargs, message", [
    ("/sentiment", {"text": "\n \n"}, "Text is empty"),
    ("/sentiment", {"text": "ok\n" * 1000}, "at most 256"),
    ("/sentiment", {"text": "x" * 20_001}, "up to 20,000"),
    ("/sentiment", {"text": "fine", "model": "tiny:encoder"}, "no trained classification head"),
    ("/sentiment_explain", {"text": "fine", "line": 3, "target": "predicted", "method": "gradient_x_input",
                            "steps": 4}, "Line must be a whole number between 1 and 1"),
    ("/sentiment_explain", {"text": "fine", "line": 1, "target": "SARCASTIC", "method": "gradient_x_input",
                            "steps": 4}, "Unknown class"),
])
def test_bad_input(client, api, kwargs, message):
    with pytest.raises(Exception, match=message) as caught:
        client.predict(**{"model": MODEL, **kwargs}, api_name=api)
    assert "Traceback" not in str(caught.value)


def test_html_is_escaped_in_the_heatmap(client):
    heatmap, *_ = client.predict(model=MODEL, text='<img src=x onerror="alert(1)"> great', line=1,
                                 target="predicted", method="gradient_x_input", steps=4, api_name="/sentiment_explain")
    assert "<img" not in heatmap and "&lt;" in heatmap
