"""Load benchmark: many visitors at once against a launched app, through the same HTTP API a browser or script uses.

    python -m bench.load                                  # starts `python app.py --tiny` on a free port
    python -m bench.load --app-args "--tiny --public" --visitors 30 --rounds 2
    python -m bench.load --url http://127.0.0.1:7860/ --pid 1234    # an app already running (RSS read from its pid)

Three scenarios, each printed as a table:
- light: ``--visitors`` concurrent visitors, each a new session, call every light endpoint (tokenize, fill_mask, nsp,
  sentiment, ner, zero_shot, qa) ``--rounds`` times: requests, errors, p50/p95 per endpoint, server RSS before and after
  each round.
- sessions: ``--sessions`` new sessions each call /ner on 5,000 characters; the server's RSS growth in all.
- flood: ``--flood`` heavy calls from as many sessions, then one /tokenize timed while they wait or are refused.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
LIGHT = ("tokenize", "fill_mask", "nsp", "sentiment", "ner", "zero_shot", "qa")
MODEL_BOX = {"tokenize": "tokenizer-model", "fill_mask": "fill-mask-model", "nsp": "nsp-model",
             "sentiment": "sentiment-model", "ner": "ner-model", "zero_shot": "zero-shot-model", "qa": "qa-model",
             "attention": "attention-model"}
NER_TEXT = ("Angela Merkel met Emmanuel Macron in Paris to discuss the European Union's budget. " * 62)[:5000]
EIFFEL = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
          "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.")


def payloads(models: dict[str, str]) -> dict[str, list]:
    """Valid inputs for each endpoint, in the order of its inputs."""
    return {
        "tokenize": [models["tokenize"], "The cat sat on the mat.", "It was a lazy afternoon.", 0, False,
                     "longest_first", False, ""],
        "fill_mask": [models["fill_mask"], "The cat [MASK] on the mat.", 5],
        "nsp": [models["nsp"], "The man went to the store.", "He bought a gallon of milk."],
        "sentiment": [models["sentiment"], "I loved this movie!\nThe plot was thin and the acting worse."],
        "ner": [models["ner"], "Apple CEO Tim Cook announced a new product in Cupertino.", "simple", "pieces"],
        "zero_shot": [models["zero_shot"], "nli", "The new tax bill passed the senate yesterday.",
                      "politics, sports, cooking", "This example is {}.", False],
        "qa": [models["qa"], "Who designed the Eiffel Tower?", EIFFEL, 15, 3, False, "pieces"],
    }


@dataclass
class Call:
    endpoint: str
    seconds: float
    ok: bool
    message: str = ""
    bytes: int = 0  # the answer's data line (the outputs as JSON)


@dataclass
class Server:
    url: str
    pid: int | None
    process: subprocess.Popen | None = None
    log: Path | None = None

    def rss_mb(self) -> float | None:
        if self.pid is None:
            return None
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_server(app_args: Sequence[str], env: dict[str, str] | None = None, timeout_s: float = 120,
                 cwd: Path | None = None) -> Server:
    """`python app.py APP_ARGS` on a free port (in ``cwd``, default this checkout); returns once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bertviz-load-{port}.log"
    full_env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(env or {})}
    with log.open("w") as handle:
        process = subprocess.Popen([sys.executable, "app.py", *app_args, "--port", str(port)], cwd=cwd or ROOT,
                                   env=full_env, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return Server(url, process.pid, process, log)
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"The app did not start:\n{log.read_text()[-3000:]}")
        try:
            process.wait(timeout=0.3)
        except subprocess.TimeoutExpired:
            continue


def call(url: str, endpoint: str, data: list, timeout_s: float = 120, session_hash: str | None = None) -> Call:
    """One request through /gradio_api/call (a new session each time, as a fresh visitor or script, unless
    ``session_hash`` names one: a visitor's page keeps one session for every click)."""
    started = time.perf_counter()
    body = {"data": data} if session_hash is None else {"data": data, "session_hash": session_hash}
    try:
        joined = requests.post(f"{url}gradio_api/call/{endpoint}", json=body, timeout=timeout_s)
        if joined.status_code != 200:
            return Call(endpoint, time.perf_counter() - started, False, _detail(joined))
        event_id = joined.json()["event_id"]
        with requests.get(f"{url}gradio_api/call/{endpoint}/{event_id}", timeout=timeout_s, stream=True) as answer:
            kind, message = "", ""
            for line in answer.iter_lines(decode_unicode=True):
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:") and kind in ("complete", "error"):
                    message = line[5:].strip()
                    break
        ok = kind == "complete"
        return Call(endpoint, time.perf_counter() - started, ok, "" if ok else message, len(message.encode()))
    except requests.RequestException as error:
        return Call(endpoint, time.perf_counter() - started, False, type(error).__name__)


def _detail(response: requests.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))[:200]
    except ValueError:
        return response.text[:200]


def default_models(url: str) -> dict[str, str]:
    """Each tab's model as the page shows it (the server's own defaults)."""
    config = requests.get(f"{url}config", timeout=30).json()
    by_id = {c.get("props", {}).get("elem_id"): c.get("props", {}).get("value") for c in config["components"]}
    return {endpoint: by_id.get(box) for endpoint, box in MODEL_BOX.items()}


