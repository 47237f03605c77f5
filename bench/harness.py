"""The timer: a case's variants timed side by side in one process, interleaved, as medians and ratios of medians."""

from __future__ import annotations

import gc
import math
import statistics
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bench.corpora import LONG_TARGETS, TUTORIAL_PAIR, text_of_tokens
from bertviz_ui.models.cache import LoadedModel, ModelCache
from bertviz_ui.models.types import Tokenizer
from bertviz_ui.registry import Head

# About 20 s for the tokenizer case on the offline MiniLM with 2 idle cores, loading included (35-40 s on a busy
# machine), about 50 s for the fill_mask case on random:bert-base (--threads 1, busy machine), and about 60 s for
# the sentiment case on random:distilbert-base (--threads 1, idle).
DEFAULT_REPEATS = 20
# Fast variants (a tokenizer call takes tens of microseconds) are timed as batches at least this long,
# so timer resolution and per-measurement overhead stay far below the thing measured.
MIN_BATCH_S = 0.02
_MAX_CALLS_PER_BATCH = 100_000

Models = Mapping[Head, LoadedModel]


@dataclass(frozen=True)
class Sample:
    """One input a case is timed on."""

    name: str
    text: str
    text_pair: str | None = None


Run = Callable[[Models, Sample], Any]


@dataclass(frozen=True)
class Variant:
    """A further column beside a case's task and baseline."""

    label: str
    run: Run


def tokenizer_of(models: Models) -> Any:
    """The checkpoint's tokenizer: every head of one ref is loaded from the same files, so any of them has it."""
    return (models.get(Head.TOKENIZER) or next(iter(models.values()))).tokenizer


def standard_samples(models: Models) -> tuple[Sample, ...]:
    """The seed's sentence pair, then single texts of about 128 and 512 tokens (capped at the model's maximum).

    Args:
        models: the case's loaded models; their tokenizer measures the lengths.

    Returns:
        The samples, shortest first.
    """
    tokenizer = tokenizer_of(models)
    limit = int(getattr(tokenizer, "model_max_length", 512) or 512)
    samples = [Sample("short pair", *TUTORIAL_PAIR)]
    for target in dict.fromkeys(min(t, limit) for t in LONG_TARGETS):
        samples.append(Sample(f"{target} tokens", text_of_tokens(tokenizer, target)))
    return tuple(samples)


def sample_tokens(tokenizer: Tokenizer, sample: Sample) -> int:
    """The sample's length in the tokenizer's tokens, specials included (the default BenchCase.count_tokens)."""
    return len(tokenizer(sample.text, sample.text_pair)["input_ids"])


def line_tokens(tokenizer: Tokenizer, sample: Sample) -> int:
    """The tokens of each line of the sample as a text of its own, specials included, summed."""
    return sum(len(ids) for ids in tokenizer(sample.text.splitlines())["input_ids"])


def encoder_forward(models: Models, sample: Sample) -> Any:
    """The bare baseline: tokenize to tensors and run the encoder, nothing else.

    Args:
        models: must hold Head.ENCODER.
        sample: the input.

    Returns:
        The model's output (discarded by the timer).
    """
    loaded = models[Head.ENCODER]
    with torch.inference_mode():
        inputs = loaded.tokenizer(sample.text, sample.text_pair, return_tensors="pt").to(loaded.device)
        return loaded.model(**inputs)


_pipelines: weakref.WeakKeyDictionary[LoadedModel, dict[str, Any]] = weakref.WeakKeyDictionary()


def shared_pipeline(loaded: LoadedModel, task: str, **options: Any) -> Any:
    """A transformers pipeline on the very model and tokenizer objects the tab's function gets, built once per
    LoadedModel and task, on the model's own device (left unset, transformers would move the shared model to the
    first accelerator it finds)."""
    built = _pipelines.setdefault(loaded, {})
    pipe = built.get(task)
    if pipe is None:
        import transformers

        pipe = transformers.pipeline(task, model=loaded.model, tokenizer=loaded.tokenizer.unwrapped,
                                     device=next(loaded.model.parameters()).device, **options)
        built[task] = pipe
    return pipe


