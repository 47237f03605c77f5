"""Similarity through gradio_client against the launched tiny-mode app."""

from __future__ import annotations

import pytest
from gradio_client import Client

pytestmark = pytest.mark.integration

SENTENCES = "A man is eating food.\nA man is eating a piece of bread.\nThe girl is carrying a baby."


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


def test_similarity_contract_on_the_tiny_encoder(client):
    _header, summary, _plot, pairs, payload = client.predict(model="tiny:encoder", sentences=SENTENCES,
                                                             api_name="/similarity")
    assert payload["sentences"] == SENTENCES.split("\n")
    assert len(payload["matrix"]) == 3 and all(row[i] == 1.0 for i, row in enumerate(payload["matrix"]))
    assert len(payload["pairs"]) == 3 and len(pairs["data"]) == 3
    assert "Closest pair" in summary


def test_offline_minilm_ranks_bread_before_the_baby(client):
    *_, payload = client.predict(model="sentence-transformers/all-MiniLM-L6-v2", sentences=SENTENCES,
                                 api_name="/similarity")
    assert payload["matrix"][0][1] > payload["matrix"][0][2]
    assert payload["nearest"][0] == 1


def test_bad_input_is_a_message(client):
    with pytest.raises(Exception, match="at least two sentences"):
        client.predict(model="tiny:encoder", sentences="one", api_name="/similarity")


def test_bad_input_is_refused_before_any_model_loads(client):
    """A model that can't be had offline would fail to load: the input's message comes first."""
    with pytest.raises(Exception, match="at least two sentences"):
        client.predict(model="google-bert/bert-large-cased", sentences="one", api_name="/similarity")
