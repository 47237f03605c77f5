"""Cross-request batching over the real app's API: 16 students press "Predict" at once on a bert-base-sized model.

    python -m bench.batching                 # bert-base-sized random checkpoint (bench/checkpoints.py), starts the app
    python -m bench.batching --calls 16 --repeats 3 --json figures.json

The same 16 /fill_mask calls (one short sentence each, a new session each, through /gradio_api/call) are timed one
after another and all at once, on the app as configured (batching on, the default) and on a second app started with
``--batch-window-ms 0`` (batching off: the app before batching). Target: all at once with batching on takes at most
0.4x the wall time of the calls one after another. Every concurrent answer must equal its sequential one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.checkpoints import ensure_checkpoints
from bench.load import Call, Server, start_server

TARGET_RATIO = 0.4
# Short sentences of different lengths (8-16 tokens): a padded batch, as a class's would be.
SENTENCES = (
    "The cat [MASK] on the mat.", "Paris is the [MASK] of France.", "I went to the [MASK] to buy bread.",
    "She [MASK] the piano every evening.", "The doctor told me to take the [MASK] twice a day.",
    "We watched a [MASK] at the cinema.", "The sun rises in the [MASK].", "He drank a cup of [MASK].",
    "My favourite colour is [MASK].", "The train was [MASK] by an hour.", "Birds can [MASK].",
    "The children played in the [MASK] after school.", "It is cold in [MASK].", "She wrote a [MASK] to her friend.",
    "The river flows into the [MASK].", "They built a [MASK] near the lake.",
)


def _answer(server: Server, model: str, sentence: str) -> tuple[Call, list[str]]:
    """One /fill_mask call in a new session; its top tokens (read from the raw JSON output) or [] when it failed."""
    import requests

    started = time.perf_counter()
    joined = requests.post(f"{server.url}gradio_api/call/fill_mask", json={"data": [model, sentence, 5]},
                           timeout=300)
    joined.raise_for_status()
    event_id = joined.json()["event_id"]
    kind, data = "", None
    with requests.get(f"{server.url}gradio_api/call/fill_mask/{event_id}", timeout=300, stream=True) as answer:
        for line in answer.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                data = line[5:].strip()
                break
    seconds = time.perf_counter() - started
    if kind != "complete":
        return Call("fill_mask", seconds, False, str(data)[:200]), []
    raw = json.loads(data)[3]
    return Call("fill_mask", seconds, True), [p["token"] for mask in raw["masks"] for p in mask["predictions"]]


def one_after_another(server: Server, model: str, sentences: Sequence[str]) -> tuple[float, list[list[str]]]:
    started = time.perf_counter()
    answers = [_answer(server, model, sentence) for sentence in sentences]
    return time.perf_counter() - started, _tokens(answers)


def all_at_once(server: Server, model: str, sentences: Sequence[str]) -> tuple[float, list[list[str]]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(len(sentences)) as pool:
        answers = list(pool.map(lambda sentence: _answer(server, model, sentence), sentences))
    return time.perf_counter() - started, _tokens(answers)


def _tokens(answers: list[tuple[Call, list[str]]]) -> list[list[str]]:
    failed = [call.message for call, _ in answers if not call.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} calls failed, the first: {failed[0]}")
    return [tokens for _, tokens in answers]


def measure(checkpoint: Path, calls: int, repeats: int, window_ms: float | None = None,
            out: Callable[[str], None] = print) -> dict:
    """Time the calls one after another and at once, with batching on and off; returns the figures."""
    sentences = [SENTENCES[i % len(SENTENCES)] for i in range(calls)]
    model = str(checkpoint)
    env = {"BERTVIZ_UI_MODEL_FILL_MASK": model}
    figures: dict[str, list[float]] = {"sequential": [], "concurrent, batching on": [], "concurrent, batching off": []}
    on = [] if window_ms is None else ["--batch-window-ms", str(window_ms)]
    servers = {"on": start_server(on, env=env), "off": start_server(["--batch-window-ms", "0"], env=env)}
    try:
        reference = None
        for server in servers.values():  # load the model, warm every code path
            one_after_another(server, model, sentences[:2])
            all_at_once(server, model, sentences)
        for _ in range(repeats):
            seconds, reference_now = one_after_another(servers["on"], model, sentences)
            figures["sequential"].append(seconds)
            reference = reference or reference_now
            for name, key in (("on", "concurrent, batching on"), ("off", "concurrent, batching off")):
                seconds, answers = all_at_once(servers[name], model, sentences)
                figures[key].append(seconds)
                if answers != reference:
                    raise RuntimeError(f"Concurrent answers (batching {name}) differ from the sequential ones.")
    finally:
        for server in servers.values():
            server.stop()
    medians = {name: statistics.median(values) for name, values in figures.items()}
    ratio = medians["concurrent, batching on"] / medians["sequential"]
    out(f"\n## Cross-request batching: {calls} /fill_mask calls on {checkpoint.name} (median of {repeats})")
    out("| variant | wall time | vs one after another |")
    out("|---|---:|---:|")
    for name, value in medians.items():
        out(f"| {name} | {value:.2f} s | {value / medians['sequential']:.2f}x |")
    out(f"target: all at once (batching on) <= {TARGET_RATIO}x one after another: {ratio:.2f}x, "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}; every concurrent answer equals its sequential one")
    return {"calls": calls, "repeats": repeats, "seconds": figures, "medians": medians, "ratio": ratio,
            "target": TARGET_RATIO, "met": ratio <= TARGET_RATIO}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batching", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path, help="a masked-LM checkpoint directory (default: bert-base-sized, "
                                                        "random weights, built once)")
    parser.add_argument("--window-ms", type=float, help="the batching window of the app with batching on "
                                                         "(default: the app's own default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    # bert-base-uncased's shape: BertForPreTraining, whose masked-LM head the tab uses.
    figures = measure(args.checkpoint or ensure_checkpoints()["pretraining"], args.calls, args.repeats, args.window_ms)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if figures["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
