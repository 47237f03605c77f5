"""A classroom at once: many students clicking the light tabs of a launched app, as a class does together.

After "now everyone try it": per-endpoint latency, errors, throughput and the server's memory, as a Markdown table.

    python -m bench.classroom                              # 30 students, 2 minutes, bert-base-sized random checkpoints
    python -m bench.classroom --students 4 --minutes 0.3   # a smoke run
    python -m bench.classroom --models minilm              # the offline all-MiniLM-L6-v2 where the app serves it
    python -m bench.classroom --app-dir /tmp/wt-before --json before.json   # another checkout's app.py ("before")
    python -m bench.classroom --app-args "--quantize int8" --env SOME_SETTING=20 --json after.json  # app options

A student is a thread with a session of its own (as a browser page keeps one): it joins within the first ``--ramp-s``
seconds, clicks, waits for the answer, thinks 3-8 s, clicks again, until ``--minutes`` have passed. What each
student clicks and types, and how long it thinks, comes from ``--seed`` alone, so runs are comparable. Each endpoint
is called once before the clock starts (model loads are not counted; their times are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.checkpoints import DEFAULT_CHECKPOINTS_DIR, app_env, endpoint_models, ensure_checkpoints
from bench.classroom_report import (
    cpu_seconds,
    describe_checkout,
    describe_machine,
    figures,
    sample_rss,
    summary_table,
)
from bench.load import LIGHT, ROOT, Call, Server, call, default_models, payloads, start_server
from bertviz_ui.examples import TUTORIAL_REVIEWS, TUTORIAL_TEST_TEXTS
from bertviz_ui.registry import OFFLINE_MODEL_ID
from bertviz_ui.tasks.zero_shot import METHOD_EMBEDDING

# What a class clicks: mostly the two tabs a lesson starts with, some of the rest. The offline MiniLM has no trained
# head: the app refuses it for masked words, next sentence, sentiment, entities, NLI zero-shot and QA, and serves the
# tokenizer, zero-shot by embedding similarity and the Similarity tab.
LESSON_MIX = {"fill_mask": 25, "sentiment": 25, "nsp": 10, "ner": 10, "zero_shot": 10, "qa": 10, "tokenize": 10}
# tiny: the checkpoints of `app.py --tiny`, a quick check of the tool itself.
MIXES: Mapping[str, Mapping[str, int]] = {"bert-base": LESSON_MIX, "tiny": LESSON_MIX,
                                          "minilm": {"tokenize": 40, "zero_shot": 30, "similarity": 30}}

# What students type: each variant replaces these inputs (position: value) of load.payloads' request.
VARIANTS: Mapping[str, tuple[Mapping[int, object], ...]] = {
    "fill_mask": tuple({1: text} for text in (
        "The cat [MASK] on the mat.", "Paris is the [MASK] of France.", "I went to the [MASK] to buy some bread.",
        "The doctor told me to take the [MASK] twice a day.", "BERT reads the words on both [MASK] of a mask.")),
    "sentiment": ({},) + tuple({1: text} for text in (*TUTORIAL_REVIEWS, "\n".join(TUTORIAL_TEST_TEXTS))),
    "nsp": ({}, {1: "The cat sat on the mat.", 2: "The stock market crashed."},
            {1: "She opened the umbrella.", 2: "It had started to rain."},
            {1: "She opened the umbrella.", 2: "Photosynthesis happens in chloroplasts."}),
    "ner": ({}, {1: "Elon Musk founded Tesla in California."},
            {1: "Angela Merkel met Emmanuel Macron in Paris to discuss the European Union's budget."}),
    "zero_shot": ({}, {2: "The striker scored twice in the final minutes.", 3: "sports, finance, music"},
                  {2: "The new phone has a brighter screen and a faster chip.", 3: "technology, politics, sports"}),
    "qa": ({}, {1: "Where is the Eiffel Tower located?"}, {1: "When was the Eiffel Tower built?"}),
    "tokenize": ({}, {1: "Elon Musk founded Tesla in California.", 2: ""},
                 {1: "Tokenization splits unaffable words into pieces.", 2: ""}),
    "similarity": ({}, {1: "I loved this film.\nI did not love this film.\nThis movie was great.\nThe weather is cold."}),
}
SIMILARITY_SENTENCES = "The cat sat on the mat.\nA cat was sitting on a rug.\nThe stock market fell sharply today."


@dataclass(frozen=True)
class Action:
    """One click: which endpoint, which of its VARIANTS the student typed, and the pause after the answer."""

    endpoint: str
    variant: int
    think_s: float


@dataclass(frozen=True)
class StudentPlan:
    """A student's session: when it joins (seconds after the class starts) and its clicks in order."""

    student: int
    start_s: float
    actions: tuple[Action, ...]


