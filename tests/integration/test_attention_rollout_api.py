"""/attention_rollout through gradio_client against the launched tiny-mode app: its raw JSON, checked against an
independent rollout of the same checkpoint's attentions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gradio_client import Client

from bertviz_ui.config import Settings
from bertviz_ui.models import build_cache
from bertviz_ui.registry import Head

pytestmark = pytest.mark.integration

MODEL = "tiny:encoder"
TUTORIAL_A, TUTORIAL_B = "The cat sat on the mat.", "It was a lazy afternoon."


@pytest.fixture(scope="module")
def client(app_server: str) -> Client:
    return Client(app_server, verbose=False, analytics_enabled=False, download_files=False)


@pytest.fixture(scope="module")
def reference(cache_dir):
    """The tiny checkpoint the app serves, loaded here through the same cache folder, and an independent rollout."""
    loaded = build_cache(Settings(tiny=True, device="cpu", cache_dir=cache_dir)).load(MODEL, Head.ENCODER,
                                                                                      attentions=True)

    def rollout(text: str, pair: str = "") -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        encoding = loaded.tokenizer(text, *((pair,) if pair else ()), return_tensors="pt")
        with torch.inference_mode():
            attentions = loaded.model(**encoding, output_attentions=True).attentions
        n = encoding["input_ids"].shape[1]
        rolled, layers, means = torch.eye(n, dtype=torch.float64), [], []
        for weights in attentions:
            mean = weights[0].double().mean(0)
            mixed = 0.5 * mean + 0.5 * torch.eye(n, dtype=torch.float64)
            rolled = (mixed / mixed.sum(-1, keepdim=True)) @ rolled
            layers.append(rolled)
            means.append(mean)
        return layers, means

    return rollout


def test_rollout_contract_and_values(client, reference):
    notes, layer, token, heatmap, bars, raw = client.predict(text=TUTORIAL_A, pair=TUTORIAL_B,
                                                             api_name="/attention_rollout")
    assert raw["tokens"][:3] == ["[CLS]", "the", "cat"] and len(raw["tokens"]) == 16
    assert raw["layer"] == 1 and raw["layers"] == 2 and raw["token"] == 0 and raw["unit"] == "pieces"
    # The pickers follow the run: its layers (and "last"), its tokens.
    assert "pieces" in notes and layer["value"] == -1 and token["value"] == 0
    assert [value for _, value in layer["choices"]] == [-1, 0, 1] and token["choices"][1] == ["1: the", 1]
    matrix = np.array(raw["rollout"])
    assert matrix.shape == (16, 16)
    np.testing.assert_allclose(matrix.sum(-1), 1.0, atol=1e-6)
    layers, means = reference(TUTORIAL_A, TUTORIAL_B)
    np.testing.assert_allclose(matrix, layers[1].numpy(), atol=1e-6)
    np.testing.assert_allclose(raw["raw_attention"], means[1][0].numpy(), atol=1e-6)
    assert raw["rollout_row"] == raw["rollout"][0]
    flow = np.array(raw["flow"])  # on by default: the text is under 64 tokens
    assert flow.shape == (16,) and raw["flow_reason"] is None
    assert ((flow >= 0) & (flow <= 1 + 1e-6)).all() and flow[0] >= 0.5 - 1e-6
    assert heatmap and bars


def test_an_earlier_layer_another_token_in_words(client, reference):
    *_, raw = client.predict(text="Tokenization is fun.", layer=0, token=2, unit="words", flow=False,
                             api_name="/attention_rollout")
    assert raw["unit"] == "words" and raw["tokens"][:3] == ["[CLS]", "tokenization", "is"]
    assert raw["members"][1] == [1, 2] and raw["row"] == 1 and raw["flow"] is None and raw["flow_reason"] is None
    matrix = np.array(raw["rollout"])
    np.testing.assert_allclose(matrix.sum(-1), 1.0, atol=1e-6)
    layers, _ = reference("Tokenization is fun.")
    pieces = layers[0].numpy()
    merged = [[np.mean([pieces[i, v].sum() for i in u]) for v in raw["members"]] for u in raw["members"]]
    np.testing.assert_allclose(matrix, merged, atol=1e-6)


def test_long_text_keeps_rollout_and_says_why_flow_is_absent(client):
    *_, raw = client.predict(text="word " * 100, api_name="/attention_rollout")
    assert len(raw["tokens"]) == 102 and raw["flow"] is None and "at most 64 tokens" in raw["flow_reason"]
    np.testing.assert_allclose(np.array(raw["rollout"]).sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize(("inputs", "said"), [
    ({"layer": 2}, "Layer must"), ({"token": -3}, "Token must"), ({"unit": "letters"}, "letters"),
    ({"text": ""}, "Text is empty"),
])
def test_bad_input_is_refused_with_a_message(client, inputs, said):
    with pytest.raises(Exception, match=said):
        client.predict(**{"text": TUTORIAL_A, **inputs}, api_name="/attention_rollout")
