"""/explanation_check through gradio_client against the launched tiny-mode app, for both tasks."""

from __future__ import annotations

import pytest
from gradio_client import Client

pytestmark = pytest.mark.integration

METHODS = ["integrated_gradients", "gradient_x_input", "attention", "rollout"]


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


def test_the_endpoint_takes_task_text_model_mask_number_steps_and_starts_neutral(client):
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/explanation_check"]
    parameters = {p["parameter_name"]: p for p in endpoint["parameters"]}
    assert list(parameters) == ["task", "text", "model", "mask_number", "steps"]
    assert not parameters["text"]["parameter_has_default"]
    assert parameters["task"]["parameter_default"] == "sentiment" and parameters["model"]["parameter_default"] == ""
    assert parameters["mask_number"]["parameter_default"] == 1 and parameters["steps"]["parameter_default"] == 32
    assert len(endpoint["returns"]) == 5


def test_sentiment_with_the_servers_default_model(client):
    header, plot, table, scores, payload = client.predict(text="I absolutely loved this product!",
                                                          api_name="/explanation_check")
    assert payload["task"] == "sentiment" and payload["model"].startswith("tiny:sequence_classification ")
    assert payload["target"] in ("NEGATIVE", "POSITIVE") and payload["replacement"] == "[MASK]"
    assert [w["text"] for w in payload["words"]] == ["I", "absolutely", "loved", "this", "product", "!"]
    assert payload["removed"] == [0, 1, 2, 3, 4, 5, 6] and payload["fractions"][-1] == 1
    assert set(payload["curves"]) == {*METHODS, "random"} == set(payload["aopc"])
    assert all(curve[0] == payload["p0"] and len(curve) == 7 for curve in payload["curves"].values())
    assert sorted(payload["ranking"]) == sorted([*METHODS, "random"]) and payload["steps"] == 32
    assert len(table["data"]) == 5 and table["headers"] == ["method", "AOPC", "minus random"]
    assert "AOPC" in header and "Samek" in header and "DeYoung" in header and "untrained" in header
    assert "Integrated gradients" in scores and plot is not None


def test_masked_words_read_the_chosen_mask(client):
    *_, payload = client.predict(task="fill_mask", text="The cat [MASK] on the [MASK].", mask_number=2, steps=8,
                                 api_name="/explanation_check")
    assert payload["task"] == "fill_mask" and payload["model"].startswith("tiny:masked_lm ")
    assert payload["position"] == 6 and payload["read_from"] == "[MASK] (mask 2)" and payload["steps"] == 8
    assert [w["text"] for w in payload["words"]] == ["The", "cat", "on", "the", "."]
    assert any("never deleted" in note for note in payload["notes"])


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "fill_mask", "text": "No mask here."}, "Put a [MASK] in the text"),
    ({"task": "fill_mask", "text": "One [MASK].", "mask_number": 3}, "the text has 1 mask"),
    ({"task": "translation", "text": "Fine."}, "not in the list of choices"),
    ({"text": "Fine.", "steps": 100_000}, "greater than maximum value 256"),
    ({"text": "Fine.", "steps": 2.5}, "Steps must be a whole number"),
    ({"text": "Fine.", "model": "tiny:masked_lm"}, "no trained classification head"),
    ({"text": "  "}, "Text is empty"),
])
def test_bad_input_gives_a_clear_message(client, kwargs, message):
    with pytest.raises(Exception, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
        client.predict(**kwargs, api_name="/explanation_check")
    assert "Traceback" not in str(caught.value)


def test_markup_in_the_text_is_escaped(client):
    header, _plot, _table, scores, _payload = client.predict(text='<img src=x onerror="alert(1)"> great',
                                                             steps=4, api_name="/explanation_check")
    # BERT splits "<img" into the words "<" and "img": the "<" comes back escaped.
    assert "<img" not in scores and ">&lt;</span>" in scores and "&quot;" in scores and "<img" not in header
