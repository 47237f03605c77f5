"""Idle visitors' sessions are freed: Gradio keeps each one (a copy of the page's state) until it is evicted."""

from __future__ import annotations

import datetime
import logging
import threading
import time
import weakref
from typing import Any

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


class _ConfigsOnDemand(dict):
    """A session's per-component configs, each made when first read (Gradio 6 makes all of them per new session).

    Reading a missing key makes it; iterating (deep links) makes every one Gradio would have made up front.
    """

    def __init__(self, state: Any, page_blocks: dict):
        super().__init__()
        # Weak: the session owns this dict, and a cycle would keep every evicted session until a full collection.
        self._state = weakref.ref(state)
        self._page_blocks = page_blocks
        self.values_set: dict[int, Any] = {}  # outputs' new values, for configs not made yet

    def _make(self, key: int) -> dict:
        blocks_config = self._state().blocks_config
        value = blocks_config.config_for_block(key, [], blocks_config.blocks[key])
        if key in self.values_set and "props" in value:
            value["props"]["value"] = self.values_set.pop(key)
        super().__setitem__(key, value)
        return value

    def __setitem__(self, key: int, value: dict) -> None:
        self.values_set.pop(key, None)
        super().__setitem__(key, value)

    def __missing__(self, key: int) -> dict:
        if key not in self._state().blocks_config.blocks:
            raise KeyError(key)
        return self._make(key)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or key in self._state().blocks_config.blocks

    def _fill(self) -> None:
        for key in list(self._state().blocks_config.blocks):
            if key in self._page_blocks and not super().__contains__(key):
                self._make(key)

    def items(self):
        self._fill()
        return super().items()

    def values(self):
        self._fill()
        return super().values()

    def __iter__(self):
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()


def configs_on_demand() -> None:
    """Make each new Gradio session's component configs on demand instead of all at once.

    Gradio 6's SessionState.__init__ builds the config of every block of the page for every new session (read only
    for deep links and for components a handler updates): tens of ms of one core per new session on this app, the
    larger part of a light API call, and memory per session. Gradio has no setting for it, so its __init__ is wrapped
    (checked against the installed Gradio by tests/unit/test_sessions.py).
    """
    from gradio.state_holder import SessionState

    if getattr(SessionState, "_bertviz_configs_on_demand", False):
        return
    original = SessionState.__init__

    class _PageWithoutBlocks:
        """What Gradio's __init__ reads of the page, with no block to configure."""

        def __init__(self, blocks: Any):
            self.default_config = blocks.default_config
            self.blocks: dict = {}

    def __init__(self: Any, blocks: Any) -> None:
        original(self, _PageWithoutBlocks(blocks))
        self.config_values = _ConfigsOnDemand(self, blocks.blocks)

    original_update = SessionState._update_value_in_config

    def _update_value_in_config(self: Any, key: int, value: Any) -> None:
        # Gradio records every output's new value in the session's config (for deep links), making the config first:
        # a config not made yet only keeps the value, which it gets when made.
        configs = self.config_values
        if isinstance(configs, _ConfigsOnDemand) and not dict.__contains__(configs, key):
            configs.values_set[key] = value
            return
        original_update(self, key, value)

    SessionState.__init__ = __init__
    SessionState._update_value_in_config = _update_value_in_config
    SessionState._bertviz_configs_on_demand = True