def classroom_plan(students: int, *, seconds: float, ramp_s: float, seed: int, mix: Mapping[str, int],
                   think_s: tuple[float, float] = (3.0, 8.0),
                   variants: Mapping[str, int] | None = None) -> tuple[StudentPlan, ...]:
    """Every student's clicks, from the seed alone.

    Args:
        students: how many.
        seconds: how long the class lasts; each plan holds enough clicks to fill it even if every answer were instant.
        ramp_s: students join at uniformly random times in [0, ramp_s).
        seed: with the student's number, seeds that student's own RNG (adding students leaves the others alone).
        mix: endpoint -> weight.
        think_s: the pause after each answer, uniform in [low, high].
        variants: endpoint -> how many inputs to choose from (default: VARIANTS' counts).

    Returns:
        One StudentPlan per student, in order.
    """
    if students < 1 or seconds <= 0 or ramp_s < 0 or not 0 < think_s[0] <= think_s[1]:
        raise ValueError("Need students >= 1, seconds > 0, ramp_s >= 0 and 0 < think low <= think high.")
    endpoints, weights = list(mix), list(mix.values())
    counts = variants if variants is not None else {e: len(v) for e, v in VARIANTS.items()}
    plans = []
    for student in range(students):
        rng = random.Random(f"classroom-{seed}-{student}")
        start = rng.uniform(0, ramp_s) if ramp_s else 0.0
        actions, at = [], start
        while at < seconds:
            endpoint = rng.choices(endpoints, weights)[0]
            action = Action(endpoint, rng.randrange(counts.get(endpoint, 1)), rng.uniform(*think_s))
            actions.append(action)
            at += action.think_s
        plans.append(StudentPlan(student, start, tuple(actions)))
    return tuple(plans)


def request_data(action: Action, base: Mapping[str, list]) -> list:
    """The inputs of ``action``'s request: the endpoint's base request with the student's variant typed in."""
    data = list(base[action.endpoint])
    options = VARIANTS.get(action.endpoint, ({},))
    for position, value in options[action.variant % len(options)].items():
        data[position] = value
    return data


def base_requests(models: Mapping[str, str], kind: str) -> dict[str, list]:
    """Each endpoint's request before a student types into it, ``models`` filled in (the offline MiniLM where absent);
    ``kind`` minilm asks zero-shot for its offline method."""
    base = payloads({e: models.get(e, OFFLINE_MODEL_ID) for e in LIGHT})
    base["similarity"] = [models.get("similarity", OFFLINE_MODEL_ID), SIMILARITY_SENTENCES]
    if kind == "minilm":
        base["zero_shot"][1] = METHOD_EMBEDDING
    return base


# --- Running the class ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Click:
    """One request as a student saw it, sent ``at_s`` seconds after the class started."""

    student: int
    at_s: float
    call: Call


def run_class(url: str, plans: Sequence[StudentPlan], base: Mapping[str, list], *, seconds: float,
              timeout_s: float = 120, session_prefix: str = "classroom") -> tuple[list[Click], float]:
    """Every student in a thread of its own until ``seconds`` have passed; a click under way is waited for.

    Returns:
        (the clicks in the order they ended, seconds from the start to the deadline or the last answer if later).
    """
    clicks: list[Click] = []
    lock = threading.Lock()
    started = time.monotonic()
    stop = threading.Event()

    def student(plan: StudentPlan) -> None:
        if stop.wait(plan.start_s):
            return
        for action in plan.actions:
            at = time.monotonic() - started
            if at >= seconds:
                return
            answer = call(url, action.endpoint, request_data(action, base), timeout_s,
                          session_hash=f"{session_prefix}-{plan.student}")
            with lock:
                clicks.append(Click(plan.student, at, answer))
            if stop.wait(min(action.think_s, max(0.0, seconds - (time.monotonic() - started)))):
                return

    threads = [threading.Thread(target=student, args=(plan,), daemon=True) for plan in plans]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    finally:
        stop.set()
    return clicks, time.monotonic() - started


