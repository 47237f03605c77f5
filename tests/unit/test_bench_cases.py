"""The benchmark's cases come from the registry: every task has a case or a stated reason, and the app never imports
the benchmark."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

from bench.cases import CASES, NOT_BENCHMARKED, discover_cases
from bench.harness import BenchCase
from bertviz_ui.registry import TASKS

ROOT = Path(__file__).resolve().parents[2]
TASK_IDS = [task.id for task in TASKS]


def test_every_registry_task_has_a_case_or_a_reason_not_to():
    cases = {case.name for case in CASES}
    missing = [task_id for task_id in TASK_IDS if task_id not in cases and task_id not in NOT_BENCHMARKED]
    assert missing == [], f"add bench/cases/<task id>.py or a NOT_BENCHMARKED entry for {missing}"
    assert sorted(cases & set(NOT_BENCHMARKED)) == []  # benchmarked after all: drop the NOT_BENCHMARKED entry


def test_every_case_and_every_reason_names_a_registry_task():
    assert [case.name for case in CASES if (case.task or case.name) not in TASK_IDS] == []
    # A further case of one tab says which, and its name says what it adds.
    assert all(case.name.startswith(f"{case.task}_") for case in CASES if case.task)
    assert [task_id for task_id in NOT_BENCHMARKED if task_id not in TASK_IDS] == []
    assert all(reason.strip() and "\n" not in reason for reason in NOT_BENCHMARKED.values())


def test_each_case_lives_in_the_module_named_after_its_task():
    assert len({case.name for case in CASES}) == len(CASES)
    for case in CASES:
        assert importlib.import_module(f"bench.cases.{case.name}").CASE is case


def test_cases_run_in_the_registrys_order():
    tasks = list(dict.fromkeys(case.task or case.name for case in CASES))
    assert tasks == [task_id for task_id in TASK_IDS if task_id in tasks]
    assert [case.name for case in CASES][:6] == ["tokenizer", "fill_mask", "fill_mask_int8", "sentiment", "qa",
                                                 "finetune"]


def _case_module(name: str) -> str:
    return ("from bench.harness import BenchCase\n\n"
            f"CASE = BenchCase(name={name!r}, run_task=print, run_baseline=print, heads=())\n")


def test_a_new_case_is_one_module(tmp_path, monkeypatch):
    package = tmp_path / "fake_bench_cases"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "qa.py").write_text(_case_module("qa"))
    (package / "tokenizer.py").write_text(_case_module("tokenizer"))
    (package / "not_a_task.py").write_text(_case_module("not_a_task"))
    (package / "_shared.py").write_text("HELPER = 1\n")  # private modules are helpers, not cases
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        cases = discover_cases("fake_bench_cases", [str(package)])
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] == "fake_bench_cases"]:
            del sys.modules[name]
    assert all(isinstance(case, BenchCase) for case in cases)
    # Registry order (tokenizer before qa), then anything that is no task.
    assert [case.name for case in cases] == ["tokenizer", "qa", "not_a_task"]


def test_the_app_never_imports_the_benchmark():
    importers = []
    for path in sorted((ROOT / "bertviz_ui").rglob("*.py")) + [ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if any(name == "bench" or name.startswith("bench.") for name in names):
                importers.append(str(path.relative_to(ROOT)))
    assert importers == []
    assert not (ROOT / "bertviz_ui" / "bench.py").exists()
