"""Fine-tuning lab through gradio_client against the launched tiny-mode app: the JSON contract, bounds, escaping,
per-session isolation of the trained model, try and download."""

from __future__ import annotations

import pytest
from gradio_client import Client

from bertviz_ui import examples

pytestmark = pytest.mark.integration

MODEL = "tiny:encoder"
XSS = '<img src=x onerror="alert(1)">'
TUTORIAL_TABLE = {"headers": ["text", "label"], "data": [[t, str(label)] for t, label in
                                                     zip(examples.TUTORIAL_REVIEWS, examples.TUTORIAL_REVIEW_LABELS)]}
HYPER = {"lr": 1e-4, "batch": 4, "epochs": 2, "warmup": 0.1, "max_length": 64, "clip": 1.0, "seed": 0,
         "frozen": False}


def _client(url: str) -> Client:
    return Client(url, verbose=False, analytics_enabled=False, download_files=False)


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return _client(app_server)


def _train(client: Client, table=None, **overrides):
    arguments = {"model": MODEL, "table": table or TUTORIAL_TABLE, **HYPER, "new_texts": "\n".join(examples.TUTORIAL_TEST_TEXTS),
                 **overrides}
    return client.predict(**arguments, api_name="/finetune")


def test_finetune_contract(client):
    status, _loss, _accuracy, report, _confusion, predictions, new_table, payload = _train(client)
    assert {"losses", "epoch_metrics", "baseline", "labels", "trainable_params", "total_params"} <= set(payload)
    assert payload["labels"] == ["0", "1"] and len(payload["losses"]) == 4  # 2 steps per epoch, 2 epochs
    assert payload["learning_rates"] == payload["schedule"]
    assert [e["epoch"] for e in payload["epoch_metrics"]] == [1, 2]
    assert payload["scheme"] == "cross-validation" and payload["n_evaluated"] == 8
    assert payload["trainable_params"] == payload["total_params"] > 0
    assert 0 <= payload["baseline"]["accuracy"] <= 1
    assert [row["text"] for row in payload["new_texts"]] == list(examples.TUTORIAL_TEST_TEXTS)
    assert "4 training steps took" in status and "4-fold cross-validation" in report
    assert len(predictions["data"]) == 8 and len(new_table["data"]) == 2


def test_preview_counts_follow_the_freeze_switch(client):
    *_, full = client.predict(MODEL, TUTORIAL_TABLE, *HYPER.values(), api_name="/finetune_preview")
    *_, frozen = client.predict(MODEL, TUTORIAL_TABLE, *list(HYPER.values())[:-1], True, api_name="/finetune_preview")
    assert full["trainable_params"] == full["total_params"] == frozen["total_params"]
    assert frozen["trainable_params"] == 32 * 2 + 2  # the tiny encoder's 32-wide pooled vector, 2 classes
    assert full["schedule"][0] == pytest.approx(1e-4) and len(full["schedule"]) == 4


def test_try_and_download_belong_to_the_session_that_trained(app_server):
    mine, other = _client(app_server), _client(app_server)
    _train(mine, epochs=1)
    _table, payload = mine.predict("lovely\nawful", api_name="/finetune_try")
    assert [row["text"] for row in payload["rows"]] == ["lovely", "awful"]
    assert set(payload["rows"][0]["scores"]) == {"0", "1"}
    archive = mine.predict(api_name="/finetune_download")
    assert str(archive.get("path") if isinstance(archive, dict) else archive).endswith("finetuned-model.zip")
    with pytest.raises(Exception, match="No fine-tuned model in this session yet") as caught:
        other.predict("lovely", api_name="/finetune_try")
    assert "Traceback" not in str(caught.value)
    with pytest.raises(Exception, match="No fine-tuned model in this session yet"):
        other.predict(api_name="/finetune_download")


