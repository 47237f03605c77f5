"""Response sizes: every public endpoint called once with the bench corpus's inputs, the bytes a browser receives.

    python -m bench.sizes                                 # starts `python app.py --tiny` on a free port
    python -m bench.sizes --app-args "--tiny --model-attention sentence-transformers/all-MiniLM-L6-v2"
    python -m bench.sizes --url http://127.0.0.1:7860/ --json sizes.json     # an app already running

Each endpoint is called as the page calls it (Gradio's queue: join, then read the event's stream), all in one
session, so /finetune_try finds the model /finetune trained. The table gives the bytes of the complete event's data
(the outputs, as JSON, as Gradio sends them) and of the whole stream (progress and streamed updates too); /attention
is broken down per output. /attention and /attention_json read 128 tokens of the corpus's filler prose.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from bench.corpora import FILLER, MASK_SENTENCE, QA_QUESTION, SENTIMENT_TEXTS, TUTORIAL_PAIR
from bench.load import start_server
from bertviz_ui.examples import TUTORIAL_REVIEW_LABELS, TUTORIAL_REVIEWS
from bertviz_ui.registry import OFFLINE_MODEL_ID

# 128 tokens with [CLS] and [SEP] in the uncased vocabulary (the offline MiniLM's, bert-base-uncased's, the tiny
# checkpoints'): the filler prose's first 102 words and one more (tests/integration/test_attention_api.py counts them).
ATTENTION_TEXT = " ".join(FILLER.split()[:102]) + " models"
# Broken down per output in the table (every endpoint's breakdown goes to --json).
BROKEN_DOWN = ("/attention", "/attention_json")
# Endpoints not called, each with why (the table lists them).
SKIPPED = {"/model_latency": "builds and times five bert-sized models (about a minute of both cores)"}
LABELS = ("negative", "positive")


def _reviews_table() -> dict:
    rows = [[text, LABELS[label]] for text, label in zip(TUTORIAL_REVIEWS, TUTORIAL_REVIEW_LABELS, strict=True)]
    return {"headers": ["text", "label"], "data": rows, "metadata": None}


def inputs(attention_text: str = ATTENTION_TEXT) -> dict[str, dict]:
    """Each endpoint's inputs by parameter name (the others keep the API's defaults), in the order they are called:
    /finetune before /finetune_try and /finetune_download, which use its model."""
    paragraph = ". ".join(FILLER.split(". ")[:4]) + "."
    return {
        "/tokenize": {"text": TUTORIAL_PAIR[0], "text_pair": TUTORIAL_PAIR[1]},
        "/fill_mask": {"text": MASK_SENTENCE},
        "/fill_mask_analysis": {"text": MASK_SENTENCE},
        "/fill_mask_quantized": {"text": MASK_SENTENCE},
        "/masking_lab": {"sentence": FILLER.split(". ")[0] + "."},
        "/nsp": {"sentence_a": TUTORIAL_PAIR[0], "sentence_b": TUTORIAL_PAIR[1]},
        "/nsp_paragraph": {"paragraph": paragraph},
        "/sentiment": {"text": "\n".join(SENTIMENT_TEXTS)},
        "/sentiment_explain": {"text": SENTIMENT_TEXTS[0]},
        "/explanation_check": {"text": SENTIMENT_TEXTS[0]},
        "/ner": {"text": FILLER},
        "/ner_alignment": {"sentence": "Elon Musk founded Tesla.", "labels": "B-PER I-PER O B-ORG O"},
        "/ner_spacy": {"text": FILLER},
        "/zero_shot": {"text": SENTIMENT_TEXTS[0], "labels": "cinema, politics, cooking"},
        "/qa": {"question": QA_QUESTION, "context": FILLER},
        "/similarity": {"sentences": "\n".join(SENTIMENT_TEXTS[:8])},
        "/attention": {"text": attention_text},
        "/attention_json": {"text": attention_text},
        "/attention_rollout": {"text": attention_text},
        "/compare": {"task": "attention", "text": attention_text, "model_b": OFFLINE_MODEL_ID},
        "/parameters": {},
        "/model_comparison": {},
        "/finetune_preview": {"table": _reviews_table()},
        "/finetune_csv": {"text": "text,label\n" + "\n".join(f"{row[0].replace(',', '')},{row[1]}"
                                                              for row in _reviews_table()["data"])},
        "/finetune": {"table": _reviews_table(), "epochs": 1},
        "/finetune_try": {"text": "\n".join(SENTIMENT_TEXTS[8:10])},
        "/finetune_compare": {"text": SENTIMENT_TEXTS[8]},
        "/finetune_download": {},
        "/finetune_cancel": {},
        "/models": {},
    }


@dataclass
class Size:
    """One endpoint's call: the complete event's bytes, the whole stream's, each output's, and how it went."""

    endpoint: str
    ok: bool
    complete_bytes: int = 0
    stream_bytes: int = 0
    seconds: float = 0.0
    outputs: dict[str, int] = field(default_factory=dict)
    message: str = ""


def _compact(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def call(url: str, session: str, endpoint: Endpoint, data: list, timeout_s: float = 300) -> Size:
    """Join the queue in ``session`` and read the event's stream to its end, counting the bytes as they arrive."""
    started = time.perf_counter()
    joined = requests.post(f"{url}gradio_api/queue/join", timeout=30, json={
        "data": data, "fn_index": endpoint.fn_index, "session_hash": session, "event_data": None, "trigger_id": None})
    if joined.status_code != 200:
        return Size(endpoint.name, False, message=joined.text[:200])
    event_id = joined.json()["event_id"]
    size = Size(endpoint.name, False)
    with requests.get(f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=timeout_s,
                      stream=True) as stream:
        for line in stream.iter_lines(chunk_size=1 << 16):  # the default 512 is quadratic on a line of megabytes
            if not line.startswith(b"data:"):
                continue
            message = json.loads(line[5:])
            if message.get("event_id") not in (None, event_id):
                continue
            size.stream_bytes += len(line)
            if message.get("msg") == "process_completed":
                output = message.get("output") or {}
                size.ok = bool(message.get("success"))
                size.complete_bytes = len(line) - len(b"data:")
                size.message = "" if size.ok else str(output.get("error"))[:120]
                if size.ok:
                    size.outputs = {name: _compact(value) for name, value in zip(endpoint.outputs, output["data"], strict=False)}
                break
    size.seconds = time.perf_counter() - started
    return size


