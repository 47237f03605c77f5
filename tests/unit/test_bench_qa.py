"""The qa benchmark case: a context of exactly 8 windows, batched vs. one call per window, same answer."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import torch

from bench.__main__ import main
from bench.cases import select_cases
from bench.cases.qa import QA_WINDOWS, qa_window_tokens
from bench.harness import case_ref, load_case_models, run_cases
from bench.random_models import RANDOM_DISTILBERT_QA, random_distilbert_qa
from bertviz_ui.config import Settings
from bertviz_ui.models import build_cache
from bertviz_ui.models.cache import ModelCache
from bertviz_ui.registry import Head

(QA_CASE,) = select_cases(["qa"])


@pytest.fixture(scope="module")
def bench_cache(cache_dir: Path) -> ModelCache:
    return build_cache(Settings(device="cpu", cache_dir=cache_dir))


def test_the_sample_fills_exactly_eight_full_windows_and_both_variants_agree(bench_cache):
    models = load_case_models(bench_cache, QA_CASE, "tiny:question_answering")
    (sample,) = QA_CASE.make_samples(models)
    batched = QA_CASE.run_task(models, sample)
    sequential = QA_CASE.run_baseline(models, sample)
    assert len(batched.windows) == batched.total_windows == QA_WINDOWS
    assert {len(w.tokens) for w in batched.windows} == {384}  # every window full: no padding flatters the batch
    assert (batched.forward_passes, sequential.forward_passes) == (1, QA_WINDOWS)
    assert [(c.answer, c.start, c.end) for c in batched.candidates] == \
        [(c.answer, c.start, c.end) for c in sequential.candidates]
    assert [c.score for c in batched.candidates] == pytest.approx([c.score for c in sequential.candidates], rel=1e-4)
    assert qa_window_tokens(models[Head.QUESTION_ANSWERING].tokenizer, sample) == QA_WINDOWS * 384


def test_result_is_a_speedup_of_the_batch_over_sequential_calls(bench_cache):
    (result,) = run_cases(bench_cache, "tiny:encoder", (QA_CASE,), repeats=2, min_batch_s=0.002,
                          refs={"qa": "tiny:question_answering"})
    assert (result.case, result.sample, result.tokens) == ("qa", "8 windows", QA_WINDOWS * 384)
    assert (result.task.label, result.baseline.label) == ("8 windows batched", "8 sequential calls")
    assert result.speedup is True
    assert result.task.median_s == statistics.median(result.task.per_repeat_s) > 0
    assert result.ratio == result.baseline.median_s / result.task.median_s


def test_default_model_is_a_seeded_random_distilbert_qa(bench_cache):
    import transformers

    assert case_ref(QA_CASE, "tiny:encoder") == RANDOM_DISTILBERT_QA
    config = transformers.DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=64)
    state = torch.get_rng_state()
    first, second = random_distilbert_qa(bench_cache, config=config), random_distilbert_qa(bench_cache, config=config)
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert type(first.model).__name__ == "DistilBertForQuestionAnswering" and first.head is Head.QUESTION_ANSWERING
    assert first.label.startswith(f"{RANDOM_DISTILBERT_QA} (DistilBertForQuestionAnswering(a custom DistilBertConfig)")


def test_cli_refuses_a_qa_model_without_a_trained_span_head(monkeypatch, capsys, cache_dir):
    monkeypatch.setenv("BERTVIZ_UI_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("BERTVIZ_UI_DEVICE", "cpu")
    assert main(["--qa-model", "tiny:encoder", "--cases", "qa", "--repeats", "1"]) == 1
    assert "no trained question-answering head" in capsys.readouterr().err
