"""The issue's targets, measured on a launched app: memory per visitor is bounded and heavy floods don't lock others out.

Each test starts its own server and stops it at the end, so the work it leaves running dies with it. Figures are
printed (run with -s to see them); `python -m bench.load` prints the same with more visitors.
"""

from __future__ import annotations

import pytest

from bench.load import Server, heavy_flood, light_rounds, session_growth, start_server

pytestmark = pytest.mark.security


@pytest.fixture()
def server(cache_dir):
    running = start_server(["--tiny"], env={"BERTVIZ_UI_CACHE_DIR": str(cache_dir)})
    yield running
    running.stop()


def test_160_new_sessions_calling_ner_grow_the_server_by_under_150_mb(server: Server):
    # 2.5 times the 64 sessions the server keeps: every one past 64 drops the oldest (bench.load runs 300).
    figures = session_growth(server, sessions=160)
    assert figures["errors"] == []
    assert figures["growth_mb"] < 150, figures


def test_a_flood_of_heavy_calls_is_refused_politely_and_light_calls_still_answer(server: Server):
    # /model_latency builds and times five bert-base-sized models: about a minute of both cores per call.
    figures = heavy_flood(server, "model_latency", [], flood=40)
    assert figures["tokenize_ok"], figures
    assert figures["tokenize_s"] < 15, figures
    assert 0 < figures["accepted"] <= 17 and figures["refused"] == 40 - figures["accepted"], figures
    assert "busy with heavy requests" in figures["refusal"] and "Try again in about" in figures["refusal"]


def test_two_rounds_of_visitors_on_every_light_endpoint_get_no_errors_and_memory_settles(server: Server):
    figures = light_rounds(server, visitors=8, rounds=2)
    assert {name: f["errors"] for name, f in figures["endpoints"].items() if f["errors"]} == {}
    first, second = figures["rss_mb"][1], figures["rss_mb"][2]
    assert second - first < 100, figures["rss_mb"]  # the second round reuses what the first loaded


@pytest.mark.e2e
def test_a_refused_heavy_click_tells_the_visitor_why_and_when_to_come_back(server: Server, page):
    import requests
    from playwright.sync_api import expect

    from tests.e2e.helpers import PAGE_LOAD_MS, chip_flow, toast

    for _ in range(18):  # one running, the heavy group's 16 waiting places filled, one refused
        requests.post(f"{server.url}gradio_api/call/model_latency", json={"data": []}, timeout=30)
    page.goto(server.url)
    expect(page.locator("#tokenizer-run")).to_be_enabled(timeout=PAGE_LOAD_MS)
    page.get_by_role("tab", name="Inside BERT").click()
    page.get_by_role("tab", name="Model comparison").click()
    page.locator("#comparison-latency").click()
    # Gradio's page shows its own "currently busy" for a 503; the refusal is a 400 so its words arrive.
    expect(toast(page, "busy with heavy requests")).to_be_visible()
    expect(toast(page, "Try again in about")).to_be_visible()
    # A light tab still answers at once.
    page.get_by_role("tab", name="Tokenizer").click()
    page.locator("#tokenizer-run").click()
    expect(chip_flow(page)).to_be_visible()
