"""The benchmark: result structure, ratios of medians, the table, JSON, case selection; no wall-clock asserts."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from bench.__main__ import main
from bench.cases import CASES, select_cases
from bench.cases.fill_mask import FILL_MASK_TOP_K, fill_mask_pipeline, fill_mask_samples
from bench.cases.sentiment import sentiment_pipeline
from bench.corpora import SENTIMENT_TEXTS, text_of_tokens
from bench.harness import (
    BenchCase,
    BenchResult,
    Sample,
    Timing,
    Variant,
    case_ref,
    line_tokens,
    load_case_models,
    run_cases,
    run_checks,
)
from bench.random_models import (
    RANDOM_BERT_BASE,
    RANDOM_DISTILBERT_BASE,
    load_one_head,
    random_bert_base,
    random_distilbert_base,
)
from bench.report import BenchReport, Machine, format_table, machine_info
from bertviz_ui.config import Settings
from bertviz_ui.errors import BadInput
from bertviz_ui.models import build_cache
from bertviz_ui.models.cache import ModelCache
from bertviz_ui.registry import Head

# Short batches keep the whole module to a few seconds; the numbers are only checked for shape.
FAST_BATCH_S = 0.002


@pytest.fixture(scope="module")
def bench_cache(cache_dir: Path) -> ModelCache:
    return build_cache(Settings(device="cpu", cache_dir=cache_dir))


TOKENIZER_CASE, FILL_MASK_CASE, SENTIMENT_CASE = select_cases(["tokenizer", "fill_mask", "sentiment"])


@pytest.fixture(scope="module")
def results(bench_cache: ModelCache) -> tuple[BenchResult, ...]:
    return run_cases(bench_cache, "tiny:encoder", (TOKENIZER_CASE,), repeats=2, min_batch_s=FAST_BATCH_S)


@pytest.fixture(scope="module")
def fill_results(bench_cache: ModelCache) -> tuple[BenchResult, ...]:
    # tiny:masked_lm stands in for the default bert-base-sized random model, which takes seconds to build and run.
    return run_cases(bench_cache, "tiny:encoder", (FILL_MASK_CASE,), repeats=2, min_batch_s=FAST_BATCH_S,
                     refs={"fill_mask": "tiny:masked_lm"})


@pytest.fixture(scope="module")
def sentiment_results(bench_cache: ModelCache) -> tuple[BenchResult, ...]:
    # tiny:sequence_classification stands in for the default distilbert-base-sized random model.
    return run_cases(bench_cache, "tiny:encoder", (SENTIMENT_CASE,), repeats=2, min_batch_s=FAST_BATCH_S,
                     refs={"sentiment": "tiny:sequence_classification"})


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
    assert [case.name for case in CASES][:5] == ["tokenizer", "fill_mask", "fill_mask_int8", "sentiment", "qa"]
    assert select_cases(["tokenizer", "tokenizer"]) == CASES[:1]
    assert select_cases(["fill_mask", "tokenizer"]) == (CASES[1], CASES[0])
    with pytest.raises(ValueError, match=r"Unknown benchmark case 'nope'; known: tokenizer, fill_mask, fill_mask_int8, "
                                         r"sentiment, qa"):
        select_cases(["tokenizer", "nope"])


def test_cli_rejects_unknown_case_before_loading_anything(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--cases", "tokenizer,nope"])
    assert exit_info.value.code == 2
    assert ("Unknown benchmark case 'nope'; known: tokenizer, fill_mask, fill_mask_int8, sentiment, qa"
            in capsys.readouterr().err)


def test_cli_rejects_zero_repeats(capsys):
    with pytest.raises(SystemExit):
        main(["--repeats", "0"])
    assert "expected at least 1" in capsys.readouterr().err


def test_cli_reports_a_model_that_cannot_load(tmp_path, monkeypatch, capsys, cache_dir):
    monkeypatch.setenv("BERTVIZ_UI_CACHE_DIR", str(cache_dir))
    # Not under the temp dir (a CI clone may live there): models are never loaded from it, and that refusal would
    # come first.
    assert main(["--model", str(Path.home() / "no-such-bertviz-model"), "--repeats", "1"]) == 1
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


# --- fill_mask: predict_masks() against pipeline("fill-mask") on the same model ------------------------------


def test_fill_mask_results_per_sample(fill_results):
    assert [(r.case, r.sample) for r in fill_results] == [("fill_mask", "sentence"), ("fill_mask", "long text")]
    sentence, long = fill_results
    assert sentence.tokens == 16  # [CLS] the cat sat on the [MASK] and looked out of the open window . [SEP]
    # Filler cut at a word boundary (no word of it is more than 4 WordPieces), then the 14 tokens of the sentence.
    assert 124 <= long.tokens <= 128
    assert {r.model for r in fill_results} == {
        "tiny:masked_lm (tiny random-weight checkpoint, bert-base-uncased vocabulary)"}


def test_fill_mask_ratio_is_a_speedup_of_task_over_pipeline(fill_results):
    for result in fill_results:
        assert (result.task.label, result.baseline.label) == ("predict_masks()", "pipeline")
        assert [extra.label for extra in result.extras] == ["forward"]
        assert result.speedup is True
        for timing in (result.task, result.baseline, *result.extras):
            assert len(timing.per_repeat_s) == 2
            assert timing.median_s == statistics.median(timing.per_repeat_s) > 0
        # pipeline time / predict_masks() time: above 1, predict_masks() is faster.
        assert result.ratio == result.baseline.median_s / result.task.median_s
        forward = result.extras[0]
        assert result.ratio_over(forward) == forward.median_s / result.task.median_s


def test_fill_mask_task_and_pipeline_do_the_same_work(bench_cache):
    models = load_case_models(bench_cache, FILL_MASK_CASE, "tiny:masked_lm")
    samples = FILL_MASK_CASE.make_samples(models)
    assert [sample.name for sample in samples] == ["sentence", "long text"]
    for sample in samples:
        assert sample.text.count("[MASK]") == 1 and sample.text_pair is None
        task = FILL_MASK_CASE.run_task(models, sample)
        pipe = FILL_MASK_CASE.run_baseline(models, sample)
        assert len(task.masks) == 1 and len(pipe) == FILL_MASK_TOP_K == 5  # one mask: a flat list of candidates
        predictions = task.masks[0].predictions
        assert [p.token_id for p in predictions] == [candidate["token"] for candidate in pipe]
        assert [p.score for p in predictions] == pytest.approx([float(c["score"]) for c in pipe], rel=1e-4)
        # The extra column runs the same model's encoder on the same input.
        forward = FILL_MASK_CASE.extras[0].run(models, sample)
        tokens = len(models[Head.MASKED_LM].tokenizer(sample.text)["input_ids"])
        assert forward.last_hidden_state.shape[:2] == (1, tokens)


def test_fill_mask_pipeline_is_built_once_on_the_same_objects(bench_cache):
    loaded = load_case_models(bench_cache, FILL_MASK_CASE, "tiny:masked_lm")[Head.MASKED_LM]
    pipe = fill_mask_pipeline(loaded)
    assert fill_mask_pipeline(loaded) is pipe
    assert pipe.model is loaded.model and pipe.tokenizer is loaded.tokenizer.unwrapped
    assert pipe.device.type == "cpu"  # the model's own device: unset, transformers would pick an accelerator


def test_each_case_finds_its_checkpoint():
    assert case_ref(TOKENIZER_CASE, "tiny:encoder") == "tiny:encoder"
    assert case_ref(TOKENIZER_CASE, "tiny:encoder", {"fill_mask": "tiny:masked_lm"}) == "tiny:encoder"
    # The run's --model (an encoder, often without a masked-LM head) never reaches the fill_mask case.
    assert case_ref(FILL_MASK_CASE, "tiny:encoder") == RANDOM_BERT_BASE
    assert case_ref(FILL_MASK_CASE, "tiny:encoder", {"fill_mask": "tiny:masked_lm"}) == "tiny:masked_lm"
    assert case_ref(SENTIMENT_CASE, "tiny:encoder", {"fill_mask": "tiny:masked_lm"}) == RANDOM_DISTILBERT_BASE
    refs = {"sentiment": "tiny:sequence_classification"}
    assert case_ref(SENTIMENT_CASE, "tiny:encoder", refs) == "tiny:sequence_classification"


def _small_bert():
    import transformers

    return transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


def _small_distilbert():
    import transformers

    return transformers.DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=64,
                                         id2label={0: "NEGATIVE", 1: "POSITIVE"},
                                         label2id={"NEGATIVE": 0, "POSITIVE": 1})


# Same code path as random:bert-base and random:distilbert-base with small configs: the default ones take seconds.
RANDOM_BUILDS = [
    pytest.param(random_bert_base, _small_bert, "BertForMaskedLM", Head.MASKED_LM,
                 f"{RANDOM_BERT_BASE} (BertForMaskedLM(a custom BertConfig) built in memory", id="bert-base"),
    pytest.param(random_distilbert_base, _small_distilbert, "DistilBertForSequenceClassification",
                 Head.SEQUENCE_CLASSIFICATION,
                 f"{RANDOM_DISTILBERT_BASE} (DistilBertForSequenceClassification(a custom DistilBertConfig) built "
                 "in memory", id="distilbert-base"),
]


@pytest.mark.parametrize(("build", "config", "architecture", "head", "label"), RANDOM_BUILDS)
def test_random_models_are_seeded_and_leave_the_global_rng_alone(bench_cache, build, config, architecture, head,
                                                                  label):
    state = torch.get_rng_state()
    first, second = build(bench_cache, config=config()), build(bench_cache, config=config())
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert type(first.model).__name__ == architecture and not first.model.training
    assert first.head is head and first.newly_initialized == () and first.source.untrained
    assert first.label.startswith(label)
    # The uncased tokenizer comes through the cache, from the offline model.
    assert first.tokenizer is bench_cache.load("sentence-transformers/all-MiniLM-L6-v2", Head.TOKENIZER).tokenizer
    assert first.tokenizer("The cat sat on the mat.")["input_ids"] == [101, 1996, 4937, 2938, 2006, 1996, 13523,
                                                                       1012, 102]


def test_random_masked_lm_runs_the_fill_mask_task(bench_cache):
    first = random_bert_base(bench_cache, config=_small_bert())
    sample = fill_mask_samples({Head.MASKED_LM: first})[0]
    assert len(FILL_MASK_CASE.run_task({Head.MASKED_LM: first}, sample).masks[0].predictions) == 5


def test_random_classifier_runs_the_sentiment_task(bench_cache):
    models = {Head.SEQUENCE_CLASSIFICATION: random_distilbert_base(bench_cache, config=_small_distilbert())}
    sample = SENTIMENT_CASE.make_samples(models)[0]
    batch = SENTIMENT_CASE.run_task(models, sample)
    assert batch.labels == ("NEGATIVE", "POSITIVE") and len(batch.rows) == 32 and batch.forward_passes == 1


def test_default_random_classifier_is_distilbert_base_sized(bench_cache, monkeypatch):
    import transformers

    from bench import random_models

    # The default config, checked without building its 67M weights.
    built = []
    monkeypatch.setattr(random_models, "random_model", lambda cache, **kwargs: built.append(kwargs) or "loaded")
    assert random_distilbert_base(bench_cache) == "loaded"
    (kwargs,) = built
    config = kwargs["config"]
    assert kwargs["ref"] == RANDOM_DISTILBERT_BASE and kwargs["head"] is Head.SEQUENCE_CLASSIFICATION
    assert kwargs["architecture"] is transformers.DistilBertForSequenceClassification
    assert (config.dim, config.n_layers, config.n_heads, config.hidden_dim, config.vocab_size) == (768, 6, 12, 3072,
                                                                                                    30522)
    assert config.id2label == {0: "NEGATIVE", 1: "POSITIVE"} and config.num_labels == 2
    assert kwargs["built_with"] == "DistilBertConfig(num_labels=2), labels NEGATIVE/POSITIVE"


def test_a_random_ref_of_another_head_is_refused(bench_cache):
    with pytest.raises(BadInput, match="random:bert-base is a masked_lm model; this case needs "
                                       "sequence_classification"):
        load_one_head(Head.SEQUENCE_CLASSIFICATION)(bench_cache, RANDOM_BERT_BASE)


def _machine() -> Machine:
    return Machine(device="cpu", dtype="float32", torch_threads=1, torch_interop_threads=2, cpus=2, arch="x86_64",
                   python="3.11.7", torch="2.13.0+cpu", transformers="5.24.0", load_average=None)


def test_table_reports_fill_mask_as_a_speedup_with_its_direction():
    faster = BenchResult(case="fill_mask", sample="sentence", tokens=16, model="m",
                         task=_timing("predict_masks()", 0.08), baseline=_timing("pipeline", 0.1),
                         extras=(_timing("forward", 0.07),), ratio=1.25, speedup=True)
    slower = BenchResult(case="fill_mask", sample="long text", tokens=127, model="m",
                         task=_timing("predict_masks()", 0.5), baseline=_timing("pipeline", 0.4),
                         extras=(_timing("forward", 0.45),), ratio=0.8, speedup=True)
    report = BenchReport(model="enc", repeats=2, machine=_machine(), results=(faster, slower),
                         case_models={"fill_mask": "random:bert-base"})
    lines = format_table(report).splitlines()
    assert lines[0].startswith("model: enc; fill_mask on random:bert-base; 2 repeats")
    start = lines.index("[fill_mask] m")
    header = lines[start + 1]
    assert "pipeline/predict_masks()" in header and header.endswith("forward/predict_masks()  spread")
    assert lines[start + 2].split() == ["sentence", "16", "80", "100", "1.25x", "70", "0.875x", "0%"]
    assert lines[start + 3].split() == ["long", "text", "127", "500", "400", "0.8x", "450", "0.9x", "0%"]
    assert lines[start + 4].startswith("speed-up: X/predict_masks() = X's median / predict_masks()'s; above 1x")
    assert lines[start + 5] == "  sentence, 16 tokens: predict_masks() runs 1.25x faster than pipeline"
    assert lines[start + 6] == "  long text, 127 tokens: predict_masks() runs at 0.8x the speed of pipeline (slower)"


def test_table_prints_long_times_in_whole_milliseconds():
    result = BenchResult(case="sentiment", sample="32 reviews", tokens=379, model="m",
                         task=_timing("batch of 32", 0.3634), baseline=_timing("32 single calls", 2.8249),
                         extras=(_timing("pipeline", 1.0031),), ratio=2.8249 / 0.3634, speedup=True)
    lines = format_table(BenchReport(model="m", repeats=2, machine=_machine(), results=(result,))).splitlines()
    row = lines[lines.index("[sentiment] m") + 2].split()
    assert row == ["32", "reviews", "379", "363", "2825", "7.77x", "1003", "2.76x", "0%"]  # not 2.82e+03, 1e+03


def test_cli_runs_fill_mask_on_the_mlm_model(tmp_path, monkeypatch, capsys, cache_dir):
    monkeypatch.setenv("BERTVIZ_UI_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("BERTVIZ_UI_DEVICE", "cpu")
    path = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    try:
        status = main(["--model", "tiny:encoder", "--mlm-model", "tiny:masked_lm", "--cases", "fill_mask",
                       "--repeats", "1", "--threads", "1", "--json", str(path)])
    finally:
        torch.set_num_threads(threads)
    assert status == 0
    out = capsys.readouterr().out
    assert out.startswith("model: tiny:encoder; fill_mask on tiny:masked_lm; 1 repeats")
    assert "[fill_mask] tiny:masked_lm" in out and "pipeline/predict_masks()" in out
    assert "sentence, 16 tokens: predict_masks() runs" in out
    data = json.loads(path.read_text())
    assert data["case_models"] == {"fill_mask": "tiny:masked_lm"}
    for result in data["results"]:
        assert result["speedup"] is True
        assert result["ratio"] == result["baseline"]["median_s"] / result["task"]["median_s"]


def test_cli_refuses_an_mlm_model_without_a_trained_head(monkeypatch, capsys, cache_dir):
    monkeypatch.setenv("BERTVIZ_UI_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("BERTVIZ_UI_DEVICE", "cpu")
    # tiny:encoder has no masked-LM weights: the tab refuses its random head, and so does its benchmark.
    assert main(["--mlm-model", "tiny:encoder", "--cases", "fill_mask", "--repeats", "1"]) == 1
    assert "no trained masked-language-model head" in capsys.readouterr().err


# --- sentiment: classify() on 32 reviews in one batch against 32 single calls --------------------------------


def test_sentiment_texts_are_short_varied_reviews(bench_cache):
    tokenizer = bench_cache.load("sentence-transformers/all-MiniLM-L6-v2", Head.TOKENIZER).tokenizer
    lengths = [len(ids) for ids in tokenizer(list(SENTIMENT_TEXTS))["input_ids"]]
    assert len(SENTIMENT_TEXTS) == len(set(SENTIMENT_TEXTS)) == 32
    assert SENTIMENT_TEXTS[:2] == ("This movie was absolutely fantastic!", "I hated every minute of it.")  # the seed's
    assert all("\n" not in text and text.strip() == text for text in SENTIMENT_TEXTS)
    assert min(lengths) == 8 and max(lengths) == 20 and sum(lengths) == 379
    assert len(set(lengths)) >= 8  # varied, so the batch pads as a real one would


def test_sentiment_result_is_a_speedup_of_the_batch_over_single_calls(sentiment_results):
    (result,) = sentiment_results
    assert (result.case, result.sample) == ("sentiment", "32 reviews (8-20 tokens)")
    assert result.tokens == 379  # each review with its own [CLS] and [SEP], as the single calls read them
    assert result.model == "tiny:sequence_classification (tiny random-weight checkpoint, bert-base-uncased vocabulary)"
    assert (result.task.label, result.baseline.label) == ("batch of 32", "32 single calls")
    assert [extra.label for extra in result.extras] == ["pipeline"]
    assert result.speedup is True
    for timing in (result.task, result.baseline, *result.extras):
        assert len(timing.per_repeat_s) == 2
        assert timing.median_s == statistics.median(timing.per_repeat_s) > 0
    # single calls' time / the batch's time: above 1, the batch is faster.
    assert result.ratio == result.baseline.median_s / result.task.median_s
    pipeline = result.extras[0]
    assert result.ratio_over(pipeline) == pipeline.median_s / result.task.median_s


def test_sentiment_batch_and_single_calls_do_the_same_work(bench_cache):
    models = load_case_models(bench_cache, SENTIMENT_CASE, "tiny:sequence_classification")
    (sample,) = SENTIMENT_CASE.make_samples(models)
    assert sample.text.splitlines() == list(SENTIMENT_TEXTS) and sample.text_pair is None
    batch = SENTIMENT_CASE.run_task(models, sample)
    singles = SENTIMENT_CASE.run_baseline(models, sample)
    assert batch.forward_passes == 1 and [single.forward_passes for single in singles] == [1] * 32
    assert [row.text for row in batch.rows] == [single.rows[0].text for single in singles] == list(SENTIMENT_TEXTS)
    assert sum(row.num_tokens for row in batch.rows) == line_tokens(models[Head.SEQUENCE_CLASSIFICATION].tokenizer,
                                                                   sample) == 379
    labels = [row.label for row in batch.rows]
    assert labels == [single.rows[0].label for single in singles]
    for row, single in zip(batch.rows, singles, strict=True):
        (alone,) = single.rows
        assert [s.label for s in row.scores] == [s.label for s in alone.scores] == ["NEGATIVE", "POSITIVE"]
        assert [s.score for s in row.scores] == pytest.approx([s.score for s in alone.scores], abs=1e-5)
        assert row.score == pytest.approx(alone.score, abs=1e-5)
    # The extra column: the pipeline gives the same classes and scores, every class of every review.
    pipe = SENTIMENT_CASE.extras[0].run(models, sample)
    assert len(pipe) == 32
    for row, candidates in zip(batch.rows, pipe, strict=True):
        assert candidates[0]["label"] == row.label
        by_label = {candidate["label"]: float(candidate["score"]) for candidate in candidates}
        assert [by_label[s.label] for s in row.scores] == pytest.approx([s.score for s in row.scores], abs=1e-5)


def test_sentiment_pipeline_is_built_once_per_model_and_task(bench_cache):
    loaded = load_case_models(bench_cache, SENTIMENT_CASE, "tiny:sequence_classification")[
        Head.SEQUENCE_CLASSIFICATION]
    pipe = sentiment_pipeline(loaded)
    assert sentiment_pipeline(loaded) is pipe
    # No batch_size set: called on a list, the pipeline runs one text per forward.
    assert pipe.task == "text-classification" and pipe._batch_size is None
    assert pipe.model is loaded.model and pipe.tokenizer is loaded.tokenizer.unwrapped
    assert pipe.device.type == "cpu"
    masked = load_case_models(bench_cache, FILL_MASK_CASE, "tiny:masked_lm")[Head.MASKED_LM]
    assert fill_mask_pipeline(masked) is not pipe


def test_cli_runs_sentiment_on_the_classifier_model(tmp_path, monkeypatch, capsys, cache_dir):
    monkeypatch.setenv("BERTVIZ_UI_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("BERTVIZ_UI_DEVICE", "cpu")
    path = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    try:
        status = main(["--model", "tiny:encoder", "--classifier-model", "tiny:sequence_classification",
                       "--cases", "sentiment", "--repeats", "1", "--threads", "1", "--json", str(path)])
    finally:
        torch.set_num_threads(threads)
    assert status == 0
    out = capsys.readouterr().out
    assert out.startswith("model: tiny:encoder; sentiment on tiny:sequence_classification; 1 repeats")
    assert "32 single calls/batch of 32" in out and "pipeline/batch of 32" in out
    assert "32 reviews (8-20 tokens), 379 tokens: batch of 32 runs" in out
    data = json.loads(path.read_text())
    assert data["case_models"] == {"sentiment": "tiny:sequence_classification"}
    (result,) = data["results"]
    assert result["speedup"] is True and result["tokens"] == 379
    assert result["ratio"] == result["baseline"]["median_s"] / result["task"]["median_s"]


def test_cli_refuses_a_classifier_without_a_trained_head(monkeypatch, capsys, cache_dir):
    monkeypatch.setenv("BERTVIZ_UI_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("BERTVIZ_UI_DEVICE", "cpu")
    # tiny:encoder has no classification weights: the tab refuses its random head, and so does its benchmark.
    assert main(["--classifier-model", "tiny:encoder", "--cases", "sentiment", "--repeats", "1"]) == 1
    assert "no trained classification head" in capsys.readouterr().err


def test_int8_case_times_int8_against_fp32_and_checks_both_targets(bench_cache):
    from bench.cases.fill_mask_int8 import CASE as INT8_CASE
    from bench.cases.fill_mask_int8 import int8_copy

    # --mlm-model (refs["fill_mask"]) reaches the fill_mask tab's further case too; tiny:masked_lm stands in.
    results = run_cases(bench_cache, "tiny:encoder", (INT8_CASE,), repeats=2, min_batch_s=FAST_BATCH_S,
                        refs={"fill_mask": "tiny:masked_lm"})
    assert [(r.sample, r.task.label, r.baseline.label, r.speedup) for r in results] == [
        ("sentence", "int8", "fp32", True), ("long text", "int8", "fp32", True)]
    assert all(r.ratio == r.baseline.median_s / r.task.median_s for r in results)
    fp32 = bench_cache.load("tiny:masked_lm", Head.MASKED_LM)
    copied = int8_copy(fp32)
    assert copied is int8_copy(fp32) and copied.model is not fp32.model and copied.quantization
    assert copied.label != fp32.label and fp32.quantization == ""  # the fp32 model is left as it was
    checks = run_checks(bench_cache, (INT8_CASE,), results)["fill_mask_int8"]
    longest = results[-1]
    assert checks[0].startswith(f"int8 runs {longest.ratio:.2f}x as fast as fp32 at {longest.tokens} tokens "
                                "(target >= 2x: ")
    assert "sentence-transformers/all-MiniLM-L6-v2 (real weights), 37 texts" in checks[1]
    assert "target >= 0.99: met" in checks[1]
    text = format_table(BenchReport(model="enc", repeats=2, machine=_machine(), results=results,
                                    checks={"fill_mask_int8": checks}))
    assert "check: int8 runs" in text and "check: mean cosine of int8 vs. fp32" in text
