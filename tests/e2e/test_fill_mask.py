"""Masked words tab in Chromium: fill the mask, click to mask, the masking lab, errors and HTML injection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, XSS, data_rows, error_panel, expect_no_script_ran, fill, plot_svg

pytestmark = pytest.mark.e2e

DEFAULT_TEXT = "The cat [MASK] on the [MASK]."


def _open(page: Page, sub_tab: str | None = None) -> None:
    page.get_by_role("tab", name="Masked words").click()
    if sub_tab is not None:
        page.get_by_role("tab", name=sub_tab).click()


def _predict(page: Page, text: str | None = None) -> None:
    """Fill the text box (None leaves it as it is) and press Predict on the Fill the mask sub-tab."""
    if text is not None:
        fill(page.locator("#fill-mask-text textarea"), text)
    page.locator("#fill-mask-run").click()


def test_default_text_fills_both_masks_with_plots_and_tables(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    expect(page.locator("#fill-mask-text textarea")).to_have_value(DEFAULT_TEXT)
    _predict(page)

    completed = page.get_by_test_id("fill-completed")
    expect(completed.locator("mark.bv-fill")).to_have_count(2, timeout=FIRST_LOAD_MS)
    # The unmasked words stay as typed around the two highlighted guesses.
    expect(completed).to_contain_text("The cat")
    expect(completed).to_contain_text("on the")
    expect(page.locator("#fill-mask-header").get_by_role("status")).to_contain_text("each is predicted independently")

    expect(plot_svg(page, "fill-mask-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator("#fill-mask-plot .annotation-text")).to_contain_text(["mask 1", "mask 2"])

    expect(page.locator("#fill-mask-iterative")).to_be_visible()
    expect(data_rows(page, "fill-mask-iterative")).to_have_count(2)

    # The analysis runs after the prediction succeeds, for mask number 1.
    expect(plot_svg(page, "fill-mask-context")).to_be_visible(timeout=FIRST_LOAD_MS)
    # (subplot titles break into lines that fit a phone: each line is an SVG tspan of its own)
    titles = page.locator("#fill-mask-context .annotation-text")
    expect(titles).to_have_count(2)
    expect(titles.first.locator("tspan")).to_have_text(["both sides", "(BERT)"])
    expect(titles.last.locator("tspan")).to_have_text(["left side", "only"])
    expect(page.locator("#fill-mask-left code")).to_have_text("The cat [MASK]")
    expect(plot_svg(page, "fill-mask-layers")).to_be_visible()
    # The tiny model: embeddings (layer 0) and its 2 layers.
    layer_rows = data_rows(page, "fill-mask-layer-table")
    expect(layer_rows).to_have_count(3)
    for layer in range(3):
        expect(layer_rows.nth(layer).get_by_role("gridcell").first).to_have_text(str(layer))

    page.screenshot(path=str(screenshot_dir / "fill_mask.png"), full_page=True)


def test_missing_or_foreign_mask_shows_an_error_and_the_page_keeps_working(app_page: Page) -> None:
    page = app_page
    _open(page)
    _predict(page, "The cat sat on the mat.")
    expect(error_panel(page, "Put at least one [MASK] in the text")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.get_by_test_id("fill-completed")).to_have_count(0)

    _predict(page, "The cat <mask> on the mat.")
    foreign = error_panel(page, "is not this model's mask token")
    expect(foreign).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(foreign).to_contain_text("<mask> is not this model's mask token: this model uses [MASK]")
    expect(page.get_by_test_id("fill-completed")).to_have_count(0)

    _predict(page, "The cat [MASK] on the mat.")
    expect(page.get_by_test_id("fill-completed").locator("mark.bv-fill")).to_have_count(1, timeout=FIRST_LOAD_MS)
    expect(plot_svg(page, "fill-mask-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    # One mask: no iterative fill to compare with.
    expect(page.locator("#fill-mask-iterative")).to_be_hidden()


def test_clicking_a_word_masks_it_and_predicts_it(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page, "Click to mask")

    words = page.locator("#click-words")
    # The words load when the tab opens; punctuation is a word of its own.
    expect(words.get_by_role("radio")).to_have_count(13, timeout=FIRST_LOAD_MS)
    expect(words.locator("label").first).to_have_text("The")
    expect(words.locator("label").nth(1)).to_have_text("chef")
    expect(words.locator("label").last).to_have_text(".")

    words.get_by_label("chef", exact=True).check()
    masked = page.get_by_test_id("click-masked")
    expect(masked).to_contain_text("The [MASK] cooked a delicious meal", timeout=FIRST_LOAD_MS)
    expect(masked).to_contain_text("the model's top choice is")
    expect(plot_svg(page, "click-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator("#click-plot .annotation-text")).to_contain_text(["mask 1"])

    page.screenshot(path=str(screenshot_dir / "click_to_mask.png"), full_page=True)


def _expect_lab_consistent(page: Page, seed: int) -> tuple[str, int]:
    """The summary's counts match the coloured columns a person sees; returns the summary and the masked count."""
    lab = page.get_by_test_id("masking-lab")
    summary = lab.locator(".bv-lab-summary")
    expect(summary).to_contain_text(f"Seed {seed}, rate 0.15:", timeout=FIRST_LOAD_MS)
    text = summary.inner_text()
    match = re.search(r"(\d+) of (\d+) tokens selected — (\d+) masked, (\d+) random, (\d+) unchanged", text)
    assert match, text
    selected, words, masked, randomized, unchanged = map(int, match.groups())
    assert selected == masked + randomized + unchanged

    columns = ".bv-lab-rows .bv-lab-col"
    expect(lab.locator(f"{columns}.bv-role-masked")).to_have_count(masked)
    expect(lab.locator(f"{columns}.bv-role-random")).to_have_count(randomized)
    expect(lab.locator(f"{columns}.bv-role-unchanged")).to_have_count(unchanged)
    expect(lab.locator(f"{columns}.bv-role-none")).to_have_count(words - selected)
    expect(lab.locator(f"{columns}.bv-role-special")).to_have_count(2)  # [CLS] and [SEP]
    # Only selected positions carry a guess and a loss; every masked one shows [MASK] as the model's input.
    expect(lab.locator(".bv-lab-loss")).to_have_count(selected)
    expect(lab.locator(f"{columns}.bv-role-masked").locator(".bv-lab-corr")).to_have_text(["[MASK]"] * masked)
    return text, masked


