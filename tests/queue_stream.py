"""Gradio's queue as a page uses it: join an event, then read its SSE stream (progress messages included, which
gradio_client only shows as the latest status); closing the stream early is the page closing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class Call:
    """One event as the page saw it: every message of its stream, in order."""

    session: str
    event_id: str
    messages: list[dict] = field(default_factory=list)

    @property
    def progress(self) -> list[tuple[str, float | None]]:
        """(description, fraction) of every progress message."""
        return [(unit["desc"], unit["progress"]) for message in self.messages if message["msg"] == "progress"
                for unit in message["progress_data"]]

    @property
    def completed(self) -> dict | None:
        return next((m for m in self.messages if m["msg"] == "process_completed"), None)

    @property
    def output(self) -> list:
        assert self.completed is not None and self.completed["success"], self.messages[-3:]
        return self.completed["output"]["data"]

    @property
    def error(self) -> str:
        assert self.completed is not None and not self.completed["success"], self.messages[-3:]
        return self.completed["output"]["error"]


def fn_indexes(url: str) -> dict[str, int]:
    """Each named endpoint's fn_index, from the app's config."""
    config = httpx.get(f"{url}config", timeout=30).json()
    return {dep["api_name"]: dep["id"] for dep in config["dependencies"] if dep.get("api_name")}


def call(url: str, fn_index: int, data: list, leave_when: Callable[[Call], bool] | None = None,
         timeout_s: float = 120) -> Call:
    """Join the queue with ``data`` and read the stream until the event completes, or until ``leave_when(call)``
    says to close it (the page leaves)."""
    session = uuid.uuid4().hex
    joined = httpx.post(f"{url}gradio_api/queue/join", timeout=30, json={
        "data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None})
    joined.raise_for_status()
    result = Call(session, joined.json()["event_id"])
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session},
                      timeout=timeout_s) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                result.messages.append(json.loads(line[5:]))
                if result.messages[-1]["msg"] == "process_completed" or (leave_when and leave_when(result)):
                    break
    return result


def cancel(url: str, fn_index: int, running: Call) -> None:
    """What an event's ``cancels=`` and gradio_client's Job.cancel() send."""
    httpx.post(f"{url}gradio_api/cancel", timeout=30, json={
        "session_hash": running.session, "fn_index": fn_index, "event_id": running.event_id}).raise_for_status()
