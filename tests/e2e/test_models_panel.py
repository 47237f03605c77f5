"""Models tab in Chromium: after a request, the cache lists the model it loaded and where it runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, SEED_TEXT, TUTORIAL_PAIR, chip_flow, tokenize

pytestmark = pytest.mark.e2e


def test_models_tab_lists_the_loaded_tokenizer_on_cpu(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    tokenize(page, SEED_TEXT, TUTORIAL_PAIR)
    expect(chip_flow(page).locator(".bv-chip")).to_have_count(16, timeout=FIRST_LOAD_MS)

    page.get_by_role("tab", name="Models").click()
    table = page.locator("#models-table")
    # Other tests on the same server may have loaded tiny:encoder as a model too: find the tokenizer's own row.
    tiny_row = (table.get_by_role("row").filter(has=page.get_by_role("gridcell", name="tiny:encoder", exact=True))
                .filter(has=page.get_by_role("gridcell", name="tokenizer only", exact=True)))
    expect(tiny_row).to_have_count(1, timeout=FIRST_LOAD_MS)
    expect(tiny_row.get_by_role("gridcell", name="cpu", exact=True)).to_be_visible()
    expect(page.get_by_test_id("cache-summary")).to_contain_text("Models run on cpu")

    page.screenshot(path=str(screenshot_dir / "models.png"), full_page=True)
