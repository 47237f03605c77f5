"""Parameters: counts per module equal sum(p.numel()), the seed's classifier figures checked, the comparison measured."""

from __future__ import annotations

import pytest
from transformers import AlbertConfig

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.registry import Head
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of
from bertviz_ui.tasks.parameters import (
    CONFIG_SNAPSHOTS,
    LATENCY_TOKENS,
    SNAPSHOT_LABEL,
    TUTORIAL_TABLE,
    build_on_meta,
    compare_models,
    count_parameters,
    count_with_head,
    latency_flops,
    measure_latency,
    seed_check,
    snapshot_config,
    timing_config,
    with_latencies,
)

pytestmark = pytest.mark.usefixtures("one_thread")

# Measured with transformers 5 (AutoModel.from_config, pooler included); the seed's table rounds them.
BASE_MODEL_PARAMETERS = {
    "google-bert/bert-base-uncased": 109_482_240,
    "google-bert/bert-large-uncased": 335_141_888,
    "FacebookAI/roberta-base": 124_645_632,
    "distilbert/distilbert-base-uncased": 66_362_880,
    "albert/albert-base-v2": 11_683_584,
}


@pytest.fixture(scope="module")
def tiny(cache):
    return cache.load("tiny:encoder", Head.ENCODER)


def offline(_model_id):
    raise ModelUnavailable("the Hub can't be reached")


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


def test_comparison_offline_uses_snapshots_and_counts_parameters():
    comparison = compare_models(offline)
    assert [row.model_id for row in comparison.rows] == [model_id for _, model_id, _, _ in TUTORIAL_TABLE]
    assert all(row.config_source == SNAPSHOT_LABEL for row in comparison.rows)
    assert {row.model_id: row.parameters for row in comparison.rows} == BASE_MODEL_PARAMETERS
    shapes = {row.name: (row.layers, row.hidden, row.heads) for row in comparison.rows}
    assert shapes == {"bert-base": (12, 768, 12), "bert-large": (24, 1024, 16), "roberta-base": (12, 768, 12),
                      "distilbert-base": (6, 768, 12), "albert-base": (12, 768, 12)}
    assert any("snapshot of their published config.json" in note for note in comparison.notes)


def test_comparison_reads_configs_it_can_get(tiny):
    configs = {"google-bert/bert-base-uncased": tiny.model.config}
    comparison = compare_models(lambda model_id: configs[model_id] if model_id in configs else offline(model_id),
                                extra=[("tiny", "tiny:encoder", tiny.model.config)])
    assert comparison.rows[0].config_source == "config.json" and comparison.rows[0].hidden == 32
    assert comparison.rows[0].parameters == sum(p.numel() for p in tiny.model.parameters())
    assert comparison.rows[-1].model_id == "tiny:encoder" and comparison.rows[-1].config_source == "loaded model"


def test_speed_is_relative_to_bert_base_or_says_which():
    comparison = compare_models(offline)
    timed = with_latencies(comparison, {"google-bert/bert-base-uncased": (0.2, "x"),
                                        "distilbert/distilbert-base-uncased": (0.1, "x")})
    speeds = {row.name: row.speed for row in timed.rows}
    assert speeds["bert-base"] == 1.0 and speeds["distilbert-base"] == 2.0 and speeds["bert-large"] is None
    assert timed.baseline == "bert-base" and timed.rows[0].latency_ms == pytest.approx(200)
    other = with_latencies(comparison, {"albert/albert-base-v2": (0.4, "x"), "FacebookAI/roberta-base": (0.2, "x")})
    assert other.baseline == "roberta-base" and "relative to roberta-base" in other.notes[-2]
    assert "Speed = roberta-base's latency" in other.notes[-1]
    assert {row.name: row.speed for row in other.rows}["albert-base"] == 0.5
    assert with_latencies(comparison, {}).baseline == ""


def test_latency_is_measured_on_the_model(tiny):
    assert measure_latency(tiny.model, tokens=16, repeats=2) > 0  # a number, never asserted against a time


def test_snapshots_build_the_published_architectures():
    for model_id in CONFIG_SNAPSHOTS:
        config = snapshot_config(model_id)
        assert config.model_type == CONFIG_SNAPSHOTS[model_id]["model_type"]


# --- Budgets ------------------------------------------------------------------------------------------------------

def test_a_model_too_large_to_copy_is_timed_on_fewer_layers():
    large = snapshot_config("google-bert/bert-large-uncased")
    built, layers = timing_config(large, 0.75e9)
    weights = 4 * sum(p.numel() for p in build_on_meta(built).parameters())
    one_more = large.__class__.from_dict({**built.to_dict(), "num_hidden_layers": built.num_hidden_layers + 1})
    assert layers == 24 and 1 <= built.num_hidden_layers < 24 and large.num_hidden_layers == 24
    assert weights <= 0.75e9 < 4 * sum(p.numel() for p in build_on_meta(one_more).parameters())
    base = snapshot_config("google-bert/bert-base-uncased")
    assert timing_config(base, 0.75e9) == (base, 12)  # 438 MB of weights: built whole


def test_timing_costs_one_forward_per_repeat():
    shape = shape_of(build_on_meta(snapshot_config("google-bert/bert-base-uncased")))
    assert latency_flops(shape, 6) == 6 * forward_flops(shape, LATENCY_TOKENS)


def test_loaded_models_beyond_the_budget_are_not_timed_and_the_table_says_so(tiny):
    from types import SimpleNamespace

    from bertviz_ui.ui.attention import show_comparison

    cache = SimpleNamespace(held=lambda: (tiny,), load_config=lambda ref: (_ for _ in ()).throw(OSError(ref)))
    _, _, payload = show_comparison(SimpleNamespace(cache=cache, budget=Budget(gflop=1e-9)))
    assert any(note == f"Not timed, to keep this request within its budget: {tiny.source.ref}."
               for note in payload["notes"])
    assert all(row["latency_ms"] is None for row in payload["rows"])
    _, _, payload = show_comparison(SimpleNamespace(cache=cache, budget=Budget()))
    assert [row["latency_ms"] is not None for row in payload["rows"]][-1]