@dataclass(frozen=True)
class ClassRun:
    """A whole run: each endpoint's first call (model loads), the clicks, and what the server spent."""

    warmup_s: dict[str, float]
    clicks: list[Click]
    wall_s: float
    rss_idle_mb: float | None
    rss_mb: list[float]
    server_cpu_s: float | None
    client_cpu_s: float


def measure(server: Server, plans: Sequence[StudentPlan], base: Mapping[str, list], *, seconds: float,
            timeout_s: float, warmup: Sequence[str]) -> ClassRun | str:
    """Call each ``warmup`` endpoint once, then run the class, sampling the server's RSS every second.

    Returns:
        ClassRun, or why an endpoint failed before the class started.
    """
    rss_idle = server.rss_mb()
    first = {}
    for endpoint in warmup:
        answer = call(server.url, endpoint, request_data(Action(endpoint, 0, 0.0), base), timeout_s)
        if not answer.ok:
            return f"{endpoint} failed before the class started: {answer.message[:300]}"
        first[endpoint] = round(answer.seconds, 2)
    cpu_before, client_before = cpu_seconds(server.pid), time.process_time()
    done = threading.Event()
    sampler, rss = sample_rss(server, done)
    try:
        clicks, wall_s = run_class(server.url, plans, base, seconds=seconds, timeout_s=timeout_s,
                                   session_prefix=f"classroom-{os.getpid()}")
    finally:
        done.set()
        sampler.join()
    cpu_after = cpu_seconds(server.pid)
    return ClassRun(first, clicks, wall_s, rss_idle, rss,
                    None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
                    time.process_time() - client_before)


def first_and_later(clicks: Sequence[Click]) -> tuple[list[Call], list[Call]]:
    """Each student's first click (a new session: Gradio creates its state then) apart from the later ones."""
    first_at: dict[int, float] = {}
    for click in clicks:
        first_at[click.student] = min(click.at_s, first_at.get(click.student, click.at_s))
    return ([c.call for c in clicks if c.at_s == first_at[c.student]],
            [c.call for c in clicks if c.at_s != first_at[c.student]])


def report_lines(run: ClassRun, endpoints: Sequence[str]) -> list[str]:
    """The Markdown table and the lines under it: throughput, CPU, RSS, model loads, each endpoint's first error."""
    calls = [click.call for click in run.clicks]
    lines = [summary_table(figures(calls, endpoints)).markdown(), "",
             f"throughput {len(calls) / run.wall_s:.2f} requests/s over {run.wall_s:.0f} s"
             + ("" if run.server_cpu_s is None else f"; server CPU {run.server_cpu_s / run.wall_s:.2f} cores busy")
             + f"; this client {run.client_cpu_s / run.wall_s:.2f} cores"]
    lines.append("each student's first click (its session is created then) / the later ones: "
                 + " / ".join(f"p50 {row.p50_s:.2f} s, p95 {row.p95_s:.2f} s" if row.p50_s is not None else "none"
                              for row in (figures(calls, ())[-1] for calls in first_and_later(run.clicks))))
    if run.rss_mb:
        lines.append(f"server RSS (MB): idle {run.rss_idle_mb:.0f}, start {run.rss_mb[0]:.0f}, "
                     f"peak {max(run.rss_mb):.0f}, end {run.rss_mb[-1]:.0f}")
    if run.warmup_s:
        lines.append("first call of each endpoint (model load, not counted): "
                     + ", ".join(f"{e} {s:.1f} s" for e, s in run.warmup_s.items()))
    for endpoint in endpoints:
        failed = next((c for c in calls if c.endpoint == endpoint and not c.ok), None)
        if failed is not None:
            lines.append(f"first error of {endpoint}: {failed.message[:300]}")
    return lines


# --- The command line ----------------------------------------------------------------------------------------------

