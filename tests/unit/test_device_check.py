"""scripts/device_check.py runs anywhere: on this CPU machine its GPU-only checks say they were skipped."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "device_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_device_check_on_cpu(tmp_path, monkeypatch, cache_dir, capsys):
    monkeypatch.setenv("BERTVIZ_UI_DEVICE", "cpu")
    monkeypatch.setenv("BERTVIZ_UI_CACHE_DIR", str(cache_dir))
    threads = torch.get_num_threads()
    try:
        status = _module().main(["--repeats", "1", "--qa-model", "tiny:question_answering", "--json",
                                 str(tmp_path / "report.json")])
    finally:
        torch.set_num_threads(threads)
    report = json.loads((tmp_path / "report.json").read_text())
    assert status == 0 and report["ok"] is True and report["device"] == "cpu"
    checks = report["checks"]
    assert checks["forward_finite"] is True and checks["qa_same_answer_batched_or_not"] is True
    assert checks["half_precision"].startswith("skipped") and checks["memory_released"].startswith("skipped")
    assert report["qa_batching"]["windows"] == 8 and report["qa_batching"]["speedup"] > 0
    assert json.loads(capsys.readouterr().out) == report
