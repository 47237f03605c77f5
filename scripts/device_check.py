"""One short check for a machine with a GPU: the model cache's CUDA path, half precision, memory released on clear,
and the QA tab's batched windows against one forward per window.

    python scripts/device_check.py [--repeats N] [--qa-model REF] [--json PATH]

Prints one JSON object and exits 1 when a check fails. On a machine without a GPU it runs the same steps on the
CPU and marks the GPU-only checks as skipped, so it can be tried anywhere before the device time is spent.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cases.qa import qa_samples
from bench.random_models import RANDOM_DISTILBERT_QA, load_one_head
from bertviz_ui.config import load_settings
from bertviz_ui.models import build_cache
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head
from bertviz_ui.tasks.qa import answer_question


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _allocated(device: str) -> int:
    return torch.cuda.memory_allocated() if device.startswith("cuda") else 0


def _median_seconds(run: Callable[[], Any], device: str, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        run()
        _sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _qa_batching(cache: Any, qa_model: str, device: str, repeats: int) -> tuple[bool, dict[str, Any]]:
    """All windows of an 8-window context in one forward vs. one forward per window: same answer, and times."""
    qa = load_one_head(Head.QUESTION_ANSWERING)(cache, qa_model)[Head.QUESTION_ANSWERING]
    (sample,) = qa_samples({Head.QUESTION_ANSWERING: qa})

    def ask(window_batch: int | None) -> Any:
        return answer_question(sample.text, sample.text_pair, model=qa.model, tokenizer=qa.tokenizer,
                               newly_initialized=qa.newly_initialized, window_batch=window_batch)

    batched, sequential = ask(None), ask(1)
    same = [(c.answer, c.start, c.end) for c in batched.candidates] == \
        [(c.answer, c.start, c.end) for c in sequential.candidates]
    batched_s = _median_seconds(lambda: ask(None), device, repeats)
    sequential_s = _median_seconds(lambda: ask(1), device, repeats)
    return same, {"model": qa.label, "windows": len(batched.windows), "batched_ms": batched_s * 1e3,
                  "one_forward_per_window_ms": sequential_s * 1e3, "speedup": sequential_s / batched_s,
                  "repeats": repeats}


def check(repeats: int = 5, qa_model: str = RANDOM_DISTILBERT_QA) -> dict[str, Any]:
    """Run every check; returns the report (``ok`` is False when a check that applies here failed)."""
    cache = build_cache(load_settings((), os.environ))
    device = cache.device
    on_gpu = device.startswith("cuda")
    report: dict[str, Any] = {"device": device, "dtype": str(cache.dtype).replace("torch.", ""),
                              "cuda_available": torch.cuda.is_available(), "checks": {}}
    checks = report["checks"]
    checks["cuda_path"] = on_gpu if torch.cuda.is_available() else "skipped (no GPU)"

    baseline = _allocated(device)
    loaded = cache.load(OFFLINE_MODEL_ID, Head.ENCODER)
    parameter = next(loaded.model.parameters())
    encoding = loaded.tokenizer("The cat sat on the mat.", return_tensors="pt").to(parameter.device)
    with torch.inference_mode():
        hidden = loaded.model(**encoding).last_hidden_state
    checks["half_precision"] = (parameter.dtype in (torch.bfloat16, torch.float16)) if on_gpu else \
        "skipped (fp32 on CPU by design)"
    checks["weights_on_device"] = str(parameter.device).startswith(device.split(":")[0])
    checks["forward_finite"] = bool(torch.isfinite(hidden.float()).all())
    report["encoder"] = {"label": loaded.label, "parameter_dtype": str(parameter.dtype), "size_bytes": loaded.size_bytes}

    same, report["qa_batching"] = _qa_batching(cache, qa_model, device, repeats)
    checks["qa_same_answer_batched_or_not"] = same

    peak = _allocated(device)
    del loaded, hidden, parameter, encoding
    cache.clear()
    gc.collect()
    released = _allocated(device)
    report["memory"] = {"baseline_bytes": baseline, "loaded_bytes": peak, "after_clear_bytes": released}
    # A few MiB may stay with the CUDA context and cuBLAS workspaces; model weights are hundreds of MiB.
    checks["memory_released"] = released <= baseline + 16 * 2**20 if on_gpu else "skipped (no GPU)"
    report["ok"] = all(value is True or isinstance(value, str) for value in checks.values())
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/device_check.py", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per QA variant (default 5).")
    parser.add_argument("--qa-model", default=RANDOM_DISTILBERT_QA,
                        help=f"QA model for the batching check (default {RANDOM_DISTILBERT_QA}, built in memory).")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here.")
    args = parser.parse_args(argv)
    report = check(max(1, args.repeats), args.qa_model)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
