"""models/anatomy.py, one row per architecture: every answer checked against the model's own forward."""

from __future__ import annotations

import pytest
import torch
import transformers

from bertviz_ui.models import anatomy
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head

SMALL = {"vocab_size": 120, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 64, "max_position_embeddings": 64}
# architecture: (config class, config kwargs, expected family, segment rows, position limit, packable, projected)
ARCHITECTURES = {
    "bert": ("BertConfig", SMALL, "BERT", 2, 64, True, False),
    "distilbert": ("DistilBertConfig", {"vocab_size": 120, "dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64,
                                        "max_position_embeddings": 64}, "DistilBERT", 0, 64, True, False),
    "roberta": ("RobertaConfig", {**SMALL, "max_position_embeddings": 66, "pad_token_id": 1, "type_vocab_size": 1},
                "RoBERTa", 1, 64, False, False),
    "albert": ("AlbertConfig", {**SMALL, "embedding_size": 16}, "ALBERT", 2, 64, False, True),
    "electra": ("ElectraConfig", {**SMALL, "embedding_size": 16}, "ELECTRA", 2, 64, False, True),
}
IDS = torch.tensor([[2, 17, 33, 48, 5, 91, 3]])


def build(architecture: str, head: Head, **extra):
    config_class, kwargs, *_ = ARCHITECTURES[architecture]
    config = getattr(transformers, config_class)(**kwargs, **extra)
    torch.manual_seed(0)
    return getattr(transformers, anatomy.auto_class(head)).from_config(config).eval()


def first_hidden(model, ids=IDS):
    return anatomy.encoder(model)(input_ids=ids)[0]


def test_every_model_head_has_one_auto_class():
    assert set(anatomy.AUTO_CLASSES) == set(Head) - {Head.TOKENIZER}
    assert all(hasattr(transformers, name) for name in anatomy.AUTO_CLASSES.values())
    assert anatomy.auto_class(Head.NLI) == anatomy.auto_class(Head.SEQUENCE_CLASSIFICATION)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_mlm_head_applied_to_the_encoder_output_gives_the_models_logits(architecture):
    model = build(architecture, Head.MASKED_LM)
    head = anatomy.mlm_head(model)
    assert head is not None
    with torch.inference_mode():
        assert torch.allclose(head(first_hidden(model)), model(input_ids=IDS).logits, atol=1e-5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_classifier_head_opened_up_gives_the_models_logits(architecture):
    model = build(architecture, Head.SEQUENCE_CLASSIFICATION, num_labels=3)
    head = anatomy.classifier_head(model)
    assert head is not None and head.final.out_features == 3
    with torch.inference_mode():
        first = first_hidden(model)[:, 0]
        logits = model(input_ids=IDS).logits
        assert torch.allclose(head.final(head.to_final(first)), logits, atol=1e-5)
        assert torch.allclose(head.forward(first), logits, atol=1e-5)  # eval: dropout off
    assert ARCHITECTURES[architecture][2] in head.description or type(model).__name__ in head.description


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_family_segments_positions_and_packing(architecture):
    _, _, family, segments, limit, packable, _ = ARCHITECTURES[architecture]
    model = build(architecture, Head.ENCODER)
    assert anatomy.family(model) == family
    assert anatomy.token_type_rows(model) == segments
    assert anatomy.position_limit(model.config) == limit
    assert anatomy.plain_positions(model) is packable

    class Unlimited:
        model_max_length = int(1e30)

    assert anatomy.max_length(Unlimited(), model) == limit
    Unlimited.model_max_length = 16
    assert anatomy.max_length(Unlimited(), model) == 16


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_embedding_tables_add_up_to_the_embedding_output(architecture):
    model = build(architecture, Head.ENCODER)
    tables = anatomy.embedding_tables(model)
    _, _, _, segments, _, _, projected = ARCHITECTURES[architecture]
    assert tables is not None and tables.projected is projected
    assert (tables.segment is None) == (segments == 0)
    if tables.padding_idx is not None:  # RoBERTa numbers positions after the padding index
        positions = torch.arange(IDS.shape[1]) + tables.padding_idx + 1
    else:
        positions = torch.arange(IDS.shape[1])
    with torch.inference_mode():
        summed = tables.word(IDS)[0] + tables.position(positions)
        if tables.segment is not None:
            summed = summed + tables.segment(torch.zeros_like(IDS))[0]
        expected = anatomy.encoder(model).embeddings(input_ids=IDS)[0]
        assert torch.allclose(tables.norm(summed), expected, atol=1e-5)


def test_no_head_where_an_architecture_has_none():
    encoder = build("bert", Head.ENCODER)
    assert anatomy.mlm_head(encoder) is None and anatomy.classifier_head(encoder) is None
    assert anatomy.embedding_tables(torch.nn.Linear(2, 2)) is None
    assert anatomy.position_limit(None) is None


def test_untrained_weight_filters():
    assert anatomy.untrained_mlm_weights(("bert.pooler.dense.weight", "cls.predictions.bias")) == \
        ["cls.predictions.bias"]
    assert anatomy.untrained_classifier_weights(("classifier.weight", "pre_classifier.bias", "bert.pooler.dense.bias",
                                                 "score.weight")) == ["classifier.weight", "pre_classifier.bias",
                                                                      "score.weight"]


def test_bert_last_layer_at_positions_equals_the_full_forward():
    model = build("bert", Head.MASKED_LM)
    encoding = {"input_ids": IDS, "token_type_ids": torch.zeros_like(IDS), "attention_mask": torch.ones_like(IDS)}
    with torch.inference_mode():
        full = anatomy.encoder(model)(**encoding)[0][0]
        rows = anatomy.bert_last_layer_at(model, encoding, [(0, 2), (0, 5)])
    assert rows is not None and torch.allclose(rows, full[[2, 5]], atol=1e-5)
    padded = {**encoding, "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1, 0]])}
    assert anatomy.bert_last_layer_at(model, padded, [(0, 2)]) is None  # padding: the ordinary forward
    assert anatomy.bert_last_layer_at(build("roberta", Head.MASKED_LM), encoding, [(0, 2)]) is None


def test_minilm_the_offline_model_is_read_as_bert(cache):
    loaded = cache.load(OFFLINE_MODEL_ID, Head.ENCODER)
    model = loaded.model
    assert anatomy.family(model) == "BERT" and anatomy.token_type_rows(model) == 2
    assert anatomy.max_length(loaded.tokenizer, model) == 512 and anatomy.plain_positions(model)
    tables = anatomy.embedding_tables(model)
    assert tables is not None and tables.word.embedding_dim == 384 and not tables.projected
