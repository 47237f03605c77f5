"""The benchmark's output: the machine it ran on, the whole run as a report, printed as tables or written as JSON."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.cases import CASES
from bench.harness import BenchCase, BenchResult
from bertviz_ui.models.cache import ModelCache


@dataclass(frozen=True)
class Machine:
    """Where the timings were taken.

    Attributes:
        load_average: the 1-, 5- and 15-minute load averages when it was described (None where the OS has
            none); other busy processes slow a multi-threaded forward far more than a one-thread tokenizer.
    """

    device: str
    dtype: str
    torch_threads: int
    torch_interop_threads: int
    cpus: int | None
    arch: str
    python: str
    torch: str
    transformers: str
    load_average: tuple[float, float, float] | None


@dataclass(frozen=True)
class BenchReport:
    """A whole run: what was asked, where it ran, and the results."""

    model: str
    repeats: int
    machine: Machine
    results: tuple[BenchResult, ...]
    # Cases that ran on another checkpoint than ``model`` (fill_mask's masked LM, sentiment's classifier), by name.
    case_models: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # What cases checked after timing (bench.harness.run_checks), by name: printed under their tables.
    checks: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form written by ``--json``."""
        return dataclasses.asdict(self)


def machine_info(cache: ModelCache) -> Machine:
    """Describe this process's machine and torch settings, for printing beside the timings (call it before timing).

    Args:
        cache: the model cache whose device and dtype the models use.

    Returns:
        Machine.
    """
    import transformers

    return Machine(
        device=cache.device,
        dtype=str(cache.dtype).replace("torch.", ""),
        torch_threads=torch.get_num_threads(),
        torch_interop_threads=torch.get_num_interop_threads(),
        cpus=os.cpu_count(),
        arch=platform.machine(),
        python=platform.python_version(),
        torch=torch.__version__,
        transformers=transformers.__version__,
        load_average=_load_average(),
    )


def _load_average() -> tuple[float, float, float] | None:
    try:
        return tuple(round(value, 2) for value in os.getloadavg())
    except (AttributeError, OSError):
        return None


def _ratio_label(task: str, other: str, speedup: bool) -> str:
    return f"{other}/{task}" if speedup else f"{task}/{other}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _milliseconds(seconds: float) -> str:
    # Three significant digits, but whole milliseconds from 100 up: ".3g" would print 1003 ms as "1e+03".
    value = seconds * 1e3
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _ratio(value: float) -> str:
    return f"{value:.3g}x"


def _spread(result: BenchResult) -> str:
    # The widest interquartile range relative to its median, over the row's variants: how far to trust the row.
    widest = 0.0
    for timing in (result.task, result.baseline, *result.extras):
        if len(timing.per_repeat_s) >= 2:
            quartiles = statistics.quantiles(timing.per_repeat_s, n=4)
            widest = max(widest, (quartiles[2] - quartiles[0]) / timing.median_s)
    return f"{widest:.0%}"


def _speedup_line(row: BenchResult) -> str:
    task, baseline = row.task.label, row.baseline.label
    if row.ratio >= 1:
        return f"  {row.sample}, {row.tokens} tokens: {task} runs {_ratio(row.ratio)} faster than {baseline}"
    return f"  {row.sample}, {row.tokens} tokens: {task} runs at {_ratio(row.ratio)} the speed of {baseline} (slower)"


def format_table(report: BenchReport, cases: Sequence[BenchCase] = CASES) -> str:
    """The report as plain text: a machine line, then one table per case (medians in ms, ratios of medians).

    A ratio column is named after what it divides: "tokenize()/forward" is the task's cost in forwards; for a
    speed-up case "pipeline/predict_masks()" is how many times faster the task is, and a line per input says so.

    Args:
        report: what run_cases measured, with the machine.
        cases: the registry, for each case's note.

    Returns:
        The text, ending with a newline.
    """
    machine = report.machine
    others = "".join(f"; {name} on {ref}" for name, ref in report.case_models.items())
    lines = [
        f"model: {report.model}{others}; {report.repeats} repeats, variants interleaved; medians per call",
        (f"machine: {machine.device} {machine.dtype}, torch {machine.torch} "
         f"with {_plural(machine.torch_threads, 'thread')} ({machine.torch_interop_threads} interop), "
         f"{machine.cpus} CPUs {machine.arch}, "
         f"Python {machine.python}, transformers {machine.transformers}"),
    ]
    if machine.load_average is not None:
        one_minute = machine.load_average[0]
        lines.append(f"load average before timing: {', '.join(f'{v:.2f}' for v in machine.load_average)}"
                     + (" (other processes are busy: multi-threaded forwards suffer most; compare with --threads 1)"
                        if one_minute >= 1 else ""))
    notes = {case.name: case.note for case in cases}
    for name in dict.fromkeys(result.case for result in report.results):
        rows = [result for result in report.results if result.case == name]
        first = rows[0]
        task = first.task.label
        header = ["input", "tokens", f"{task} ms", f"{first.baseline.label} ms",
                  _ratio_label(task, first.baseline.label, first.speedup)]
        for extra in first.extras:
            header += [f"{extra.label} ms", _ratio_label(task, extra.label, first.speedup)]
        header.append("spread")
        table = [header]
        for row in rows:
            cells = [row.sample, str(row.tokens), _milliseconds(row.task.median_s),
                     _milliseconds(row.baseline.median_s), _ratio(row.ratio)]
            for extra in row.extras:
                cells += [_milliseconds(extra.median_s), _ratio(row.ratio_over(extra))]
            cells.append(_spread(row))
            table.append(cells)
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        lines += ["", f"[{name}] {first.model}"]
        for line in table:
            lines.append("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                                   for i, cell in enumerate(line)).rstrip())
        if first.speedup:
            lines.append(f"speed-up: X/{task} = X's median / {task}'s; above 1x {task} is faster, below 1x slower.")
            lines += [_speedup_line(row) for row in rows]
        for check in report.checks.get(name, ()):
            lines += textwrap.wrap(check, width=110, initial_indent="check: ", subsequent_indent="  ")
        if notes.get(name):
            lines += textwrap.wrap(notes[name], width=110)
    lines += ["", "spread = the widest interquartile range / median among a row's variants: how far to trust it."]
    return "\n".join(lines) + "\n"


def write_json(report: BenchReport, path: Path) -> None:
    """Write the report's ``to_dict()`` as indented JSON (what ``--json`` writes), creating the folder.

    Args:
        report: what run_cases measured, with the machine.
        path: the file to write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
