"""The classroom load test's pure parts (plans, requests, figures, the table) and its checkpoints; no server."""

from __future__ import annotations

import pytest

from bench import checkpoints
from bench.checkpoints import CHECKPOINTS, ENDPOINT_CHECKPOINT, app_env, bert_base_config, build_checkpoint
from bench.classroom import (
    MIXES,
    VARIANTS,
    Action,
    Click,
    base_requests,
    classroom_plan,
    first_and_later,
    request_data,
)
from bench.classroom_report import Figures, figures, summary_table
from bench.load import LIGHT, Call, _percentile, payloads
from bertviz_ui.config import OPTIONS, load_settings
from bertviz_ui.models import build_cache
from bertviz_ui.models.sources import NER_LABELS, SENTIMENT_LABELS, offline_model_dir
from bertviz_ui.registry import Head, task_by_id
from bertviz_ui.tasks.fill_mask.masks import check_mlm_head
from bertviz_ui.tasks.ner import check_token_classifier
from bertviz_ui.tasks.nsp import check_nsp_head
from bertviz_ui.tasks.qa import check_qa_model
from bertviz_ui.tasks.sentiment.inputs import check_classifier
from bertviz_ui.tasks.zero_shot import METHOD_EMBEDDING, check_nli_model

LESSON = MIXES["bert-base"]


def plan(students=30, seed=0, seconds=120.0, ramp_s=10.0, think_s=(3.0, 8.0), mix=LESSON):
    return classroom_plan(students, seconds=seconds, ramp_s=ramp_s, seed=seed, mix=mix, think_s=think_s)


# --- Plans -----------------------------------------------------------------------------------------------------------

def test_a_plan_comes_from_the_seed_alone():
    assert plan(seed=3) == plan(seed=3)
    assert plan(seed=3) != plan(seed=4)
    # A student's plan is its own: a larger class leaves the first students' clicks as they were.
    assert plan(students=40, seed=3)[:30] == plan(students=30, seed=3)


def test_students_join_within_the_ramp_and_plan_just_enough_clicks_to_fill_the_class():
    for student in plan(students=50, seconds=90.0, ramp_s=10.0):
        assert 0 <= student.start_s < 10.0
        thinks = [action.think_s for action in student.actions]
        assert all(3.0 <= t <= 8.0 for t in thinks)
        # Clicks go on until the class's end even if every answer were instant, and not one more.
        assert student.start_s + sum(thinks) >= 90.0 > student.start_s + sum(thinks[:-1])
    assert {student.start_s for student in plan(students=5, ramp_s=0.0)} == {0.0}


def test_clicks_follow_the_mix_and_the_variants():
    actions = [action for student in plan(students=300, seed=1) for action in student.actions]
    assert {action.endpoint for action in actions} == set(LESSON)
    share = {endpoint: sum(a.endpoint == endpoint for a in actions) / len(actions) for endpoint in LESSON}
    for endpoint, weight in LESSON.items():
        assert share[endpoint] == pytest.approx(weight / sum(LESSON.values()), abs=0.02), endpoint
    assert all(0 <= a.variant < len(VARIANTS[a.endpoint]) for a in actions)
    assert {(a.endpoint, a.variant) for a in actions} == {(e, v) for e in LESSON for v in range(len(VARIANTS[e]))}
    minilm = [a.endpoint for s in plan(students=20, mix=MIXES["minilm"]) for a in s.actions]
    assert set(minilm) == {"tokenize", "zero_shot", "similarity"}


@pytest.mark.parametrize("arguments", [{"students": 0}, {"seconds": 0.0}, {"ramp_s": -1.0}, {"think_s": (0.0, 1.0)},
                                       {"think_s": (5.0, 3.0)}])
def test_a_plan_that_cannot_be_is_refused(arguments):
    with pytest.raises(ValueError):
        plan(**arguments)


# --- Requests -----------------------------------------------------------------------------------------------------

def test_a_variant_types_into_the_endpoints_own_inputs_and_leaves_the_base_alone():
    base = base_requests({e: f"model-{e}" for e in LIGHT}, "bert-base")
    assert {e: base[e] for e in LIGHT} == payloads({e: f"model-{e}" for e in LIGHT})
    for endpoint, variants in VARIANTS.items():
        for variant in range(len(variants)):
            data = request_data(Action(endpoint, variant, 1.0), base)
            assert len(data) == len(base[endpoint])
            for position, value in variants[variant].items():
                assert position > 0 and isinstance(base[endpoint][position], str) and data[position] == value
    assert request_data(Action("nsp", 1, 1.0), base)[1:3] == ["The cat sat on the mat.", "The stock market crashed."]
    assert base == base_requests({e: f"model-{e}" for e in LIGHT}, "bert-base")  # nothing typed into the base


def test_the_minilm_class_asks_for_what_the_offline_model_serves():
    base = base_requests({}, "minilm")
    assert base["zero_shot"][:2] == ["sentence-transformers/all-MiniLM-L6-v2", METHOD_EMBEDDING]
    assert base["tokenize"][0] == base["similarity"][0] == "sentence-transformers/all-MiniLM-L6-v2"
    assert set(MIXES["minilm"]) <= set(base)


# --- Figures and the table --------------------------------------------------------------------------------------

