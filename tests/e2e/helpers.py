"""What the browser tests share: timeouts, the Tokenizer tab's controls, and waits that replace sleeps."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from playwright.sync_api import Browser, Locator, Page, expect

# The first request of a session builds the tiny checkpoint (or extracts the offline model): allow for it.
FIRST_LOAD_MS = 30_000
# Gradio's page (its JS bundle) on a busy two-core machine.
PAGE_LOAD_MS = 20_000

SEED_TEXT = "The cat sat on the mat."
TUTORIAL_PAIR = "It was a lazy afternoon."
XSS = '<img src=x onerror="window.__xss=1">'


def open_app(page: Page, url: str) -> Page:
    """Open the app and wait until the Tokenize button can be clicked and the examples have arrived (one page-load
    event fills every tab's, so the tokenizer's text stands for all of them)."""
    page.goto(url)
    expect(page.locator("#tokenizer-run")).to_be_enabled(timeout=PAGE_LOAD_MS)
    expect(page.locator("#tokenizer-text textarea")).to_have_value(SEED_TEXT, timeout=PAGE_LOAD_MS)
    return page


@contextlib.contextmanager
def app_in_new_context(browser: Browser, url: str, **options: Any) -> Iterator[Page]:
    """The app in a page of a fresh browser context made with ``options`` (viewport, color_scheme...), closed after."""
    context = browser.new_context(**options)
    try:
        yield open_app(context.new_page(), url)
    finally:
        context.close()


def chip_flow(page: Page) -> Locator:
    """The main result's token chips (the comparison block has chip flows of its own)."""
    return page.locator("#tokenizer-chips .bv-chip-flow")


# Two animation frames: Gradio applies a state push at the frame after its pending work settles.
_TWO_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"


def fill(box: Locator, text: str, timeout_ms: float = 10_000) -> None:
    """Fill a Gradio text box so the text stays, and give it to the page (blur) before anything is clicked.

    The first time a tab (or sub-tab) opens, Gradio 6 mounts its components with the page-load values, then pushes
    those values to them again once the tab's pending render work has settled (frontend core.js: register_component,
    render_previously_invisible_children). Text filled in between is overwritten, and the click sends the old text
    (seen on a loaded CI machine). So: fill, blur, let two frames pass, and fill again if the box lost the text.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        box.fill(text)
        expect(box).to_have_value(text)
        box.blur()
        box.page.wait_for_function(_TWO_FRAMES)
        if box.input_value() == text:
            return
        assert time.monotonic() < deadline, f"the box kept losing the text filled into it: {text!r}"


def tokenize(page: Page, text: str | None = None, pair: str | None = None) -> None:
    """Fill the text boxes given (None leaves a box as it is) and press Tokenize."""
    if text is not None:
        fill(page.get_by_label("Text (sentence A)"), text)
    if pair is not None:
        fill(page.get_by_label("Second sentence (sentence B, optional)"), pair)
    page.locator("#tokenizer-run").click()


def toast(page: Page, has_text: str) -> Locator:
    """Gradio's notification that contains ``has_text`` (errors raised outside a tab's error panel show as one)."""
    return page.get_by_test_id("toast-body").filter(has_text=has_text)


def error_panel(page: Page, has_text: str) -> Locator:
    """The visible error panel of the open tab that says ``has_text`` (a failed run is explained there, and stays)."""
    return page.get_by_test_id("error-panel").filter(has_text=has_text)


def images_settled(page: Page, timeout_ms: float = 10_000) -> None:
    """Wait until every <img> on the page has loaded or failed, so an onerror handler would have run."""
    page.wait_for_function("() => Array.from(document.images).every(img => img.complete)", timeout=timeout_ms)


def expect_no_script_ran(page: Page) -> None:
    """The injected onerror handler never ran."""
    images_settled(page)
    assert page.evaluate("window.__xss") is None


def plot_svg(page: Page, elem_id: str) -> Locator:
    """The rendered Plotly figure of the gr.Plot with ``elem_id`` (Plotly draws asynchronously: wait for this)."""
    return page.locator(f"#{elem_id} .main-svg").first


def data_rows(page: Page, elem_id: str) -> Locator:
    """The body rows of the gr.Dataframe with ``elem_id`` (the header row has no grid cells)."""
    return page.locator(f"#{elem_id}").get_by_role("row").filter(has=page.get_by_role("gridcell"))


def column(page: Page, elem_id: str, index: int) -> Locator:
    """The body cells of column ``index`` (0-based) of the gr.Dataframe with ``elem_id``, top to bottom."""
    return page.locator(f"#{elem_id} [role=gridcell][data-col='{index}']")


def headers(page: Page, elem_id: str) -> Locator:
    """The column names of the gr.Dataframe with ``elem_id``, left to right (without the cell-menu buttons)."""
    return page.locator(f"#{elem_id} [role=columnheader] .header")
