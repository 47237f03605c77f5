"""Inside BERT tab in Chromium: attention views and their controls, embeddings, parameters, the model comparison."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, XSS, data_rows, error_panel, expect_no_script_ran, fill, plot_svg

pytestmark = pytest.mark.e2e

OFFLINE = "sentence-transformers/all-MiniLM-L6-v2"


def _open(page: Page) -> None:
    page.get_by_role("tab", name="Inside BERT").click()


def _look(page: Page, text: str | None = None, pair: str | None = None) -> None:
    if text is not None:
        fill(page.locator("#attention-text textarea"), text)
    if pair is not None:
        fill(page.locator("#attention-pair textarea"), pair)
    page.locator("#attention-run").click()


def _sub_tab(page: Page, name: str) -> None:
    page.locator("#inside-tabs").get_by_role("tab", name=name, exact=True).click()


def _pick(page: Page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def _use_minilm(page: Page) -> None:
    """The offline all-MiniLM-L6-v2 (real weights), so the screenshots show real attention."""
    _pick(page, "Encoder", OFFLINE)
    expect(page.get_by_role("combobox", name="Encoder")).to_have_value(OFFLINE)


def test_attention_views_from_one_run_and_their_controls(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    _use_minilm(page)
    _look(page)
    expect(page.get_by_test_id("attention-stats")).to_contain_text("16 tokens", timeout=FIRST_LOAD_MS)
    expect(page.locator("#attention-header")).to_contain_text("offline: all-MiniLM-L6-v2")
    expect(page.locator("#attention-header .bv-untrained")).to_have_count(0)
    expect(page.get_by_test_id("attention-stats")).to_contain_text("6 layers")
    for elem_id in ("attention-head-view", "attention-model-view", "attention-heatmap", "attention-summaries"):
        expect(plot_svg(page, elem_id)).to_be_visible()
    expect(page.locator("#attention-head-view")).to_contain_text("Head view: layer 0, all heads")
    expect(page.locator("#attention-head-view")).to_contain_text("[CLS] ·0")
    expect(data_rows(page, "attention-summary-table")).to_have_count(12)
    expect(page.get_by_test_id("attention-heads").locator(".bv-chip")).to_have_count(12)
    page.screenshot(path=str(screenshot_dir / "attention.png"), full_page=True)

    # Another layer and one head: the large heatmap opens that head, no new forward needed.
    _pick(page, "Layer (0 = first)", "1")
    expect(page.locator("#attention-heatmap")).to_contain_text("Layer 1, mean of 12 heads")
    _pick(page, "Heads (none chosen: all; each head has its colour)", "head 1")
    expect(page.locator("#attention-heatmap")).to_contain_text("Layer 1, head 1")
    expect(page.get_by_test_id("attention-heads").locator(".bv-chip")).to_have_text(["head 1"])

    # Hiding [CLS]/[SEP] drops them from the head view and says how much attention was kept.
    page.locator("#attention-hide-special").get_by_role("checkbox").check()
    expect(page.locator("#attention-legend")).to_contain_text("renormalized to sum to 1")
    expect(page.locator("#attention-head-view")).not_to_contain_text("[CLS]")
    labels = page.locator("#attention-head-view g.textpoint")
    expect(labels).to_have_count(13 + 13)  # every word on both sides
    # Sentence A -> B: A's 7 words on the left, B's 6 on the right.
    page.locator("#attention-direction").get_by_label("sentence A -> B only").check()
    expect(labels).to_have_count(7 + 6)
    expect(labels.first).to_have_text("the ·1")
    expect(labels.last).to_have_text(". ·14")
    page.locator("#attention-heatmap").scroll_into_view_if_needed()
    page.locator("#attention-model-view").screenshot(path=str(screenshot_dir / "attention_model_view.png"))

    # Isolating a token: its row is outlined in the large heatmap.
    expect(page.locator("#attention-heatmap .shapelayer path")).to_have_count(0)
    _pick(page, "Isolate a token's attention", "2: cat")
    expect(page.get_by_role("combobox", name="Isolate a token's attention")).to_have_value("2: cat")
    expect(page.locator("#attention-heatmap .shapelayer path")).to_have_count(1)


def test_embeddings_parameters_and_comparison(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    _use_minilm(page)
    _look(page)
    expect(page.get_by_test_id("attention-stats")).to_contain_text("16 tokens", timeout=FIRST_LOAD_MS)

    _sub_tab(page, "Embeddings")
    expect(page.get_by_test_id("embeddings-check")).to_contain_text("reproduces the model's own embedding output")
    for elem_id in ("embeddings-parts", "embeddings-change", "embeddings-pca"):
        expect(plot_svg(page, elem_id)).to_be_visible()
    page.locator("#embeddings-color").get_by_label("segment").check()
    expect(page.locator("#embeddings-pca")).to_contain_text("sentence B")
    page.screenshot(path=str(screenshot_dir / "embeddings.png"), full_page=True)

    _sub_tab(page, "Parameters")
    page.locator("#parameters-head").get_by_label("sequence classification").check()
    page.locator("#parameters-run").click()
    expect(page.get_by_test_id("parameters-total")).to_contain_text("task head (sequence classification): 770")
    expect(page.get_by_test_id("parameters-total")).to_contain_text("encoder 22,713,216")
    expect(page.get_by_test_id("parameters-seed")).to_contain_text("109,484,546")
    expect(page.get_by_test_id("parameters-seed")).to_contain_text("109,483,778")
    expect(data_rows(page, "parameters-table")).to_have_count(10)  # embeddings, 6 layers, pooler, classifier, total
    page.screenshot(path=str(screenshot_dir / "parameters.png"), full_page=True)

    _sub_tab(page, "Model comparison")
    page.locator("#comparison-run").click()
    expect(page.locator("#comparison-notes")).to_contain_text("snapshot of their published config.json",
                                                              timeout=FIRST_LOAD_MS)
    expect(page.locator("#comparison-table [role=gridcell][data-col='0']").first).to_have_text("bert-base")
    page.screenshot(path=str(screenshot_dir / "comparison.png"), full_page=True)


def test_markup_in_the_text_is_shown_not_run(app_page: Page) -> None:
    page = app_page
    page.evaluate("window.__xss = undefined")
    _open(page)
    _look(page, XSS + " cat", "")
    expect(page.get_by_test_id("attention-stats")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator("#attention-head-view")).to_contain_text("< ·1")
    expect_no_script_ran(page)


def test_empty_text_is_a_message_not_a_trace(app_page: Page) -> None:
    page = app_page
    _open(page)
    _look(page, "   ")
    expect(error_panel(page, "Text is empty")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.get_by_text("Traceback")).to_have_count(0)


def test_the_large_heatmap_switches_to_words_without_a_new_forward(app_page: Page) -> None:
    page = app_page
    _open(page)
    _look(page, text="Tokenization is fun.", pair="")
    heatmap = page.locator("#attention-heatmap")
    expect(heatmap.locator(".gtitle")).to_contain_text("Layer 0", timeout=FIRST_LOAD_MS)
    expect(heatmap.locator(".xtick").first).to_be_visible()
    pieces = heatmap.locator(".xtick").count()
    page.locator("#attention-unit").get_by_text("words", exact=True).click()
    expect(heatmap.locator(".gtitle")).to_contain_text("by words")
    expect(heatmap.locator(".xtick", has_text="tokenization")).to_have_count(1)
    assert heatmap.locator(".xtick").count() < pieces