def _env_pair(raw: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {raw!r}")
    return key.strip(), value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.classroom", description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--ramp-s", type=float, default=10.0, help="students join within this many seconds")
    parser.add_argument("--think-s", type=float, nargs=2, default=(3.0, 8.0), metavar=("LOW", "HIGH"),
                        help="pause after each answer, uniform between these (default 3 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", choices=sorted(MIXES), default="bert-base",
                        help="bert-base: random-weight bert-base checkpoints (built once under --checkpoints); "
                             "minilm: the offline all-MiniLM-L6-v2 (tokenize, zero_shot by embeddings, similarity); "
                             "tiny: `app.py --tiny`'s checkpoints, a quick check of the tool")
    parser.add_argument("--checkpoints", type=Path, default=DEFAULT_CHECKPOINTS_DIR)
    parser.add_argument("--app-args", default="", help="extra arguments of app.py, e.g. \"--quantize int8\"")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="run app.py from this checkout (default this one)")
    parser.add_argument("--env", type=_env_pair, action="append", default=[], metavar="KEY=VALUE",
                        help="an environment variable of the app (repeatable)")
    parser.add_argument("--url", help="an app already running (its page's models; --models minilm still applies)")
    parser.add_argument("--pid", type=int, help="its process id, for RSS and CPU")
    parser.add_argument("--timeout-s", type=float, default=120.0, help="one request's limit")
    parser.add_argument("--no-warmup", action="store_true", help="count each model's first load in the figures")
    parser.add_argument("--json", type=Path, help="also write the figures and every click here")
    args = parser.parse_args(argv)
    if args.students < 1 or args.minutes <= 0 or args.ramp_s < 0 or not 0 < args.think_s[0] <= args.think_s[1]:
        parser.error("need --students >= 1, --minutes > 0, --ramp-s >= 0 and 0 < think LOW <= HIGH")
    if not (args.app_dir / "app.py").is_file():
        parser.error(f"no app.py in --app-dir {args.app_dir}")
    return args


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = parse_args(argv)
    endpoints = tuple(MIXES[args.models])
    app_args = shlex.split(args.app_args) + (["--tiny"] if args.models == "tiny" else [])
    env = {"HF_HUB_OFFLINE": "1", **dict(args.env)}
    models: dict[str, str] = {}
    if args.models == "bert-base" and not args.url:
        paths = ensure_checkpoints(args.checkpoints, log=out)
        env, models = {**app_env(paths, endpoints), **env}, endpoint_models(paths, endpoints)
    machine = describe_machine()
    if args.url:
        server, where = Server(args.url.rstrip("/") + "/", args.pid), f"already running at {args.url}"
    else:
        server = start_server(app_args, env=env, cwd=args.app_dir.resolve())
        where = f"from {args.app_dir.resolve()} at {describe_checkout(args.app_dir)}"
    try:
        if args.models != "minilm" and not models:
            models = {e: m for e, m in default_models(server.url).items() if m}
        plans = classroom_plan(args.students, seconds=args.minutes * 60, ramp_s=args.ramp_s, seed=args.seed,
                               mix=MIXES[args.models], think_s=tuple(args.think_s))
        run = measure(server, plans, base_requests(models, args.models), seconds=args.minutes * 60,
                      timeout_s=args.timeout_s, warmup=() if args.no_warmup else endpoints)
    finally:
        if not args.url:
            server.stop()
    if isinstance(run, str):
        out(run)
        return 1
    caption = (f"{args.students} students over {args.minutes:g} min (joining within {args.ramp_s:g} s, "
               f"{args.think_s[0]:g}-{args.think_s[1]:g} s between clicks, seed {args.seed}); models: "
               f"{'the page defaults' if args.url and args.models != 'minilm' else args.models}; "
               f"`python app.py{''.join(' ' + shlex.quote(a) for a in app_args)}` {where}"
               + (f", env {' '.join(f'{k}={v}' for k, v in args.env)}" if args.env else "") + f"; {machine}")
    out("\n".join(["", caption, "", *report_lines(run, endpoints)]))
    calls = [click.call for click in run.clicks]
    if args.json:
        args.json.write_text(json.dumps({
            "caption": caption, "args": {k: str(v) for k, v in vars(args).items()}, "models": models, "app_env": env,
            "endpoints": [asdict(row) for row in figures(calls, endpoints)],
            "throughput_rps": len(calls) / run.wall_s, **asdict(run)}, indent=2, default=str))
    return 0 if calls and all(c.ok for c in calls) else 1


if __name__ == "__main__":
    sys.exit(main())
