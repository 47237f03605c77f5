"""The Attention tab at 128 tokens on the offline MiniLM in Chromium: the response's size, how soon after it arrives
the browser has drawn the tab's figures (printed: run with -s), and the full-precision weights downloaded on request."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from bench.sizes import ATTENTION_TEXT
from tests.e2e.helpers import FIRST_LOAD_MS, PAGE_LOAD_MS, SEED_TEXT, fill

pytestmark = pytest.mark.e2e

OFFLINE = "sentence-transformers/all-MiniLM-L6-v2"
PLOTS = ("attention-head-view", "attention-model-view", "attention-heatmap", "attention-summaries")
# The README reports the printed figures against 2 s; a loaded CI machine gets more before the test fails.
DRAW_DEADLINE_MS = 10_000
RESPONSE_LIMIT = 1_500_000

# Gradio's page reads the queue's event stream with fetch(): a copy of each stream is read alongside, and each
# completed event noted with the time its last byte arrived and its size (the SSE message: the event's data as sent).
WATCH_STREAMS = """
(() => {
  window.__completed = [];
  const original = window.fetch;
  window.fetch = async function (input, init) {
    const response = await original.call(this, input, init);
    const url = typeof input === "string" ? input : (input && input.url) || String(input);
    if (!url.includes("/queue/data") || !response.body) return response;
    const [copy, page] = response.body.tee();
    (async () => {
      const reader = copy.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const {done, value} = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, {stream: true});
        let end;
        while ((end = buffer.indexOf("\\n\\n")) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (message.includes('"process_completed"')) {
            window.__completed.push({at: performance.now(), bytes: new TextEncoder().encode(message).length,
                                     attention: message.includes("attention-stats")});
          }
        }
      }
    })();
    return new Response(page, {status: response.status, statusText: response.statusText, headers: response.headers});
  };
})();
"""
# Every figure of the tab drawn anew (a figure drawn before is marked old), checked once per animation frame: the
# first frame after the drawing, so the time at which it can be seen.
ALL_DRAWN = """(ids) => ids.every(id => document.querySelector('#' + id + ' .main-svg:not([data-old])'))
                       && performance.now()"""


def _pick(page: Page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def _draw(page: Page, text: str) -> tuple[float, int]:
    """Run ``text``; returns (ms from the /attention response's arrival to every figure drawn, its size in bytes)."""
    fill(page.locator("#attention-text textarea"), text)
    fill(page.locator("#attention-pair textarea"), "")
    page.evaluate("() => { window.__completed = []; "
                  "document.querySelectorAll('.main-svg').forEach(svg => { svg.dataset.old = '1'; }); }")
    page.locator("#attention-run").click()
    drawn = page.wait_for_function(ALL_DRAWN, arg=list(PLOTS), polling="raf", timeout=FIRST_LOAD_MS).json_value()
    (response,) = page.evaluate("window.__completed.filter(event => event.attention)")
    expect(page.get_by_test_id("attention-stats")).to_contain_text("128 tokens")
    return drawn - response["at"], response["bytes"]


def test_a_128_token_run_is_light_and_drawn_soon_after_its_response(page: Page, app_server: str) -> None:
    page.add_init_script(WATCH_STREAMS)
    page.goto(app_server)
    expect(page.locator("#tokenizer-text textarea")).to_have_value(SEED_TEXT, timeout=PAGE_LOAD_MS)
    page.get_by_role("tab", name="Inside BERT").click()
    expect(page.locator("#attention-text textarea")).to_have_value(SEED_TEXT)  # the tab's example has arrived
    _pick(page, "Encoder", OFFLINE)
    expect(page.get_by_role("combobox", name="Encoder")).to_have_value(OFFLINE)

    # The first run also loads plotly.js into the page; the second draws with it loaded (another text, same length).
    first_ms, first_bytes = _draw(page, ATTENTION_TEXT)
    again_ms, again_bytes = _draw(page, ATTENTION_TEXT.replace("BERT reads", "It reads"))
    print(f"\n/attention, 128 tokens on all-MiniLM-L6-v2: {first_bytes:,} bytes; every figure drawn "
          f"{first_ms:.0f} ms after the response (first run, plotly.js loading), {again_ms:.0f} ms the next time")
    assert max(first_bytes, again_bytes) <= RESPONSE_LIMIT
    assert first_ms < DRAW_DEADLINE_MS and again_ms < DRAW_DEADLINE_MS

    # The weights themselves, at full precision, come when asked for, as a file.
    with page.expect_download(timeout=FIRST_LOAD_MS) as download:
        page.locator("#attention-json-run").click()
    assert download.value.suggested_filename == "attention-layer-0.json"
    saved = json.loads(Path(download.value.path()).read_text())
    assert len(saved["tokens"]) == 128 and np.array(saved["attention"]).shape == (12, 128, 128)
    np.testing.assert_allclose(np.array(saved["attention"]).sum(-1), 1.0, atol=1e-5)
