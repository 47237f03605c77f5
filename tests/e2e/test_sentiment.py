"""Sentiment tab in Chromium: a batch of lines classified, one line explained, errors, and escaped user text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, XSS, data_rows, error_panel, expect_no_script_ran, fill, plot_svg

pytestmark = pytest.mark.e2e

# The seed text's pipeline examples, the tab's default text.
SEED_LINES = [
    "I absolutely loved this product!",
    "Terrible quality, fell apart after a day.",
    "It's okay, nothing special.",
]
LABELS = ["NEGATIVE", "POSITIVE"]


def _open(page: Page) -> None:
    page.get_by_role("tab", name="Sentiment").click()


def _classify(page: Page, text: str | None = None) -> None:
    """Fill the text box if ``text`` is given (None leaves it as it is) and press Classify."""
    if text is not None:
        fill(page.locator("#sentiment-text textarea"), text)
    page.locator("#sentiment-run").click()


def _explain(page: Page, line: int | None = None) -> None:
    """Set the line number if given and press Explain."""
    if line is not None:
        box = page.locator("#sentiment-line input")
        fill(box, str(line))
        box.press("Tab")
        expect(box).to_have_value(str(line))
    page.locator("#sentiment-explain").click()


def _heatmap_words(page: Page) -> Locator:
    """The shaded words of the explained text (the legend's two swatches are .bv-attr spans too)."""
    return page.get_by_test_id("attribution-heatmap").locator("p .bv-attr")


def _expect_classified(page: Page, lines: list[str]) -> None:
    """The table has one row per line, texts in order (the first run may build the tiny checkpoint)."""
    rows = data_rows(page, "sentiment-table")
    expect(rows).to_have_count(len(lines), timeout=FIRST_LOAD_MS)
    for row, line in zip(rows.all(), lines):
        expect(row.get_by_role("gridcell").nth(1)).to_have_text(line)


def test_seed_lines_are_classified_and_line_one_is_explained(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    expect(page.locator("#sentiment-text textarea")).to_have_value("\n".join(SEED_LINES))
    _classify(page)

    _expect_classified(page, SEED_LINES)
    expect(page.locator("#sentiment-header")).to_contain_text("3 lines classified in 1 batched forward pass(es)")
    expect(page.locator("#sentiment-header .bv-untrained")).to_contain_text("untrained random weights")
    # Random weights: about 50% for every line, so each one is flagged.
    for row in data_rows(page, "sentiment-table").all():
        cells = row.get_by_role("gridcell")
        expect(cells.nth(2)).to_have_text(re.compile(r"^\s*(NEGATIVE|POSITIVE)\s*$"))
        expect(cells.nth(4)).to_have_text("low confidence")

    expect(plot_svg(page, "sentiment-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    ticks = page.locator("#sentiment-plot .ytick")
    expect(ticks).to_have_count(2)
    for label in LABELS:
        expect(ticks.filter(has_text=label)).to_have_count(1)

    _explain(page)
    expect(_heatmap_words(page)).to_have_text(["I", "absolutely", "loved", "this", "product", "!"],
                                              timeout=FIRST_LOAD_MS)
    expect(plot_svg(page, "sentiment-attribution")).to_be_visible(timeout=FIRST_LOAD_MS)
    cost = page.get_by_test_id("attribution-cost")
    expect(cost).to_contain_text("Integrated gradients")
    expect(cost).to_contain_text("32 step(s)")
    expect(cost).to_contain_text("Completeness")
    head_rows = page.get_by_test_id("head-inside").locator("tbody tr td:first-child")
    expect(head_rows).to_have_text(LABELS)

    page.screenshot(path=str(screenshot_dir / "sentiment.png"), full_page=True)


def test_chosen_class_with_gradient_x_input_on_line_two(app_page: Page) -> None:
    page = app_page
    _open(page)
    _classify(page)
    _expect_classified(page, SEED_LINES)

    # Classifying fills the class list with the model's labels.
    target = page.get_by_role("combobox", name="Class to explain")
    target.click()
    page.get_by_role("option", name="POSITIVE", exact=True).click()
    expect(target).to_have_value("POSITIVE")
    page.locator("#sentiment-method").get_by_label("Gradient × input (fast)").check()
    _explain(page, line=2)

    cost = page.get_by_test_id("attribution-cost")
    expect(cost).to_contain_text("Gradient × input", timeout=FIRST_LOAD_MS)
    expect(cost).to_contain_text("for class POSITIVE")
    expect(cost).not_to_contain_text("Completeness")
    expect(_heatmap_words(page)).to_have_text(
        ["Terrible", "quality", ",", "fell", "apart", "after", "a", "day", "."])
    expect(page.get_by_test_id("attribution-heatmap").locator(".bv-legend")).to_contain_text("toward POSITIVE")


def test_empty_text_and_a_line_out_of_range_show_errors_and_the_page_keeps_working(app_page: Page) -> None:
    page = app_page
    _open(page)
    _classify(page, "")
    expect(error_panel(page, "Text is empty")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(data_rows(page, "sentiment-table")).to_have_count(0)

    _classify(page, "Great value for the money.")
    _expect_classified(page, ["Great value for the money."])

    _explain(page, line=4)
    expect(error_panel(page, "Line must be a whole number between 1 and 1")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.get_by_test_id("attribution-heatmap")).to_have_count(0)


def test_markup_in_the_text_is_shown_as_text(app_page: Page) -> None:
    page = app_page
    _open(page)
    text = f"{XSS} great"
    _classify(page, text)

    _expect_classified(page, [text])
    table = page.locator("#sentiment-table")
    expect(table).to_contain_text("<img")
    expect(table.locator("img")).to_have_count(0)

    _explain(page)
    heatmap = page.get_by_test_id("attribution-heatmap")
    expect(heatmap).to_contain_text("<img", timeout=FIRST_LOAD_MS)
    expect(heatmap).to_contain_text("great")
    expect(heatmap.locator("img")).to_have_count(0)
    expect(plot_svg(page, "sentiment-attribution")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect_no_script_ran(page)


def test_the_switch_shades_pieces_then_words_again_without_running_the_model(app_page: Page) -> None:
    page = app_page
    _open(page)
    fill(page.locator("#sentiment-text textarea"), "Unbelievably good")
    page.locator("#sentiment-method").get_by_label("Gradient × input (fast)").check()
    _explain(page)
    expect(_heatmap_words(page)).to_have_text(["Unbelievably", "good"], timeout=FIRST_LOAD_MS)
    page.locator("#sentiment-unit").get_by_text("pieces", exact=True).click()
    # The pieces cut the typed text by their character offsets: the case is the text's, the "##" marks are gone.
    pieces = _heatmap_words(page)
    expect(pieces.first).to_have_text("Un")
    expect(pieces.last).to_have_text("good")
    assert pieces.count() > 2
    assert "".join(pieces.all_inner_texts()) == "Unbelievablygood"
    page.locator("#sentiment-unit").get_by_text("words", exact=True).click()
    expect(_heatmap_words(page)).to_have_text(["Unbelievably", "good"])