@pytest.mark.parametrize("overrides, message", [
    # Gradio's Slider and Number check their own bounds first; the server's own check stands behind them.
    ({"epochs": 10**6}, "Value 1000000 is greater than maximum value 20"),
    ({"lr": 5}, "greater than maximum value 0.001"),
    ({"batch": 0}, "less than minimum value 1"),
    ({"clip": 11}, "greater than maximum value 10"),
    ({"table": {"headers": ["text", "label"], "data": [["a", "x"], ["b", "x"]]}}, "Only one label"),
    ({"table": {"headers": ["text", "label"], "data": [["a", "x"]]}}, "Only one label"),
    ({"table": {"headers": ["text", "label"], "data": [[f"t{i}", str(i % 2)] for i in range(10_000)]}},
     "at most 1,000"),
    ({"table": {"headers": ["text", "label"], "data": [[f"t{i}", str(i % 50)] for i in range(100)]}},
     "50 labels"),
    ({"new_texts": "x\n" * 30}, "at most 20"),
    ({"model": "not a model at all!"}, "model"),
])
def test_bad_input_gets_a_message_not_a_traceback(client, overrides, message):
    with pytest.raises(Exception, match=message) as caught:
        _train(client, **overrides)
    assert "Traceback" not in str(caught.value)


@pytest.mark.parametrize("raw, message", [
    ('a,"unclosed\n', "malformed"),
    ("a,b,c\n", "3 columns"),
    ("a,b\n" * 300_000, "up to 1,000,000"),
])
def test_bad_csv_is_refused(client, raw, message):
    with pytest.raises(Exception, match=message) as caught:
        client.predict(raw, api_name="/finetune_csv")
    assert "Traceback" not in str(caught.value)


def test_markup_in_labels_and_texts_is_escaped(client):
    table = {"headers": ["text", "label"], "data": [[XSS, XSS], ["fine", XSS], ["bad", "ok"], ["poor", "ok"]]}
    _status, _loss, _accuracy, report, _confusion, _predictions, _new_table, payload = _train(client, table=table,
                                                                                        epochs=1, new_texts=XSS)
    assert XSS in payload["labels"]
    assert "<img" not in report and "&lt;img" in report
    header, _params, _schedule, _preview = client.predict(MODEL, table, *HYPER.values(), api_name="/finetune_preview")
    assert "<img" not in header and "&lt;img" in header
    quoted = '"' + XSS.replace('"', '""') + '"'
    loaded, summary = client.predict(f"{quoted},{quoted}\nfine,{quoted}\nbad,ok\npoor,ok", api_name="/finetune_csv")
    assert loaded["data"][0] == [XSS, XSS]
    assert "<img" not in summary and "&lt;img" in summary


def test_compare_before_and_after_uses_the_session_that_trained(app_server):
    mine, other = _client(app_server), _client(app_server)
    with pytest.raises(Exception, match="No fine-tuned model in this session yet") as caught:
        other.predict(text="What a wonderful surprise.", api_name="/finetune_compare")
    assert "Traceback" not in str(caught.value)
    _train(mine, epochs=1)
    summary, cka, heads, top_heads, neighbours, payload = mine.predict(text="What a wonderful surprise.", top_n=3,
                                                                       api_name="/finetune_compare")
    assert set(payload["probabilities"]) == {"0", "1"}
    assert sum(payload["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    layers, heads_per_layer = 2, 2  # the tiny encoder
    assert len(payload["cka"]) == layers + 1 and payload["cka_layers"][0] == "embeddings"
    assert all(0.0 <= value <= 1.0 for value in payload["cka"])
    assert [len(row) for row in payload["attention_change"]] == [heads_per_layer] * layers
    js = [h["js"] for h in payload["top_heads"]]
    assert js == sorted(js, reverse=True) and len(js) == layers * heads_per_layer
    assert js[0] == pytest.approx(max(max(row) for row in payload["attention_change"]))
    assert len(payload["neighbours"]["base"]) == len(payload["neighbours"]["tuned"]) == 3
    assert {n["text"] for n in payload["neighbours"]["tuned"]} <= set(examples.TUTORIAL_REVIEWS)
    assert "Kornblith" in summary and "CKA" in summary and len(neighbours["data"]) == 6
    assert payload["notes"]
    for figure in (cka, heads, top_heads):
        assert figure is not None


@pytest.mark.parametrize("arguments, message", [
    ({"text": ""}, "Text is empty"),
    ({"text": "x" * 1_001}, "up to 1,000"),
    ({"text": "fine", "top_n": 11}, "11"),
])
def test_compare_checks_its_input_first(client, arguments, message):
    with pytest.raises(Exception, match=message) as caught:
        client.predict(**arguments, api_name="/finetune_compare")
    assert "Traceback" not in str(caught.value)