@dataclass(frozen=True)
class Endpoint:
    """A public endpoint as the page calls it: its fn_index, its inputs (a parameter name, or None for a gr.State
    the server fills from the session), and its outputs' names (elem_id, else the component's type)."""

    name: str
    fn_index: int
    inputs: tuple[str | None, ...]
    outputs: tuple[str, ...]


def endpoints(url: str) -> dict[str, Endpoint]:
    """Every public endpoint of the app at ``url``, in the app's order."""
    config = requests.get(f"{url}config", timeout=30).json()
    info = requests.get(f"{url}gradio_api/info", timeout=30).json()["named_endpoints"]
    components = {component["id"]: component for component in config["components"]}
    found = {}
    for dependency in config["dependencies"]:
        name = f"/{dependency.get('api_name')}"
        if name not in info:
            continue
        parameters = iter(p["parameter_name"] for p in info[name]["parameters"])
        inputs = tuple(None if components[i]["type"] == "state" else next(parameters) for i in dependency["inputs"])
        outputs = tuple(components[i]["props"].get("elem_id") or components[i]["type"] for i in dependency["outputs"])
        found[name] = Endpoint(name, dependency["id"], inputs, outputs)
    return found


def measure(url: str, text: str = ATTENTION_TEXT, out: Callable[[str], None] = print) -> list[Size]:
    """Call every public endpoint once (those in SKIPPED excepted), in one session."""
    session = uuid.uuid4().hex
    info = requests.get(f"{url}gradio_api/info", timeout=30).json()["named_endpoints"]
    known = endpoints(url)
    wanted = inputs(text)
    order = [name for name in wanted if name in known] + [name for name in known if name not in wanted]
    sizes = []
    for name in order:
        if name in SKIPPED:
            sizes.append(Size(name, False, message=f"skipped: {SKIPPED[name]}"))
            continue
        endpoint = known[name]
        defaults = {p["parameter_name"]: p.get("parameter_default") for p in info[name]["parameters"]}
        kwargs = wanted.get(name, {})
        data = [None if p is None else kwargs.get(p, defaults.get(p)) for p in endpoint.inputs]
        sizes.append(call(url, session, endpoint, data))
        out(f"  {name}: {_bytes(sizes[-1].complete_bytes) if sizes[-1].ok else sizes[-1].message}")
    return sizes


def _bytes(count: int) -> str:
    return f"{count / 1e6:.2f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


def format_table(sizes: Sequence[Size]) -> str:
    """The table: endpoint, complete event bytes, stream bytes, seconds; /attention's outputs underneath."""
    lines = [f"{'endpoint':<22} {'response':>10} {'stream':>10} {'seconds':>8}  note"]
    for size in sizes:
        if not size.ok:
            lines.append(f"{size.endpoint:<22} {'-':>10} {'-':>10} {size.seconds:>8.1f}  {size.message}")
            continue
        lines.append(f"{size.endpoint:<22} {_bytes(size.complete_bytes):>10} {_bytes(size.stream_bytes):>10} "
                     f"{size.seconds:>8.1f}")
        if size.endpoint in BROKEN_DOWN:
            lines += [f"  {name:<20} {_bytes(count):>10}" for name, count in size.outputs.items()]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.sizes", description=__doc__.split("\n")[0],
                                     allow_abbrev=False)
    parser.add_argument("--app-args", default="--tiny", metavar="ARGS",
                        help="arguments of the app started (default --tiny; add --model-attention "
                             "sentence-transformers/all-MiniLM-L6-v2 for the offline MiniLM's real attention)")
    parser.add_argument("--url", default=None, help="an app already running, instead of starting one")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON")
    return parser


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    """Measure every endpoint's response; returns 0, or 1 when a call failed."""
    args = _parser().parse_args(argv)
    server = None if args.url else start_server(shlex.split(args.app_args))
    url = args.url or server.url
    try:
        out(f"Calling every public endpoint of {url} once ({args.app_args if server else 'running app'}):")
        sizes = measure(url, out=out)
    finally:
        if server is not None:
            server.stop()
    out(format_table(sizes))
    if args.json:
        args.json.write_text(json.dumps({"url": url, "app_args": args.app_args if server else None,
                                         "sizes": [asdict(size) for size in sizes]}, indent=2))
    return 0 if all(size.ok or size.endpoint in SKIPPED for size in sizes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
