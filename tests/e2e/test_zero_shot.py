"""Zero-shot tab in Chromium: labels as NLI hypotheses (single- and multi-label), the offline similarity method,
bad input, and markup in a label."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import (
    FIRST_LOAD_MS,
    XSS,
    column,
    data_rows,
    error_panel,
    expect_no_script_ran,
    fill,
    headers,
    plot_svg,
)

pytestmark = pytest.mark.e2e

# The tab's defaults: the seed text's example.
LABELS = ["politics", "technology", "sports", "entertainment"]
LOGIT_NAMES = ["contradiction", "neutral", "entailment"]
OFFLINE_METHOD = "Embedding similarity (offline, all-MiniLM-L6-v2)"
TABLE = "zero-shot-table"
# Columns of the table: label, hypothesis fed to the model, one per logit, score.
LABEL_COL, HYPOTHESIS_COL = 0, 1


def _open(page: Page) -> None:
    page.get_by_role("tab", name="Zero-shot").click()


def _fill(page: Page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea")
    fill(box, value)
    expect(box).to_have_value(value)


def _classify(page: Page, labels: str | None = None, template: str | None = None) -> None:
    """Fill the labels and template boxes if given (None leaves a box as it is) and press Classify."""
    if labels is not None:
        _fill(page, "zero-shot-labels", labels)
    if template is not None:
        _fill(page, "zero-shot-template", template)
    page.locator("#zero-shot-run").click()


def _explanation(page: Page) -> Locator:
    return page.get_by_test_id("zero-shot-explain")


def _expect_hypotheses(page: Page, template: str, labels: list[str]) -> None:
    """One row per label; each row's hypothesis is the template filled with that row's label (rows are ranked)."""
    expect(data_rows(page, TABLE)).to_have_count(len(labels), timeout=FIRST_LOAD_MS)
    shown = column(page, TABLE, LABEL_COL)
    expect(shown).to_have_count(len(labels))
    assert sorted(text.strip() for text in shown.all_inner_texts()) == sorted(labels)
    expect(column(page, TABLE, HYPOTHESIS_COL)).to_have_text(
        [template.format(text.strip()) for text in shown.all_inner_texts()])


def test_defaults_score_four_hypotheses_in_one_batch(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    expect(page.locator("#zero-shot-template textarea")).to_have_value("This example is {}.")
    _classify(page)

    _expect_hypotheses(page, "This example is {}.", LABELS)
    expect(headers(page, TABLE)).to_have_text(["label", "hypothesis fed to the model", *LOGIT_NAMES, "score"])

    explanation = _explanation(page)
    expect(explanation).to_contain_text("Single-label")
    expect(explanation).to_contain_text("sum to 1")
    expect(explanation).to_contain_text("4 hypotheses scored in 1 batched forward pass")
    expect(page.locator("#zero-shot-header .bv-untrained")).to_contain_text("untrained random weights")

    expect(plot_svg(page, "zero-shot-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator("#zero-shot-plot .bars .point")).to_have_count(len(LABELS))
    ticks = page.locator("#zero-shot-plot .ytick")
    expect(ticks).to_have_count(len(LABELS))
    for label in LABELS:
        expect(ticks.filter(has_text=re.compile(rf"^{label}$"))).to_have_count(1)
    expect(page.locator("#zero-shot-plot .gtitle")).to_contain_text("single-label")

    page.screenshot(path=str(screenshot_dir / "zero_shot.png"), full_page=True)


def test_multi_label_with_a_custom_template(app_page: Page) -> None:
    page = app_page
    _open(page)
    multi = page.locator("#zero-shot-multi").get_by_role("checkbox")
    multi.check()
    expect(multi).to_be_checked()
    template = "This text is about {}."
    _classify(page, template=template)

    _expect_hypotheses(page, template, LABELS)
    explanation = _explanation(page)
    expect(explanation).to_contain_text("Multi-label")
    expect(explanation).to_contain_text("need not sum to 1")
    expect(explanation).not_to_contain_text("Single-label")
    expect(plot_svg(page, "zero-shot-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator("#zero-shot-plot .gtitle")).to_contain_text("multi-label")


def test_offline_embedding_similarity_ranks_politics_first(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    method = page.locator("#zero-shot-method").get_by_label(OFFLINE_METHOD, exact=True)
    method.check()
    expect(method).to_be_checked()
    _classify(page)

    header = page.locator("#zero-shot-header")
    expect(header).to_contain_text("offline: all-MiniLM-L6-v2", timeout=FIRST_LOAD_MS)
    expect(header).to_contain_text("not NLI")
    expect(header.locator(".bv-untrained")).to_have_count(0)
    _expect_hypotheses(page, "This example is {}.", LABELS)
    # Real weights: the ranking means something, best first.
    expect(column(page, TABLE, LABEL_COL).first).to_have_text("politics")
    expect(headers(page, TABLE)).to_have_text(["label", "hypothesis fed to the model", "cosine", "score"])
    expect(_explanation(page)).to_contain_text("“politics”: cosine")
    expect(plot_svg(page, "zero-shot-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator("#zero-shot-plot .ytick").last).to_have_text("politics")  # horizontal bars: best on top
    expect(page.locator("#zero-shot-plot .gtitle")).to_contain_text("embedding similarity (not NLI)")

    page.screenshot(path=str(screenshot_dir / "zero_shot_offline.png"), full_page=True)


def test_bad_template_and_labels_show_errors_and_markup_in_a_label_is_text(app_page: Page) -> None:
    page = app_page
    _open(page)
    _classify(page, template="no braces")
    expect(error_panel(page, "{}")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(data_rows(page, TABLE)).to_have_count(0)

    _classify(page, labels=" , ", template="This example is {}.")
    expect(error_panel(page, "at least one candidate label")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(data_rows(page, TABLE)).to_have_count(0)

    _classify(page, labels=f"{XSS}, news")
    _expect_hypotheses(page, "This example is {}.", [XSS, "news"])
    table = page.locator(f"#{TABLE}")
    expect(table).to_contain_text("<img")
    expect(table.locator("img")).to_have_count(0)
    explanation = _explanation(page)
    expect(explanation).to_contain_text("1 batched forward pass")
    expect(explanation.locator("img")).to_have_count(0)
    expect(page.locator("#zero-shot-header img")).to_have_count(0)
    expect(plot_svg(page, "zero-shot-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator("#zero-shot-plot .ytick").filter(has_text=XSS)).to_have_count(1)
    expect_no_script_ran(page)
