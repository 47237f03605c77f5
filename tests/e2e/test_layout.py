"""Layout that holds, in Chromium at a 1400 px desktop and a 390 px phone: tables never break a number or a one-word
header and show their rows (or scroll inside their frame); empty tables show nothing; plot labels, titles and the
gr.Plot badge never overlap or run off the figure. Measured on the rendered DOM (tests/e2e/layout.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, app_in_new_context, data_rows, plot_svg
from tests.e2e.layout import plots_settle_without_overlaps, table_problems

pytestmark = pytest.mark.e2e

OFFLINE = "sentence-transformers/all-MiniLM-L6-v2"
TAB_TITLES = ("Tokenizer", "Masked words", "Next sentence", "Sentiment", "Entities", "Zero-shot", "Question answering",
              "Similarity", "Inside BERT", "Fine-tuning lab")


@pytest.fixture(params=[1400, 390], ids=["desktop-1400", "phone-390"])
def sized_page(request: pytest.FixtureRequest, browser: Browser, app_server: str) -> Iterator[Page]:
    """The app in a page of the parametrized width, laid out at that width from the start."""
    with app_in_new_context(browser, app_server, viewport={"width": request.param, "height": 900}) as page:
        yield page


def _tab(page: Page, title: str) -> None:
    page.get_by_role("tab", name=title, exact=True).click()


def _sub_tab(page: Page, name: str) -> None:
    page.locator("#inside-tabs").get_by_role("tab", name=name, exact=True).click()


def test_result_tables_show_nothing_before_a_run(sized_page: Page) -> None:
    # Issue 15: before any run, Gradio's empty gr.Dataframe showed a placeholder header "1 2 3".
    page = sized_page
    for title in TAB_TITLES:
        _tab(page, title)
        expect(page.get_by_role("tab", name=title, exact=True)).to_have_attribute("aria-selected", "true")
    tables = page.locator(".bv-result-table")
    assert tables.count() > 10  # every visited tab's result tables are on the page, none filled yet
    for table in tables.all():
        assert table.locator("[role=columnheader]").count() == 0, table.get_attribute("id")
        expect(table).to_be_hidden()


def test_inside_bert_tables_keep_numbers_whole_and_show_every_row(sized_page: Page) -> None:
    page = sized_page
    _tab(page, "Inside BERT")
    _sub_tab(page, "Parameters")
    page.locator("#parameters-run").click()
    expect(data_rows(page, "parameters-table")).to_have_count(5, timeout=FIRST_LOAD_MS)  # embeddings, 2 layers, ...
    # Issue 15: "11,918,5/92" and "trainabl/e" broke over two lines in this table.
    assert table_problems(page.locator("#parameters-table")) == []

    _sub_tab(page, "Model comparison")
    page.locator("#comparison-run").click()
    rows = data_rows(page, "comparison-table")
    expect(rows.filter(has_text="bert-large")).to_have_count(1, timeout=FIRST_LOAD_MS)
    assert table_problems(page.locator("#comparison-table")) == []
    # Issue 15: the table was cut to about four rows and hid the loaded model's row. Every row is in the frame.
    loaded = rows.filter(has_text="tiny:encoder")
    expect(loaded).to_have_count(1)
    frame = page.locator("#comparison-table .virtual-table-viewport").bounding_box()
    row = loaded.bounding_box()
    assert frame and row and frame["y"] <= row["y"] and row["y"] + row["height"] <= frame["y"] + frame["height"] + 1
    assert page.locator("#comparison-table .virtual-table-viewport").evaluate(
        "v => v.scrollHeight <= v.clientHeight + 1")


def test_paragraph_table_keeps_its_header_words_whole(sized_page: Page) -> None:
    page = sized_page
    _tab(page, "Next sentence")
    page.get_by_role("button", name="A whole paragraph").click()
    page.get_by_role("button", name="Score every pair").click()
    expect(data_rows(page, "nsp-paragraph-table")).to_have_count(8, timeout=FIRST_LOAD_MS)
    headers = page.locator("#nsp-paragraph-table [role=columnheader]")
    expect(headers.filter(has_text="verdict")).to_have_count(1)
    # Issue 15: the header read "verdic/t"; the sentences wrap at spaces instead.
    assert table_problems(page.locator("#nsp-paragraph-table")) == []


def test_inside_bert_figures_keep_labels_apart(sized_page: Page) -> None:
    """On the real all-MiniLM-L6-v2 (6 layers x 12 heads): per-head summaries, the views, the PCA's token labels."""
    page = sized_page
    _tab(page, "Inside BERT")
    page.get_by_role("combobox", name="Encoder").click()
    page.get_by_role("option", name=OFFLINE, exact=True).click()
    page.locator("#attention-run").click()
    expect(page.get_by_test_id("attention-stats")).to_contain_text("6 layers", timeout=FIRST_LOAD_MS)
    attention = ["attention-head-view", "attention-model-view", "attention-heatmap", "attention-summaries"]
    for elem_id in attention:
        expect(plot_svg(page, elem_id)).to_be_visible()
    # Issue 15: the summaries' badge covered the subplot title "entropy (bits)".
    assert plots_settle_without_overlaps(page, attention) == []
    assert table_problems(page.locator("#attention-summary-table")) == []

    _sub_tab(page, "Embeddings")
    embeddings = ["embeddings-parts", "embeddings-change", "embeddings-pca"]
    for elem_id in embeddings:
        expect(plot_svg(page, elem_id)).to_be_visible(timeout=FIRST_LOAD_MS)
    # Issue 15: PCA labels overlapped ("a ·11" over "lazy ·12"); now each shown label overlaps nothing.
    expect(page.locator("#embeddings-pca .annotation-text").first).to_be_visible()
    assert plots_settle_without_overlaps(page, embeddings) == []


def test_qa_and_masked_words_figures_keep_labels_apart(sized_page: Page) -> None:
    page = sized_page
    _tab(page, "Question answering")
    page.locator("#qa-run").click()
    expect(plot_svg(page, "qa-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    # The seed's passage has more context tokens than the plot shows at once: the range slider is there.
    expect(page.locator("#qa-plot .rangeslider-container")).to_have_count(1)
    expect(page.locator("#qa-plot .annotation-text").filter(has_text="chosen end")).to_have_count(1)
    # Issue 15: the slider repeated "chosen end" squashed; no text is drawn in it now.
    assert plots_settle_without_overlaps(page, ["qa-plot"]) == []
    assert table_problems(page.locator("#qa-candidates")) == []

    _tab(page, "Masked words")
    page.locator("#fill-mask-run").click()
    figures = ["fill-mask-plot", "fill-mask-context", "fill-mask-layers"]
    for elem_id in figures:
        expect(plot_svg(page, elem_id)).to_be_visible(timeout=FIRST_LOAD_MS)
    assert plots_settle_without_overlaps(page, figures) == []
    for table in ("fill-mask-iterative", "fill-mask-layer-table"):
        assert table_problems(page.locator(f"#{table}")) == []
