"""Fair admission to Gradio's queue and idle-session expiry, against the installed Gradio's own Queue and StateHolder."""

from __future__ import annotations

import asyncio
import datetime
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio.queueing import Event
from gradio.state_holder import StateHolder

from bertviz_ui.ui import queue as fair
from bertviz_ui.ui.sessions import SessionSweeper


@pytest.fixture()
def demo() -> gr.Blocks:
    with gr.Blocks() as blocks:
        box = gr.Textbox()
        gr.Button("light").click(lambda text: text, box, box, api_name="light", concurrency_id="light")
        gr.Button("heavy").click(lambda text: text, box, box, api_name="heavy", concurrency_id=fair.HEAVY,
                                 concurrency_limit=1)
    blocks.queue(default_concurrency_limit=2)
    return blocks


def _fn(demo: gr.Blocks, api_name: str):
    return next(fn for fn in demo.fns.values() if fn.api_name == api_name)


def _wait(demo: gr.Blocks, api_name: str, session: str) -> Event:
    """Put an event in Gradio's queue as push() would, without running it."""
    queue = demo._queue
    fn = _fn(demo, api_name)
    queue.create_event_queue_for_fn(fn)
    event = Event(session, fn, None, None)
    queue.event_queue_per_concurrency_id[fn.concurrency_id].queue.append(event)
    return event


def _body(demo: gr.Blocks, api_name: str, session: str) -> SimpleNamespace:
    return SimpleNamespace(fn_index=_fn(demo, api_name)._id, session_hash=session)


LIMITS = fair.QueueLimits(per_session=3, heavy_waiting=4, heavy_wait_s=1000.0)


def test_heavy_requests_get_a_bounded_share_and_light_ones_stay_open(demo):
    heavy = fair.heavy_ids()
    for number in range(4):
        _wait(demo, "heavy", f"visitor-{number}")
    refusal = fair.refusal_for(demo._queue, _body(demo, "heavy", "newcomer"), LIMITS, heavy)
    assert refusal is not None and "busy with heavy requests (4 waiting)" in refusal and "Try again in about" in refusal
    assert fair.refusal_for(demo._queue, _body(demo, "light", "newcomer"), LIMITS, heavy) is None


def test_a_long_estimated_wait_refuses_before_the_count_does(demo):
    heavy = fair.heavy_ids()
    fn = _fn(demo, "heavy")
    demo._queue.process_time_per_fn[fn].add(400.0)  # Gradio's own record of how long it took
    _wait(demo, "heavy", "visitor-0")
    limits = fair.QueueLimits(per_session=3, heavy_waiting=10, heavy_wait_s=300.0)
    refusal = fair.refusal_for(demo._queue, _body(demo, "heavy", "newcomer"), limits, heavy)
    assert refusal is not None and "about 400 s" in refusal
    assert fair.refusal_for(demo._queue, _body(demo, "light", "newcomer"), limits, heavy) is None


def test_one_session_holds_only_a_few_places(demo):
    heavy = fair.heavy_ids()
    for _ in range(3):
        _wait(demo, "light", "greedy")
    refusal = fair.refusal_for(demo._queue, _body(demo, "light", "greedy"), LIMITS, heavy)
    assert refusal is not None and "You already have 3 requests" in refusal
    assert fair.refusal_for(demo._queue, _body(demo, "light", "someone-else"), LIMITS, heavy) is None


def test_running_requests_count_for_their_session(demo):
    heavy = fair.heavy_ids()
    fn = _fn(demo, "light")
    demo._queue.active_jobs = [[Event("busy", fn, None, None) for _ in range(3)]]
    assert fair.refusal_for(demo._queue, _body(demo, "light", "busy"), LIMITS, heavy) is not None


def test_install_refuses_through_gradios_push_and_lets_the_rest_through(demo):
    fair.install(demo, LIMITS)
    for number in range(4):
        _wait(demo, "heavy", f"visitor-{number}")
    queue = demo._queue
    # In a thread of its own: an earlier test in the session may leave an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        ok, message, status = pool.submit(
            asyncio.run, queue.push(body=_body(demo, "heavy", "newcomer"), request=None, username=None)).result()
    assert (ok, status) == (False, "error") and "busy with heavy requests" in message
    assert queue.max_size == LIMITS.total


def _holder_with_sessions(demo: gr.Blocks, sessions: dict[str, float], freed: list) -> StateHolder:
    holder = StateHolder()
    holder.set_blocks(demo)
    state = next(block for block in demo.blocks.values() if isinstance(block, gr.State))
    for session, idle_minutes in sessions.items():
        holder[session][state._id] = f"result of {session}"
        holder.time_last_used[session] = datetime.datetime.now() - datetime.timedelta(minutes=idle_minutes)
    return holder


def test_idle_sessions_are_freed_with_their_state_callbacks():
    freed = []
    with gr.Blocks() as demo:
        gr.State(None, delete_callback=freed.append)
    holder = _holder_with_sessions(demo, {"idle": 45, "active": 1}, freed)
    sweeper = SessionSweeper(demo, idle_s=30 * 60)
    assert sweeper.sweep() == 1
    assert "idle" not in holder.session_data and "active" in holder.session_data
    assert freed == ["result of idle"]
    # maybe_sweep waits its interval before sweeping again
    holder.time_last_used["active"] = datetime.datetime.now() - datetime.timedelta(hours=2)
    assert sweeper.maybe_sweep() == 0
    assert "active" in holder.session_data
