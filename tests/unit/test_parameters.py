"""Parameters: counts per module equal sum(p.numel()), and the seed's classifier figures checked."""

from __future__ import annotations

import pytest
from transformers import AlbertConfig

from bertviz_ui.errors import BadInput
from bertviz_ui.registry import Head
from bertviz_ui.tasks.parameters import build_on_meta, count_parameters, count_with_head, seed_check

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(cache):
    return cache.load("tiny:encoder", Head.ENCODER)


def test_seed_classifier_counts_measured_against_the_seed():
    check = seed_check()
    assert check.bert_model == 109_482_240 and check.classifier == 1_538
    assert check.total == check.trainable == check.for_sequence_classification == 109_483_778
    assert check.frozen_trainable == 1_538 == 768 * 2 + 2
    assert check.seed_total - check.total == 768
    assert "109,484,546, 768 more" in check.notes[0] and "single linear layer" in check.notes[2]


def test_rows_of_the_loaded_encoder_add_up_to_its_total(tiny):
    count = count_with_head(tiny.model, label="tiny")
    assert count.total == sum(p.numel() for p in tiny.model.parameters()) == count.encoder
    assert sum(row.parameters for row in count.modules) == count.total
    assert [row.name for row in count.modules] == ["embeddings", "encoder.layer.0", "encoder.layer.1", "pooler"]
    embeddings = tiny.model.embeddings
    assert count.modules[0].parameters == sum(p.numel() for p in embeddings.parameters()) == (30522 + 512 + 2) * 32 + 64
    assert count.modules[3].parameters == 32 * 32 + 32


def test_a_task_head_is_counted_on_the_meta_device(tiny):
    count = count_with_head(tiny.model, label="tiny", head="sequence classification", num_labels=3)
    assert count.architecture == "BertForSequenceClassification"
    assert count.modules[-1].name == "classifier" and count.modules[-1].parameters == 32 * 3 + 3
    assert count.total - count.encoder == 99 and count.encoder == sum(p.numel() for p in tiny.model.parameters())
    assert sum(row.parameters for row in count.modules) == count.total


def test_tied_weights_are_counted_once(tiny):
    count = count_with_head(tiny.model, label="tiny", head="masked LM")
    built = build_on_meta(tiny.model.config, "AutoModelForMaskedLM")
    assert count.total == sum(p.numel() for p in built.parameters())
    assert sum(row.parameters for row in count.modules) == count.total
    assert any("word_embeddings.weight" in note for note in count.notes)


def test_offline_minilm_count(cache):
    loaded = cache.load("sentence-transformers/all-MiniLM-L6-v2", Head.ENCODER)
    count = count_with_head(loaded.model, label=loaded.label)
    assert count.total == sum(p.numel() for p in loaded.model.parameters()) == 22_713_216
    assert len([r for r in count.modules if r.name.startswith("encoder.layer.")]) == 6


def test_albert_shared_layers_are_said():
    config = AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=4,
                          num_attention_heads=2, intermediate_size=64)
    count = count_parameters(build_on_meta(config))
    assert sum(row.parameters for row in count.modules) == count.total
    assert "encoder.albert_layer_groups.0" in [row.name for row in count.modules]
    assert any("4 layers reuse 1 layer group" in note for note in count.notes)


@pytest.mark.parametrize("head, labels, message", [
    ("regression", 2, "Head must be one of"),
    ("sequence classification", 0, "Number of labels must be a whole number between 1 and 1000"),
    ("sequence classification", "<b>", "Number of labels"),
])
def test_bad_head_choices(tiny, head, labels, message):
    with pytest.raises(BadInput, match=message):
        count_with_head(tiny.model, label="tiny", head=head, num_labels=labels)
