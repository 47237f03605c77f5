"""The seed's model comparison, measured: configs read or snapshots used, parameters counted, latency timed within
the request's budget."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from bertviz_ui.errors import ModelUnavailable
from bertviz_ui.registry import Head
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of
from bertviz_ui.tasks.comparison import (
    CONFIG_SNAPSHOTS,
    LATENCY_TOKENS,
    SNAPSHOT_LABEL,
    TUTORIAL_TABLE,
    compare_loaded_models,
    compare_models,
    latency_flops,
    measure_latency,
    snapshot_config,
    time_random_builds,
    timing_config,
    with_latencies,
)
from bertviz_ui.tasks.parameters import build_on_meta

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
    cache = SimpleNamespace(held=lambda: (tiny,), load_config=lambda ref: (_ for _ in ()).throw(OSError(ref)))
    payload = compare_loaded_models(cache, Budget(gflop=1e-9)).to_dict()
    assert any(note == f"Not timed, to keep this request within its budget: {tiny.source.ref}."
               for note in payload["notes"])
    assert all(row["latency_ms"] is None for row in payload["rows"])
    payload = compare_loaded_models(cache, Budget()).to_dict()
    assert [row["latency_ms"] is not None for row in payload["rows"]][-1]


def test_without_a_loaded_model_nothing_is_timed_and_the_table_says_so():
    cache = SimpleNamespace(held=lambda: (), load_config=offline)
    comparison = compare_loaded_models(cache, Budget())
    assert all(row.latency_ms is None and row.speed is None for row in comparison.rows)
    assert comparison.notes[-1].startswith("No model is loaded yet, so nothing was timed")


def test_random_copies_beyond_the_budget_are_not_built_and_the_table_says_so():
    cache = SimpleNamespace(held=lambda: (), load_config=offline, device="cpu", dtype=torch.float32)
    comparison = time_random_builds(cache, Budget(gflop=1e-9))
    assert all(row.latency_ms is None for row in comparison.rows)
    assert comparison.notes[-6].startswith("Random-weight copies timed with ")
    assert list(comparison.notes[-5:]) == [f"{name} was not timed, to keep this request within its budget."
                                           for name, _, _, _ in TUTORIAL_TABLE]
