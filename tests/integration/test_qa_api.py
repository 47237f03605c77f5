"""Question answering through gradio_client against the launched tiny-mode app."""

from __future__ import annotations

import pytest
from gradio_client import Client

from bertviz_ui.ui.qa import EIFFEL

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


def qa(client: Client, **overrides):
    arguments = {"model": "tiny:question_answering", "question": "Who designed the Eiffel Tower?",
                 "context": EIFFEL, "max_answer_len": 15, "top_k": 5, "handle_impossible": False, **overrides}
    return client.predict(**arguments, api_name="/qa")


def test_qa_contract(client):
    *_views, payload = qa(client)
    assert payload["context"][payload["start"]:payload["end"]] == payload["answer"] != ""
    assert len(payload["tokens"]) == len(payload["start_logits"]) == len(payload["end_logits"])
    assert payload["tokens"][0] == "[CLS]" and payload["forward_passes"] == 1
    assert len(payload["candidates"]) == 5
    assert payload["candidates"][0]["answer"] == payload["answer"]
    scores = [c["score"] for c in payload["candidates"]]
    assert scores == sorted(scores, reverse=True)
    for candidate in payload["candidates"]:
        assert candidate["end"] > candidate["start"]
        assert candidate["token_end"] - candidate["token_start"] < 15
        assert EIFFEL[candidate["start"]:candidate["end"]] == candidate["answer"]


def test_long_context_is_windowed_in_one_forward(client):
    context = "\n".join([EIFFEL] * 12)
    *_views, payload = qa(client, context=context, top_k=3)
    assert len(payload["windows"]) == payload["total_windows"] > 1
    assert payload["forward_passes"] == 1
    starts = [w["char_start"] for w in payload["windows"]]
    assert starts == sorted(starts) and payload["windows"][-1]["char_end"] == len(context)
    assert context[payload["start"]:payload["end"]] == payload["answer"]
    assert any("overlapping windows" in note for note in payload["notes"])


def test_no_answer_toggle_reports_the_null_score(client):
    *_views, payload = qa(client, handle_impossible=True)
    assert payload["null_score"] is not None and payload["handle_impossible"] is True
    if payload["no_answer"]:
        assert (payload["answer"], payload["start"], payload["end"]) == ("", 0, 0)
    else:
        assert payload["score"] >= payload["null_score"]


@pytest.mark.parametrize("overrides, message", [
    ({"question": "  "}, "Question is empty"),
    ({"context": ""}, "Context is empty"),
    ({"question": "why " * 600}, "at most"),
    # Gradio checks its sliders' bounds before the handler runs; the task checks them again for direct callers.
    ({"max_answer_len": 0}, "less than minimum value 1"),
    ({"top_k": 500}, "greater than maximum value 20"),
    ({"model": "tiny:encoder"}, "no trained question-answering head"),
])
def test_bad_input(client, overrides, message):
    with pytest.raises(Exception, match=message) as caught:
        qa(client, **overrides)
    assert "Traceback" not in str(caught.value)


def test_the_logit_plot_by_words_or_pieces(client):
    _h, _a, by_pieces, *_rest, payload = qa(client, unit="pieces")
    _h, _a, by_words, *_rest, same = qa(client, unit="words")
    assert same == payload  # the switch changes the plot, not the result
    assert by_pieces != by_words
    with pytest.raises(Exception, match="not in the list of choices"):
        qa(client, unit="letters")
