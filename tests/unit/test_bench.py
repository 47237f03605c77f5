"""Benchmark harness: result structure, ratios of medians, the table, JSON, case selection; no wall-clock asserts."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from bertviz_ui.bench import (
    CASES,
    BenchCase,
    BenchReport,
    BenchResult,
    Machine,
    Sample,
    Timing,
    Variant,
    format_table,
    machine_info,
    main,
    run_cases,
    select_cases,
    text_of_tokens,
)
from bertviz_ui.config import Settings
from bertviz_ui.models import build_cache
from bertviz_ui.models.cache import ModelCache
from bertviz_ui.registry import Head

# Short batches keep the whole module to a few seconds; the numbers are only checked for shape.
FAST_BATCH_S = 0.002


@pytest.fixture(scope="module")
def bench_cache(cache_dir: Path) -> ModelCache:
    return build_cache(Settings(device="cpu", cache_dir=cache_dir))


@pytest.fixture(scope="module")
def results(bench_cache: ModelCache) -> tuple[BenchResult, ...]:
    return run_cases(bench_cache, "tiny:encoder", CASES, repeats=2, min_batch_s=FAST_BATCH_S)


def test_one_result_per_case_and_length(results):
    assert [(r.case, r.sample) for r in results] == [
        ("tokenizer", "short pair"), ("tokenizer", "128 tokens"), ("tokenizer", "512 tokens"),
    ]
    short, medium, long = results
    assert short.tokens == 16  # [CLS] the cat sat on the mat . [SEP] it was a lazy afternoon . [SEP]
    # The filler is cut at a word boundary, and no word of it is more than 4 WordPieces.
    assert 124 <= medium.tokens <= 128
    assert 508 <= long.tokens <= 512
    assert {r.model for r in results} == {"tiny:encoder (tiny random-weight checkpoint, bert-base-uncased vocabulary)"}


def test_medians_are_positive_and_ratio_is_task_over_baseline(results):
    for result in results:
        assert (result.task.label, result.baseline.label) == ("tokenize()", "forward")
        assert [extra.label for extra in result.extras] == ["raw tokenizer"]
        for timing in (result.task, result.baseline, *result.extras):
            assert len(timing.per_repeat_s) == 2
            assert all(t > 0 for t in timing.per_repeat_s)
            assert timing.median_s == statistics.median(timing.per_repeat_s) > 0
            assert timing.calls_per_repeat >= 1
        assert result.ratio == result.task.median_s / result.baseline.median_s


def test_results_are_frozen(results):
    with pytest.raises(AttributeError):
        results[0].ratio = 1.0


def test_text_of_tokens_fits_the_budget(bench_cache):
    tokenizer = bench_cache.load("tiny:encoder", Head.TOKENIZER).tokenizer
    text = text_of_tokens(tokenizer, 40)
    count = len(tokenizer(text)["input_ids"])
    assert 36 <= count <= 40
    assert text.startswith("BERT reads a sentence")


def test_unknown_case_is_a_clear_error():
    assert select_cases(None) == CASES
    assert select_cases(["tokenizer", "tokenizer"]) == CASES[:1]
    with pytest.raises(ValueError, match=r"Unknown benchmark case 'nope'; known: tokenizer\."):
        select_cases(["tokenizer", "nope"])


def test_cli_rejects_unknown_case_before_loading_anything(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--cases", "tokenizer,nope"])
    assert exit_info.value.code == 2
    assert "Unknown benchmark case 'nope'; known: tokenizer." in capsys.readouterr().err


def test_cli_rejects_zero_repeats(capsys):
    with pytest.raises(SystemExit):
        main(["--repeats", "0"])
    assert "expected at least 1" in capsys.readouterr().err


def test_cli_reports_a_model_that_cannot_load(tmp_path, monkeypatch, capsys, cache_dir):
    monkeypatch.setenv("BERTVIZ_UI_CACHE_DIR", str(cache_dir))
    assert main(["--model", str(tmp_path / "missing"), "--repeats", "1"]) == 1
    assert "No directory" in capsys.readouterr().err


def test_cli_prints_table_and_writes_json(tmp_path, monkeypatch, capsys, cache_dir):
    monkeypatch.setenv("BERTVIZ_UI_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("BERTVIZ_UI_DEVICE", "cpu")
    path = tmp_path / "out" / "bench.json"
    threads = torch.get_num_threads()
    try:
        status = main(["--model", "tiny:encoder", "--repeats", "2", "--threads", "1", "--cases", "tokenizer",
                       "--json", str(path)])
    finally:
        torch.set_num_threads(threads)  # --threads changes the whole process; later tests expect the default
    assert status == 0
    out = capsys.readouterr().out
    assert "tokenize()/forward" in out and "tokenize()/raw tokenizer" in out
    assert "torch 2" in out and "with 1 thread " in out and "cpu float32" in out
    data = json.loads(path.read_text())
    assert data["model"] == "tiny:encoder" and data["repeats"] == 2
    assert data["machine"]["torch_threads"] == 1 and data["machine"]["device"] == "cpu"
    assert [r["sample"] for r in data["results"]] == ["short pair", "128 tokens", "512 tokens"]
    for result in data["results"]:
        assert result["ratio"] == result["task"]["median_s"] / result["baseline"]["median_s"]
        assert len(result["extras"][0]["per_repeat_s"]) == 2


def test_a_new_case_needs_only_a_registry_entry(bench_cache):
    calls = []
    case = BenchCase(
        name="fake",
        run_task=lambda models, sample: calls.append(("task", sample.name)),
        run_baseline=lambda models, sample: calls.append(("baseline", sample.name)),
        heads=(),
        task_label="fake()",
        make_samples=lambda models: (Sample("one", "a"), Sample("two", "b", "c")),
    )
    results = run_cases(bench_cache, "unused", (case,), repeats=3, min_batch_s=0.0)
    assert [(r.case, r.sample, r.extras) for r in results] == [("fake", "one", ()), ("fake", "two", ())]
    assert all(r.ratio == r.task.median_s / r.baseline.median_s for r in results)
    # min_batch_s=0 means one call per measurement: a warm-up, a calibration, then one per repeat.
    assert calls.count(("task", "one")) == calls.count(("baseline", "two")) == 2 + 3


def test_variants_take_turns_going_first(bench_cache):
    calls = []
    case = BenchCase(
        name="order",
        run_task=lambda models, sample: calls.append("T"),
        run_baseline=lambda models, sample: calls.append("B"),
        heads=(),
        extras=(Variant("x", lambda models, sample: calls.append("X")),),
        make_samples=lambda models: (Sample("s", "a"),),
    )
    run_cases(bench_cache, "unused", (case,), repeats=3, min_batch_s=0.0)
    assert "".join(calls) == "TT" "BB" "XX" "TBX" "BXT" "XTB"


def _timing(label: str, seconds: float) -> Timing:
    return Timing(label=label, median_s=seconds, per_repeat_s=(seconds, seconds), calls_per_repeat=1)


def test_table_shows_medians_in_ms_and_ratios_of_medians():
    machine = Machine(device="cpu", dtype="float32", torch_threads=2, torch_interop_threads=2, cpus=2,
                      arch="x86_64", python="3.11.7", torch="2.13.0+cpu", transformers="5.24.0",
                      load_average=(0.25, 0.5, 0.75))
    result = BenchResult(case="tokenizer", sample="short pair", tokens=16, model="m",
                         task=_timing("tokenize()", 0.0005), baseline=_timing("forward", 0.025),
                         extras=(_timing("raw tokenizer", 0.0001),), ratio=0.02)
    text = format_table(BenchReport(model="m", repeats=2, machine=machine, results=(result,)))
    lines = text.splitlines()
    assert "torch 2.13.0+cpu with 2 threads (2 interop), 2 CPUs x86_64" in lines[1]
    assert lines[2] == "load average before timing: 0.25, 0.50, 0.75"
    header = lines[lines.index("[tokenizer] m") + 1]
    assert header.split("  ")[0] == "input"
    assert header.endswith("tokenize()/raw tokenizer  spread")
    row = lines[lines.index("[tokenizer] m") + 2].split()
    assert row == ["short", "pair", "16", "0.5", "25", "0.02x", "0.1", "5x", "0%"]


def test_machine_info_reads_the_cache_and_torch(bench_cache):
    machine = machine_info(bench_cache)
    assert (machine.device, machine.dtype) == ("cpu", "float32")
    assert machine.torch_threads == torch.get_num_threads()
