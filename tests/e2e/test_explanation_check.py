"""Which explanation to trust? in Chromium: the Sentiment tab's section and the Masked words sub-tab each draw the
deletion curves and the AOPC table; a bad request is explained in the section's own error panel."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, data_rows, error_panel, fill, plot_svg

pytestmark = pytest.mark.e2e

SENTIMENT_EXAMPLE = "The acting was superb but the plot made no sense."
MASK_EXAMPLE = "Paris is the [MASK] of France."
# Four explanations and the random order.
RANKED = 5


def _expect_checked(page: Page, prefix: str) -> None:
    expect(plot_svg(page, f"{prefix}-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(data_rows(page, f"{prefix}-table")).to_have_count(RANKED)
    summary = page.get_by_test_id("explanation-summary").filter(visible=True)
    expect(summary).to_contain_text("AOPC")
    expect(summary).to_contain_text("Samek")
    expect(page.locator(f"#{prefix}-plot .legend .traces")).to_have_count(RANKED)
    expect(page.get_by_test_id("explanation-scores").filter(visible=True).locator(".bv-check-row")).to_have_count(4)


def test_the_sentiment_tab_checks_its_explanations(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    page.get_by_role("tab", name="Sentiment").click()
    page.get_by_text("Which explanation to trust?").first.click()
    box = page.locator("#sentiment-check-text textarea")
    expect(box).to_have_value(SENTIMENT_EXAMPLE)
    expect(page.locator("#sentiment-check-mask")).to_be_hidden()  # a classifier has no mask to choose
    page.locator("#sentiment-check-run").click()
    _expect_checked(page, "sentiment-check")
    expect(page.get_by_test_id("explanation-summary").filter(visible=True)).to_contain_text("[CLS]")
    page.locator("#sentiment-check").screenshot(path=str(screenshot_dir / "explanation_check_sentiment.png"))


def test_the_masked_words_sub_tab_checks_its_explanations_and_explains_a_missing_mask(app_page: Page) -> None:
    page = app_page
    page.get_by_role("tab", name="Masked words").click()
    page.get_by_role("tab", name="Which explanation to trust?").click()
    box = page.locator("#fill-mask-check-text textarea")
    expect(box).to_have_value(MASK_EXAMPLE)
    page.locator("#fill-mask-check-run").click()
    _expect_checked(page, "fill-mask-check")
    expect(page.get_by_test_id("explanation-summary").filter(visible=True)).to_contain_text("[MASK] (mask 1)")

    fill(box, "No mask in this one.")
    page.locator("#fill-mask-check-run").click()
    expect(error_panel(page, "Put a [MASK] in the text")).to_be_visible(timeout=FIRST_LOAD_MS)