def test_percentiles_are_nearest_rank():
    values = [float(x) for x in range(20, 0, -1)]
    assert (_percentile(values, 0.5), _percentile(values, 0.95), _percentile([2.0], 0.95)) == (11.0, 19.0, 2.0)


def test_figures_count_errors_apart_and_time_only_answers():
    calls = [Call("fill_mask", float(s), True, bytes=1024 * s) for s in range(1, 21)]
    calls += [Call("fill_mask", 60.0, False, "Queue is full"), Call("qa", 0.5, True, bytes=2048)]
    rows = figures(calls, ["fill_mask", "nsp", "qa"])
    assert rows == (
        Figures("fill_mask", 21, 1, 11.0, 19.0, 20.0, 1024 * 10.5),
        Figures("nsp", 0, 0, None, None, None, None),
        Figures("qa", 1, 0, 0.5, 0.5, 0.5, 2048.0),
        Figures("all", 22, 1, 10.0, 19.0, 20.0, (1024 * 210 + 2048) / 21),
    )
    assert summary_table(rows).markdown().splitlines() == [
        "| endpoint | requests | errors | p50 s | p95 s | max s | KB/answer |",
        "|---|---|---|---|---|---|---|",
        "| fill_mask | 21 | 1 | 11.00 | 19.00 | 20.00 | 10 |",
        "| nsp | 0 | 0 | - | - | - | - |",
        "| qa | 1 | 0 | 0.50 | 0.50 | 0.50 | 2 |",
        "| all | 22 | 1 | 10.00 | 19.00 | 20.00 | 10 |",
    ]


def test_each_students_first_click_is_told_apart():
    clicks = [Click(1, 4.0, Call("qa", 0.3, True)), Click(0, 0.5, Call("nsp", 2.0, True)),
              Click(0, 6.0, Call("nsp", 0.2, True)), Click(1, 9.0, Call("ner", 0.1, False))]
    first, later = first_and_later(clicks)
    assert (first, later) == ([clicks[0].call, clicks[1].call], [clicks[2].call, clicks[3].call])


# --- Checkpoints -------------------------------------------------------------------------------------------------

def test_the_checkpoints_are_bert_base_sized():
    config = bert_base_config(SENTIMENT_LABELS)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size,
            config.vocab_size, config.max_position_embeddings) == (768, 12, 12, 3072, 30522, 512)
    assert config.id2label == {0: "NEGATIVE", 1: "POSITIVE"}


def tiny_config(labels):
    config = bert_base_config(labels)
    config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size = 32, 2, 2, 64
    return config


def test_every_light_tab_takes_its_checkpoint_through_the_apps_own_settings(tmp_path, cache_dir):
    vocabulary = offline_model_dir(cache_dir)
    paths = {c.name: build_checkpoint(c, tmp_path / c.name, vocabulary, config_for=tiny_config) for c in CHECKPOINTS}
    env = app_env(paths, LIGHT)
    assert set(env) <= {option.env for option in OPTIONS}
    # Public mode: only directories the server's own settings name are loaded, even under the temp dir.
    settings = load_settings([], {**env, "BERTVIZ_UI_PUBLIC": "1", "BERTVIZ_UI_DEVICE": "cpu",
                                  "BERTVIZ_UI_CACHE_DIR": str(cache_dir)})
    cache = build_cache(settings)
    loaded = {}
    for endpoint in LIGHT:
        task = task_by_id(ENDPOINT_CHECKPOINT[endpoint][0])
        loaded[endpoint] = cache.load_for_task(task, settings.model_for(task.id))
        assert loaded[endpoint].source.kind == "local"
    tokenizer = loaded["tokenize"].tokenizer
    assert tokenizer("The cat sat on the mat.")["input_ids"] == [101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 102]
    assert loaded["tokenize"].head is Head.TOKENIZER
    for endpoint in LIGHT[1:]:
        assert loaded[endpoint].newly_initialized == (), endpoint
    check_mlm_head(loaded["fill_mask"].newly_initialized)
    check_nsp_head(loaded["nsp"].model, loaded["nsp"].newly_initialized)
    check_classifier(loaded["sentiment"].newly_initialized)
    assert loaded["sentiment"].model.config.id2label == dict(enumerate(SENTIMENT_LABELS))
    assert check_token_classifier(loaded["ner"].model, loaded["ner"].newly_initialized) == NER_LABELS
    assert check_nli_model(loaded["zero_shot"].model, loaded["zero_shot"].newly_initialized) == 2  # entailment
    check_qa_model(loaded["qa"].model, loaded["qa"].newly_initialized)


def test_checkpoints_already_built_are_reused(tmp_path, cache_dir, monkeypatch):
    for checkpoint in CHECKPOINTS:
        (tmp_path / checkpoints.CHECKPOINTS_VERSION / checkpoint.name).mkdir(parents=True)
        (tmp_path / checkpoints.CHECKPOINTS_VERSION / checkpoint.name / "config.json").write_text("{}")
    monkeypatch.setattr(checkpoints, "build_checkpoint", lambda *a, **k: pytest.fail("rebuilt a checkpoint"))
    paths = checkpoints.ensure_checkpoints(tmp_path, app_cache_dir=cache_dir, log=pytest.fail)
    assert paths == {c.name: tmp_path / checkpoints.CHECKPOINTS_VERSION / c.name for c in CHECKPOINTS}