def _draw_with_seed(page: Page, seed: int) -> None:
    box = page.locator("#lab-seed input")
    box.fill(str(seed))
    box.press("Tab")
    expect(box).to_have_value(str(seed))
    page.get_by_role("button", name="Draw the masking").click()


def test_masking_lab_counts_match_the_columns_and_a_seed_repeats_its_draw(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page, "Masking lab")
    expect(page.locator("#lab-seed input")).to_have_value("0")
    page.get_by_role("button", name="Draw the masking").click()
    expect(page.get_by_test_id("masking-lab")).to_be_visible(timeout=FIRST_LOAD_MS)
    first_summary, first_masked = _expect_lab_consistent(page, 0)

    _draw_with_seed(page, 1)
    second_summary, second_masked = _expect_lab_consistent(page, 1)
    assert second_summary != first_summary  # at least the seed it names
    assert first_masked + second_masked > 0, "neither draw masked a token: the column check proved nothing"
    page.screenshot(path=str(screenshot_dir / "masking_lab.png"), full_page=True)

    # The same seed draws the same masking again.
    _draw_with_seed(page, 0)
    expect(page.locator(".bv-lab-summary")).to_have_text(first_summary, timeout=FIRST_LOAD_MS)


def test_html_typed_as_text_is_shown_as_text_and_never_runs(app_page: Page) -> None:
    page = app_page
    _open(page)
    _predict(page, f"{XSS} [MASK]")

    completed = page.get_by_test_id("fill-completed")
    expect(completed.locator("mark.bv-fill")).to_have_count(1, timeout=FIRST_LOAD_MS)
    expect(completed).to_contain_text(XSS)
    # The analysis echoes the text left of the mask: as characters too.
    expect(page.locator("#fill-mask-left code")).to_have_text(f"{XSS} [MASK]", timeout=FIRST_LOAD_MS)
    expect(page.locator("#fill-mask-header img, #fill-mask-left img")).to_have_count(0)
    expect_no_script_ran(page)


def test_fp32_vs_int8_shows_both_sizes_the_chart_and_the_ranks(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page, "fp32 vs. int8")
    expect(page.locator("#quantized-text textarea")).to_have_value("Paris is the [MASK] of France.",
                                                                  timeout=FIRST_LOAD_MS)
    box = page.locator("#quantized-text textarea")
    fill(box, "The cat [MASK] on the [MASK].")
    page.locator("#quantized-run").click()
    summary = page.get_by_test_id("quantized-summary")
    expect(summary).to_contain_text(re.compile(r"Weights: fp32 [\d.]+ MB, int8 \(dynamic\) [\d.]+ MB"),
                                    timeout=FIRST_LOAD_MS)
    expect(summary.get_by_role("listitem")).to_have_count(2)
    expect(plot_svg(page, "quantized-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator("#quantized-plot .legendtext")).to_have_text(["fp32", "int8"])
    expect(data_rows(page, "quantized-table")).to_have_count(10)  # 2 masks x top-5
    page.screenshot(path=str(screenshot_dir / "fill_mask_quantized.png"), full_page=True)

    fill(page.locator("#quantized-text textarea"), "No mask here.")
    page.locator("#quantized-run").click()
    expect(error_panel(page, "at least one")).to_be_visible(timeout=FIRST_LOAD_MS)
