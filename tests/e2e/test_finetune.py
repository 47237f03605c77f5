"""Fine-tuning lab in Chromium: the seed's reviews, setup with parameter counts and schedule, a live training run,
try and download, before vs after fine-tuning, cancel, bad data, and markup shown as text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bertviz_ui import examples
from tests.e2e.helpers import FIRST_LOAD_MS, XSS, data_rows, error_panel, expect_no_script_ran, fill, plot_svg

pytestmark = pytest.mark.e2e

TRAIN_MS = 60_000


def _open(page: Page) -> None:
    page.get_by_role("tab", name="Fine-tuning lab").click()


def _set_slider(page: Page, elem_id: str, value: int) -> None:
    number = page.locator(f"#{elem_id} input[type=number]")
    number.fill(str(value))
    number.press("Enter")
    expect(page.locator(f"#{elem_id} input[type=range]")).to_have_value(str(value))


def _paste(page: Page, csv_text: str) -> None:
    page.get_by_text("Paste or upload CSV/TSV").click()
    fill(page.locator("#finetune-csv textarea"), csv_text)
    page.locator("#finetune-load-csv").click()


def test_setup_shows_counts_that_follow_the_freeze_switch_and_the_schedule(app_page: Page,
                                                                        screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    expect(data_rows(page, "finetune-table")).to_have_count(8)
    page.locator("#finetune-check").click()
    total = page.get_by_test_id("total-params")
    trainable = page.get_by_test_id("trainable-params")
    expect(total).to_have_text(re.compile(r"^[\d,]+$"), timeout=FIRST_LOAD_MS)
    expect(trainable).to_have_text(total.inner_text())
    expect(page.get_by_test_id("finetune-data")).to_contain_text("8 examples, 2 labels")
    expect(page.locator("#finetune-setup")).to_contain_text("4-fold cross-validation")
    expect(plot_svg(page, "finetune-schedule")).to_be_visible()

    page.locator("#finetune-freeze").get_by_role("checkbox").check()
    expect(trainable).to_have_text("66")  # the tiny encoder's 32-wide pooled vector x 2 classes + 2 biases
    expect(page.get_by_test_id("finetune-params")).to_contain_text("only the classification head is trained")
    page.screenshot(path=str(screenshot_dir / "finetune_setup.png"), full_page=True)


def test_training_streams_then_reports_and_the_model_can_be_tried_and_downloaded(app_page: Page,
                                                                                 screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    _set_slider(page, "finetune-epochs", 2)
    page.locator("#finetune-run").click()

    status = page.locator("#finetune-status")
    expect(status).to_contain_text("4 training steps took", timeout=TRAIN_MS)
    expect(plot_svg(page, "finetune-loss")).to_be_visible()
    expect(plot_svg(page, "finetune-accuracy")).to_be_visible()
    expect(plot_svg(page, "finetune-confusion")).to_be_visible()
    report = page.get_by_test_id("finetune-report")
    expect(report).to_contain_text("4-fold cross-validation")
    expect(page.get_by_test_id("finetune-compare")).to_contain_text("baseline: TF-IDF")
    expect(page.get_by_test_id("finetune-per-class").locator("tbody tr")).to_have_count(2)
    expect(data_rows(page, "finetune-predictions")).to_have_count(8)
    new_rows = data_rows(page, "finetune-new-table")
    expect(new_rows).to_have_count(2)
    expect(new_rows.first.get_by_role("gridcell").first).to_have_text(examples.TUTORIAL_TEST_TEXTS[0])
    expect(page.locator("#finetune-schedule")).to_contain_text("4 steps")  # the plot followed the epochs slider
    page.screenshot(path=str(screenshot_dir / "finetune.png"), full_page=True)

    page.locator("#finetune-try").click()
    expect(data_rows(page, "finetune-try-table")).to_have_count(1, timeout=FIRST_LOAD_MS)
    page.locator("#finetune-download").click()
    expect(page.locator("#finetune-file a")).to_have_attribute("href", re.compile(r"/finetuned-model\.zip$"),
                                                             timeout=FIRST_LOAD_MS)


def test_before_and_after_draws_cka_the_head_change_and_the_top_heads(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    compare = page.locator("#finetune-compare-run")
    compare.click()  # nothing trained yet in this session
    expect(error_panel(page, "No fine-tuned model in this session yet")).to_be_visible(timeout=FIRST_LOAD_MS)

    _set_slider(page, "finetune-epochs", 1)
    page.locator("#finetune-run").click()
    expect(page.locator("#finetune-status")).to_contain_text("training steps took", timeout=TRAIN_MS)
    fill(page.locator("#finetune-compare-text textarea"), "A wonderful, moving film.")
    compare.click()
    summary = page.get_by_test_id("finetune-before-after")
    expect(summary).to_contain_text("Kornblith et al. 2019", timeout=FIRST_LOAD_MS)
    expect(summary).to_contain_text("There is no \u201cbefore\u201d prediction")
    expect(page.get_by_test_id("finetune-compare-probabilities").locator("tbody tr")).to_have_count(2)
    expect(error_panel(page, "No fine-tuned model")).to_have_count(0)  # the panel went with the successful run
    expect(plot_svg(page, "finetune-cka")).to_be_visible()
    expect(page.locator("#finetune-cka")).to_contain_text("embeddings")
    expect(plot_svg(page, "finetune-heads")).to_be_visible()
    expect(page.locator("#finetune-heads .heatmaplayer")).to_have_count(1)
    expect(plot_svg(page, "finetune-top-heads")).to_be_visible()
    expect(page.locator("#finetune-top-heads")).to_contain_text(re.compile(r"L\d H\d: base.*fine-tuned\s*\(JS"))
    expect(page.locator("#finetune-top-heads")).to_contain_text("moving")  # the text's tokens name the axes
    expect(data_rows(page, "finetune-neighbours")).to_have_count(10)  # 5 per encoder
    # The section alone: from its summary down to the neighbours' table.
    top, bottom = (page.locator(selector).evaluate("e => e.getBoundingClientRect().top + window.scrollY")
                   for selector in ("#finetune-compare-summary", "#finetune-neighbours"))
    bottom += page.locator("#finetune-neighbours").bounding_box()["height"]
    page.screenshot(path=str(screenshot_dir / "finetune_compare.png"), full_page=True,
                    clip={"x": 0, "y": top, "width": page.viewport_size["width"], "height": bottom - top})


def test_cancel_stops_training(app_page: Page) -> None:
    page = app_page
    _open(page)
    _set_slider(page, "finetune-epochs", 20)
    _set_slider(page, "finetune-batch", 1)
    page.locator("#finetune-run").click()
    expect(page.locator("#finetune-status")).to_contain_text("step", timeout=TRAIN_MS)
    page.locator("#finetune-cancel").click()
    expect(page.locator("#finetune-status")).to_contain_text("Cancelled", timeout=TRAIN_MS)
    # Nothing was kept: the model can't be tried.
    page.locator("#finetune-try").click()
    expect(error_panel(page, "No fine-tuned model in this session yet")).to_be_visible(timeout=FIRST_LOAD_MS)


def test_one_label_is_refused_with_a_specific_message(app_page: Page) -> None:
    page = app_page
    _open(page)
    _paste(page, "great,pos\nlovely,pos\nsuperb,pos")
    expect(error_panel(page, "Only one label ('pos')")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(data_rows(page, "finetune-table")).to_have_count(8)  # the table was left as it was


def test_markup_in_labels_and_texts_is_shown_as_text(app_page: Page) -> None:
    page = app_page
    _open(page)
    quoted = '"' + XSS.replace('"', '""') + '"'
    _paste(page, f"{quoted},{quoted}\nlovely,{quoted}\nawful,bad\npoor,bad")
    expect(data_rows(page, "finetune-table")).to_have_count(4, timeout=FIRST_LOAD_MS)
    expect(page.get_by_test_id("finetune-data")).to_contain_text("<img")
    _set_slider(page, "finetune-epochs", 1)
    page.locator("#finetune-run").click()
    report = page.get_by_test_id("finetune-report")
    expect(report).to_be_visible(timeout=TRAIN_MS)
    expect(page.get_by_test_id("finetune-per-class")).to_contain_text("<img")
    expect(page.locator("#finetune-predictions")).to_contain_text("<img")
    expect(page.locator("#tab-finetune img")).to_have_count(0)
    expect_no_script_ran(page)
