"""Fair admission to Gradio's queue: heavy work gets a bounded share, one visitor a few places, the rest stays open."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import gradio as gr

log = logging.getLogger("bertviz_ui")

# Heavy events share one concurrency group (one runs at a time, so a flood of them can't take every core from the
# light tabs); the lab's training keeps a group of its own. Light tabs keep their own groups and never wait behind
# heavy work.
HEAVY = "heavy"
TRAINING = "finetune"


@dataclass(frozen=True)
class QueueLimits:
    """What the queue admits.

    Attributes:
        per_session: requests one session may have waiting or running at once.
        heavy_waiting: heavy requests (attention, attributions, parameters, comparison, training) waiting at once.
        heavy_wait_s: a heavy request is refused when its estimated wait would exceed this.
        total: every request waiting at once (Gradio's own max_size).
    """

    per_session: int = 4
    heavy_waiting: int = 16
    heavy_wait_s: float = 300.0
    total: int = 256


def heavy_ids() -> frozenset[str]:
    return frozenset({HEAVY, TRAINING})


def install(demo: gr.Blocks, limits: QueueLimits, heavy: Iterable[str] = heavy_ids(),
            on_request: Callable[[], object] | None = None) -> None:
    """Put the admission rules in front of ``demo``'s queue (call after ``demo.queue(...)``).

    Gradio 6 has one size limit for the whole queue and none per session, so a flood of slow calls fills it and every
    visitor then reads "Queue is full". Gradio has no hook for this, so the rules wrap its Queue.push (tested in
    tests/unit/test_queue.py against the installed Gradio); a refusal is an HTTP 400 whose text the visitor reads.
    ``on_request`` runs first on every request (the idle-session sweep).
    """
    queue = demo._queue
    heavy = frozenset(heavy)
    original_push = queue.push

    async def push(body, request, username):
        refusal = refusal_for(queue, body, limits, heavy)
        if refusal is not None:
            log.info("Refused a request: %s", refusal)
            # "error" (HTTP 400) and not "queue_full" (503): Gradio's page shows a 503 as a generic "This application
            # is currently busy" and drops the text, while a 400's text reaches the visitor as written.
            return False, refusal, "error"
        return await original_push(body=body, request=request, username=username)

    queue.push = push
    queue.max_size = limits.total


def refusal_for(queue, body, limits: QueueLimits, heavy: frozenset[str]) -> str | None:
    """Why this request can't join the queue now, or None when it may."""
    if body.fn_index is None or body.fn_index not in queue.blocks.fns:
        return None  # Gradio answers these itself
    fn = queue.blocks.fns[body.fn_index]
    waiting = [event for events in queue.event_queue_per_concurrency_id.values() for event in events.queue]
    running = [event for job in queue.active_jobs if job for event in job]
    if body.session_hash:
        mine = sum(1 for event in (*waiting, *running) if event.session_hash == body.session_hash)
        if mine >= limits.per_session:
            return (f"You already have {mine} requests waiting or running; this one starts when one of them ends. "
                    "Try again in a moment.")
    if fn.concurrency_id not in heavy:
        return None
    heavy_waiting = [event for event in waiting if event.concurrency_id in heavy]
    wait_s = _estimated_wait(queue, heavy_waiting, fn)
    if len(heavy_waiting) >= limits.heavy_waiting or wait_s > limits.heavy_wait_s:
        return (f"The server is busy with heavy requests ({len(heavy_waiting)} waiting). Try again in about "
                f"{_round_up(max(wait_s, 10.0))} s; the Tokenizer, Masked words, Sentiment, Entities, Zero-shot and "
                "Question answering tabs answer meanwhile.")
    return None


def _estimated_wait(queue, waiting, fn) -> float:
    """Seconds until a new request for ``fn`` would start: Gradio's average run time of each event waiting in its
    group (20 s for a function that hasn't run yet), over the group's concurrency limit."""
    ahead = [event for event in waiting if event.concurrency_id == fn.concurrency_id]
    total = 0.0
    for event in ahead:
        stats = queue.process_time_per_fn.get(event.fn)
        total += stats.avg_time if stats is not None and stats.count else 20.0
    return total / max(1, _concurrency_limit(queue, fn))


def _concurrency_limit(queue, fn) -> int:
    events = queue.event_queue_per_concurrency_id.get(fn.concurrency_id)
    limit = getattr(events, "concurrency_limit", None)
    return limit if isinstance(limit, int) else 1


def _round_up(seconds: float) -> int:
    return int(math.ceil(seconds / 10.0) * 10)