@dataclass(frozen=True)
class BenchCase:
    """One tab's compute timed against a baseline on the same checkpoint; a benchmarked tab's module under
    bench/cases/ (named after its task id) exposes one as ``CASE``.

    Attributes:
        name: the tab's task id; ``--cases`` selects by it.
        run_task: what the tab computes per click once its models are loaded.
        run_baseline: what the task is compared with (usually encoder_forward).
        heads: what the cache loads for the ref before timing; run functions find them by Head.
        task_label: column name of run_task.
        baseline_label: column name of run_baseline.
        extras: further variants, each shown with its time and the task's ratio against it (see speedup).
        make_samples: builds the inputs from the loaded models (lengths are in the checkpoint's tokens).
        note: printed under the table: what exactly each variant runs.
        ref: the checkpoint this case runs on whatever the run's model is (None: the run's model); run_cases'
            ``refs`` overrides it.
        load: how the case gets its models for a ref (None: ``cache.load(ref, head)`` for each of ``heads``).
        speedup: report ratios as speed-ups, the other variant's median over the task's (above 1x the task is
            faster), instead of the task's median over the other's (the task's cost in units of the other).
        count_tokens: the tokens column: a sample's length in the checkpoint's tokens (see sample_tokens).
        task: the registry task a further case of one tab belongs to (its name then says what it adds, as
            "fill_mask_int8"); "" when the name is the task's id. Its refs (``--mlm-model``) apply to both.
        checks: after timing, figures that are no timings and targets met or not: lines printed under the table
            (see run_checks).
    """

    name: str
    run_task: Run
    run_baseline: Run
    heads: tuple[Head, ...]
    task_label: str = "task"
    baseline_label: str = "forward"
    extras: tuple[Variant, ...] = ()
    make_samples: Callable[[Models], tuple[Sample, ...]] = standard_samples
    note: str = ""
    ref: str | None = None
    load: Callable[[ModelCache, str], Models] | None = None
    speedup: bool = False
    count_tokens: Callable[[Any, Sample], int] = sample_tokens
    task: str = ""
    checks: Callable[[ModelCache, Sequence[BenchResult]], tuple[str, ...]] | None = None


@dataclass(frozen=True)
class Timing:
    """One variant's time per call on one sample.

    Attributes:
        label: the variant's column name.
        median_s: median over repeats of seconds per call.
        per_repeat_s: seconds per call in each repeat (a batch's time divided by its calls).
        calls_per_repeat: calls in each repeat's batch.
    """

    label: str
    median_s: float
    per_repeat_s: tuple[float, ...]
    calls_per_repeat: int


@dataclass(frozen=True)
class BenchResult:
    """One case on one sample.

    Attributes:
        case: the case's name.
        sample: the sample's name.
        tokens: the sample's length in the checkpoint's tokens, specials included (the case's count_tokens).
        model: the checkpoint as the app labels it.
        task: the tab's compute.
        baseline: what it is compared with.
        extras: further variants, in the case's order.
        ratio: a ratio of medians: task.median_s / baseline.median_s, or for a speed-up (``speedup``)
            baseline.median_s / task.median_s, how many times faster the task is.
        speedup: which of the two ``ratio`` is (the case's BenchCase.speedup).
    """

    case: str
    sample: str
    tokens: int
    model: str
    task: Timing
    baseline: Timing
    extras: tuple[Timing, ...]
    ratio: float
    speedup: bool = False

    def ratio_over(self, other: Timing) -> float:
        """The task's ratio against any variant of the row, in the row's direction (see ``ratio``)."""
        return other.median_s / self.task.median_s if self.speedup else self.task.median_s / other.median_s


def case_ref(case: BenchCase, ref: str, refs: Mapping[str, str] | None = None) -> str:
    """The checkpoint a case runs on: ``refs[case.name]`` (or its task's), else the case's own ``ref``, else the
    run's ``ref``."""
    refs = refs or {}
    return refs.get(case.name) or (refs.get(case.task) if case.task else None) or case.ref or ref


def run_checks(cache: ModelCache, cases: Sequence[BenchCase],
               results: Sequence[BenchResult]) -> dict[str, tuple[str, ...]]:
    """Each case's checks (BenchCase.checks) on its results, by case name; cases without checks are left out."""
    return {case.name: tuple(case.checks(cache, [r for r in results if r.case == case.name]))
            for case in cases if case.checks is not None}