@dataclass
class Table:
    title: str
    rows: list[tuple] = field(default_factory=list)
    header: tuple = ()

    def print(self) -> None:
        print(f"\n## {self.title}")
        widths = [max(len(str(x)) for x in column) for column in zip(self.header, *self.rows, strict=False)]
        for row in (self.header, *self.rows):
            print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=False)))

    def markdown(self) -> str:
        """The rows as a Markdown table (a README's), without the title."""
        lines = ["| " + " | ".join(str(x) for x in self.header) + " |", "|" + "---|" * len(self.header)]
        return "\n".join(lines + ["| " + " | ".join(str(x) for x in row) + " |" for row in self.rows])


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def light_rounds(server: Server, visitors: int, rounds: int) -> dict:
    """Every visitor calls every light endpoint once per round, all visitors at once."""
    data = payloads(default_models(server.url))
    rss = [server.rss_mb()]
    calls: list[Call] = []
    for _ in range(rounds):
        jobs = [(endpoint, data[endpoint]) for _ in range(visitors) for endpoint in LIGHT]
        with ThreadPoolExecutor(visitors) as pool:
            calls += list(pool.map(lambda job: call(server.url, *job), jobs))
        rss.append(server.rss_mb())
    table = Table(f"light: {visitors} visitors x {rounds} rounds", header=("endpoint", "requests", "errors",
                                                                          "p50 s", "p95 s"))
    per_endpoint = {}
    for endpoint in LIGHT:
        mine = [c for c in calls if c.endpoint == endpoint]
        seconds = [c.seconds for c in mine if c.ok]
        errors = [c.message for c in mine if not c.ok]
        per_endpoint[endpoint] = {"requests": len(mine), "errors": len(errors), "p50": _percentile(seconds, 0.5),
                                  "p95": _percentile(seconds, 0.95), "first_error": errors[0] if errors else ""}
        table.rows.append((endpoint, len(mine), len(errors), f"{per_endpoint[endpoint]['p50']:.2f}",
                           f"{per_endpoint[endpoint]['p95']:.2f}"))
    table.print()
    for endpoint, figures in per_endpoint.items():
        if figures["first_error"]:
            print(f"first error of {endpoint}: {figures['first_error'][:200]}")
    print("RSS (MB) before and after each round: " + ", ".join(f"{x:.0f}" for x in rss if x is not None))
    return {"endpoints": per_endpoint, "rss_mb": rss}


def session_growth(server: Server, sessions: int, workers: int = 4) -> dict:
    """RSS growth of ``sessions`` new sessions, each calling /ner on 5,000 characters (after a warm-up of 20)."""
    model = default_models(server.url)["ner"]
    warm = [call(server.url, "ner", [model, NER_TEXT, "simple", "pieces"]) for _ in range(20)]
    before = server.rss_mb()
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda _: call(server.url, "ner", [model, NER_TEXT, "simple", "pieces"]), range(sessions)))
    after = server.rss_mb()
    errors = [c.message for c in (*warm, *results) if not c.ok]
    growth = (after - before) if before is not None and after is not None else None
    print(f"\n## sessions: {sessions} new sessions x /ner on 5,000 characters in {time.perf_counter() - started:.0f} s")
    print(f"RSS {before:.0f} MB -> {after:.0f} MB: {growth:+.0f} MB; errors: {len(errors)}")
    return {"sessions": sessions, "rss_before_mb": before, "rss_after_mb": after, "growth_mb": growth,
            "errors": errors[:3]}


def heavy_flood(server: Server, heavy: str, heavy_data: list, flood: int) -> dict:
    """``flood`` heavy calls from as many sessions at once, then one /tokenize timed while they wait."""
    data = payloads(default_models(server.url))
    joined = []
    for _ in range(flood):
        response = requests.post(f"{server.url}gradio_api/call/{heavy}", json={"data": heavy_data}, timeout=60)
        joined.append((response.status_code, _detail(response) if response.status_code != 200 else ""))
    accepted = sum(1 for status, _ in joined if status == 200)
    refusals = [message for status, message in joined if status != 200]
    light = call(server.url, "tokenize", data["tokenize"])
    print(f"\n## flood: {flood} /{heavy} calls from {flood} sessions")
    print(f"accepted into the queue: {accepted}; refused: {len(refusals)}"
          + (f" ('{refusals[0][:120]}')" if refusals else ""))
    print(f"/tokenize meanwhile: {'ok' if light.ok else 'FAILED ' + light.message} in {light.seconds:.2f} s")
    return {"heavy": heavy, "flood": flood, "accepted": accepted, "refused": len(refusals),
            "refusal": refusals[0] if refusals else "", "tokenize_ok": light.ok, "tokenize_s": light.seconds}


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="an app already running (default: start one)")
    parser.add_argument("--pid", type=int, help="its process id, for RSS")
    parser.add_argument("--app-args", default="--tiny", help="arguments of the app this starts (default --tiny)")
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--flood", type=int, default=40)
    parser.add_argument("--heavy", default="model_latency", help="the heavy endpoint to flood (default model_latency; "
                        "it does not exist in public mode: use attention there)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    server = Server(args.url, args.pid) if args.url else start_server(shlex.split(args.app_args))
    try:
        report = {"light": light_rounds(server, args.visitors, args.rounds)} if args.rounds else {}
        if args.sessions:
            report["sessions"] = session_growth(server, args.sessions)
        if args.flood:
            heavy_data = [] if args.heavy in ("model_latency", "model_comparison") else [
                default_models(server.url)["attention"], NER_TEXT[:2000], "", 0, [], -1, False, "all", False]
            report["flood"] = heavy_flood(server, args.heavy, heavy_data, args.flood)
    finally:
        server.stop()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
