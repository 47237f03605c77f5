"""Next sentence tab in Chromium: one pair coloured by segment with its bars, errors, and a whole paragraph."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, SEED_TEXT, TUTORIAL_PAIR, data_rows, error_panel, fill, plot_svg

pytestmark = pytest.mark.e2e


def _open(page: Page) -> None:
    page.get_by_role("tab", name="Next sentence").click()


def _predict(page: Page, sentence_a: str | None = None, sentence_b: str | None = None) -> None:
    """Fill the sentences given (None leaves a box as it is) and press Predict."""
    if sentence_a is not None:
        fill(page.locator("#nsp-a textarea"), sentence_a)
    if sentence_b is not None:
        fill(page.locator("#nsp-b textarea"), sentence_b)
    page.locator("#nsp-run").click()


def test_seed_pair_shows_segments_bars_and_raw_output(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    expect(page.locator("#nsp-a textarea")).to_have_value(SEED_TEXT)
    expect(page.locator("#nsp-b textarea")).to_have_value(TUTORIAL_PAIR)
    _predict(page)

    pair = page.get_by_test_id("nsp-pair")
    # [CLS] the cat sat on the mat . [SEP] it was a lazy afternoon . [SEP]
    expect(pair.locator(".bv-chip")).to_have_count(16, timeout=FIRST_LOAD_MS)
    # Segment B (without its [SEP], coloured as special) has token type 1, segment A type 0.
    expect(pair.locator(".bv-chip.bv-b")).to_have_text(["it1", "was1", "a1", "lazy1", "afternoon1", ".1"])
    expect(pair.locator(".bv-chip.bv-a small")).to_have_text(["0"] * 7)
    expect(pair.locator(".bv-chip.bv-special")).to_have_text(["[CLS]0", "[SEP]0", "[SEP]1"])
    expect(pair).to_contain_text("P(IsNext) =")
    expect(page.locator("#nsp-header .bv-untrained")).to_contain_text("untrained random weights")

    expect(plot_svg(page, "nsp-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator("#nsp-plot .ytick")).to_have_text(["NotNext (index 1)", "IsNext (index 0)"])

    page.locator("#tab-nsp").get_by_role("button", name="Raw output (JSON)").click()
    raw = page.locator("#nsp-json")
    expect(raw).to_contain_text('"is_next"')
    expect(raw).to_contain_text('"not_next"')

    page.screenshot(path=str(screenshot_dir / "nsp.png"), full_page=True)


def test_empty_sentence_b_shows_an_error_and_the_page_keeps_working(app_page: Page) -> None:
    page = app_page
    _open(page)
    _predict(page, sentence_b="")
    expect(error_panel(page, "Sentence B is empty")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.get_by_test_id("nsp-pair")).to_have_count(0)

    _predict(page, sentence_b="The stock market crashed.")
    pair = page.get_by_test_id("nsp-pair")
    expect(pair.locator(".bv-chip.bv-b")).to_have_text(["the1", "stock1", "market1", "crashed1", ".1"],
                                                      timeout=FIRST_LOAD_MS)
    expect(plot_svg(page, "nsp-plot")).to_be_visible(timeout=FIRST_LOAD_MS)


def test_paragraph_scores_consecutive_and_shuffled_pairs(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    page.get_by_role("button", name="A whole paragraph").click()
    page.get_by_role("button", name="Score every pair").click()

    expect(page.get_by_test_id("nsp-paragraph")).to_contain_text("5 sentences, 8 pairs", timeout=FIRST_LOAD_MS)
    rows = data_rows(page, "nsp-paragraph-table")
    expect(rows).to_have_count(8)
    # Each consecutive pair (1 → 2 ... 4 → 5), then one shuffled pair per position.
    expect(rows.filter(has=page.get_by_role("gridcell", name="consecutive", exact=True))).to_have_count(4)
    expect(rows.filter(has=page.get_by_role("gridcell", name="shuffled", exact=True))).to_have_count(4)
    first = rows.first.get_by_role("gridcell")
    expect(first.nth(0)).to_have_text("1 → 2")
    expect(first.nth(1)).to_have_text("consecutive")
    expect(first.nth(4)).to_have_text("The storm arrived just after midnight.")
    expect(first.nth(5)).to_have_text("Rain hammered the windows for hours.")

    page.screenshot(path=str(screenshot_dir / "nsp_paragraph.png"), full_page=True)
