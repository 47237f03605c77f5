"""Embeddings: the parts add up to what the model's LayerNorm receives, layer change and PCA from one forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import (
    AlbertConfig,
    AlbertModel,
    DistilBertConfig,
    DistilBertModel,
    RobertaConfig,
    RobertaModel,
)

from bertviz_ui.errors import BadInput
from bertviz_ui.registry import Head
from bertviz_ui.tasks.embeddings import check_color_by, embeddings_view, pca_2d
from bertviz_ui.tasks.encoder import embedding_parts, run_encoder

pytestmark = pytest.mark.usefixtures("one_thread")

TUTORIAL_A, TUTORIAL_B = "The cat sat on the mat.", "It was a lazy afternoon."
SMALL = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}


@pytest.fixture(scope="module")
def tiny(cache):
    return cache.load("tiny:encoder", Head.ENCODER, attentions=True)


def layer_norm_input(model, **inputs) -> torch.Tensor:
    """What the embeddings module feeds its LayerNorm, captured by a hook during a real forward."""
    seen = []
    handle = model.embeddings.LayerNorm.register_forward_pre_hook(lambda _module, args: seen.append(args[0]))
    try:
        with torch.inference_mode():
            model(**inputs)
    finally:
        handle.remove()
    return seen[0][0]


def test_bert_parts_sum_to_the_layernorm_input(tiny):
    encoding = tiny.tokenizer(TUTORIAL_A, TUTORIAL_B, return_tensors="pt")
    parts = embedding_parts(tiny.model, encoding["input_ids"], encoding["token_type_ids"])
    assert parts.names == ("token", "position", "segment")
    captured = layer_norm_input(tiny.model, **encoding)
    np.testing.assert_allclose(parts.summed, captured.numpy(), atol=1e-6)
    np.testing.assert_allclose(parts.vectors.sum(0), parts.summed, atol=1e-6)
    assert parts.position_ids == tuple(range(16))
    # Sentence B's tokens add segment row 1, sentence A's row 0.
    table = tiny.model.embeddings.token_type_embeddings.weight.detach().numpy()
    np.testing.assert_allclose(parts.vectors[2][9], table[1], atol=1e-7)
    np.testing.assert_allclose(parts.vectors[2][0], table[0], atol=1e-7)


def test_run_checks_layernorm_of_the_sum_against_the_model_output(tiny):
    run = run_encoder(TUTORIAL_A, TUTORIAL_B, model=tiny.model, tokenizer=tiny.tokenizer)
    assert run.embedding_parts.max_error < 1e-5
    result = embeddings_view(run, 1)
    assert result.reconstruction_error < 1e-5 and result.part_names == ("token", "position", "segment")
    assert len(result.part_norms) == 3 and len(result.part_norms[0]) == 16


def test_distilbert_has_no_segment_part():
    torch.manual_seed(0)
    model = DistilBertModel(DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=2, hidden_dim=64)).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    parts = embedding_parts(model, ids, None)
    assert parts.names == ("token", "position") and "no segment" in parts.notes[0]
    np.testing.assert_allclose(parts.summed, layer_norm_input(model, input_ids=ids).numpy(), atol=1e-6)


def test_roberta_positions_start_after_padding_idx():
    torch.manual_seed(0)
    model = RobertaModel(RobertaConfig(vocab_size=100, max_position_embeddings=40, type_vocab_size=1, pad_token_id=1,
                                       **SMALL)).eval()
    ids = torch.tensor([[0, 5, 6, 2]])
    parts = embedding_parts(model, ids, None)
    assert parts.position_ids == (2, 3, 4, 5) and "padding_idx + 1" in parts.notes[0]
    assert "single row" in parts.notes[1]
    np.testing.assert_allclose(parts.summed, layer_norm_input(model, input_ids=ids).numpy(), atol=1e-6)


def test_albert_factorized_embeddings_are_not_compared_with_the_layers():
    torch.manual_seed(0)
    model = AlbertModel(AlbertConfig(vocab_size=100, embedding_size=16, **SMALL)).eval()
    ids = torch.tensor([[2, 5, 6, 3]])
    with torch.inference_mode():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[0][0]
    parts = embedding_parts(model, ids, None, hidden)
    assert parts.max_error is None and any("ALBERT factorizes" in note for note in parts.notes)
    np.testing.assert_allclose(parts.summed, layer_norm_input(model, input_ids=ids).numpy(), atol=1e-6)


def test_layer_change_and_projection(tiny):
    run = run_encoder(TUTORIAL_A, TUTORIAL_B, model=tiny.model, tokenizer=tiny.tokenizer)
    result = embeddings_view(run, 2)
    assert len(result.cos_to_input) == 3 and len(result.cos_to_final) == 3
    np.testing.assert_allclose(result.cos_to_input[0], 1.0, atol=1e-5)
    np.testing.assert_allclose(result.cos_to_final[-1], 1.0, atol=1e-5)
    expected, _ = pca_2d(run.hidden_states[2])
    np.testing.assert_allclose(np.array(result.pca), expected, atol=1e-5)
    assert result.pca_layer == 2 and 0 < result.explained[1] <= result.explained[0] <= 1
    assert result.words[0] is None and result.words[1:3] == (0, 1)


def test_pca_on_crafted_points():
    points = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [3.0, 6.0, 0.0]])
    coords, explained = pca_2d(points)
    assert explained == pytest.approx((1.0, 0.0), abs=1e-12)
    np.testing.assert_allclose(np.abs(np.diff(coords[:, 0])), np.sqrt(5), atol=1e-9)
    np.testing.assert_allclose(coords[:, 1], 0.0, atol=1e-9)
    single, shares = pca_2d(points[:1])
    assert shares == (0.0, 0.0) and single.shape == (1, 2)


def test_bad_projection_layer_and_colouring(tiny):
    run = run_encoder(TUTORIAL_A, model=tiny.model, tokenizer=tiny.tokenizer)
    with pytest.raises(BadInput, match="Projection layer must be a whole number between 0 and 2"):
        embeddings_view(run, 3)
    with pytest.raises(BadInput, match="Colour by"):
        check_color_by("<b>")


def test_offline_minilm_parts_reproduce_its_embedding_output(cache):
    loaded = cache.load("sentence-transformers/all-MiniLM-L6-v2", Head.ENCODER, attentions=True)
    run = run_encoder(TUTORIAL_A, TUTORIAL_B, model=loaded.model, tokenizer=loaded.tokenizer)
    assert run.embedding_parts.max_error < 1e-4
    result = embeddings_view(run, 6)
    # Real weights: the position part differs from token to token, the segment part only between sentences.
    segment = np.array(result.part_norms[2])
    assert len(set(segment[:9].round(5))) == 1 and len(set(segment[9:].round(5))) == 1
    assert segment[0] != segment[9]
