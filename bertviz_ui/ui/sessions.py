"""Idle visitors' sessions are freed: Gradio keeps each one (a copy of the page's state) until it is evicted."""

from __future__ import annotations

import datetime
import logging
import threading
import time

import gradio as gr

log = logging.getLogger("bertviz_ui")


class SessionSweeper:
    """Frees sessions idle for longer than ``idle_s``, at most once every ``every_s`` (called on each request).

    Gradio drops a session only when more than ``state_session_capacity`` exist, and keeps a closed browser tab's
    session for an hour; API clients never close theirs. Their gr.State delete callbacks run first, so a session's
    fine-tuned model is freed with it.
    """

    def __init__(self, demo: gr.Blocks, idle_s: float, every_s: float = 60.0):
        self._demo = demo
        self._idle = datetime.timedelta(seconds=idle_s)
        self._every_s = every_s
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def maybe_sweep(self) -> int:
        """Sweep if the last sweep is old enough; returns the number of sessions freed."""
        with self._lock:
            if time.monotonic() - self._last < self._every_s:
                return 0
            self._last = time.monotonic()
        return self.sweep()

    def sweep(self) -> int:
        """Free every session idle for longer than the limit now; returns how many."""
        holder = getattr(self._demo, "state_holder", None)
        if holder is None:
            return 0
        cutoff = datetime.datetime.now() - self._idle
        idle = [session for session, used in list(holder.time_last_used.items()) if used < cutoff]
        for session in idle:
            try:
                holder.delete_state(session)  # runs gr.State delete callbacks
            except Exception:
                log.exception("A session's delete callback failed")
            with holder.lock:
                holder.session_data.pop(session, None)
                holder.time_last_used.pop(session, None)
        if idle:
            log.info("Freed %d idle sessions", len(idle))
        return len(idle)