def load_case_models(cache: ModelCache, case: BenchCase, ref: str) -> Models:
    """The models a case's run functions receive, for the checkpoint ``ref`` (see case_ref)."""
    if case.load is not None:
        return case.load(cache, ref)
    return {head: cache.load(ref, head) for head in case.heads}


def run_cases(cache: ModelCache, ref: str, cases: Sequence[BenchCase], *, repeats: int = DEFAULT_REPEATS,
              min_batch_s: float = MIN_BATCH_S, refs: Mapping[str, str] | None = None) -> tuple[BenchResult, ...]:
    """Time every case on every one of its samples, its variants interleaved within each repeat.

    Args:
        cache: the app's model cache; every checkpoint on disk comes through it.
        ref: the checkpoint (Hub id, local directory, ``tiny:<head>`` or the offline model's id).
        cases: which cases to run (bench.cases.CASES holds them all).
        repeats: measurements per variant; the median is reported.
        min_batch_s: fast variants are called repeatedly until one measurement lasts about this long.
        refs: checkpoints for particular cases, by case name (as ``--mlm-model`` gives the fill_mask case and
            ``--classifier-model`` the sentiment case);
            a case not named runs on its own ``ref``, else on ``ref``.

    Returns:
        One BenchResult per case and sample, in order. Raises ValueError for repeats < 1, and
        BadInput or ModelUnavailable when the model can't be loaded.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    sync = _synchronizer(cache.device)
    results = []
    for case in cases:
        this_ref = case_ref(case, ref, refs)
        models = load_case_models(cache, case, this_ref)
        label = next(iter(models.values())).label if models else this_ref
        tokenizer = tokenizer_of(models) if models else None
        for sample in case.make_samples(models):
            variants = [(case.task_label, case.run_task), (case.baseline_label, case.run_baseline),
                        *((extra.label, extra.run) for extra in case.extras)]
            calls = [_bind(run, models, sample) for _, run in variants]
            timings = [
                Timing(label=name, median_s=statistics.median(times), per_repeat_s=tuple(times), calls_per_repeat=n)
                for (name, _), (times, n) in zip(variants, _measure(calls, repeats, min_batch_s, sync))
            ]
            tokens = case.count_tokens(tokenizer, sample) if tokenizer is not None else 0
            task, baseline, *extras = timings
            ratio = baseline.median_s / task.median_s if case.speedup else task.median_s / baseline.median_s
            results.append(BenchResult(case=case.name, sample=sample.name, tokens=tokens, model=label, task=task,
                                       baseline=baseline, extras=tuple(extras), ratio=ratio,
                                       speedup=case.speedup))
    return tuple(results)


def _bind(run: Run, models: Models, sample: Sample) -> Callable[[], Any]:
    return lambda: run(models, sample)


def _synchronizer(device: str) -> Callable[[], None]:
    # GPU kernels run asynchronously; without waiting for them a batch would time only the launches.
    if device.startswith("cuda"):
        return torch.cuda.synchronize
    if device == "mps":
        return torch.mps.synchronize
    return lambda: None


def _measure(calls: Sequence[Callable[[], Any]], repeats: int, min_batch_s: float,
             sync: Callable[[], None]) -> list[tuple[list[float], int]]:
    sizes = [_batch_size(call, min_batch_s, sync) for call in calls]
    times: list[list[float]] = [[] for _ in calls]
    for repeat in range(repeats):
        # Rotating who goes first spreads drift (thermal, other processes, allocator state) over all variants.
        for offset in range(len(calls)):
            index = (repeat + offset) % len(calls)
            times[index].append(_time_batch(calls[index], sizes[index], sync) / sizes[index])
    return list(zip(times, sizes))


def _batch_size(call: Callable[[], Any], min_batch_s: float, sync: Callable[[], None]) -> int:
    call()  # the first call pays one-off costs (allocations, kernel selection) that a tab pays once per process
    single = _time_batch(call, 1, sync)
    return max(1, min(_MAX_CALLS_PER_BATCH, math.ceil(min_batch_s / max(single, 1e-9))))


def _time_batch(call: Callable[[], Any], number: int, sync: Callable[[], None]) -> float:
    # As timeit does: a collection landing in one variant's batch would be charged to that variant alone.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            call()
        sync()
        return time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()
