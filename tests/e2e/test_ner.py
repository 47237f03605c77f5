"""Entities tab in Chromium: spans that are slices of the text, strategies and filters, label alignment, spaCy, markup."""

from __future__ import annotations

import itertools
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
)

pytestmark = pytest.mark.e2e

DEFAULT_TEXT = "Apple CEO Tim Cook announced a new product at their Cupertino headquarters."
ALIGN_TOKENS = ["[CLS]", "el", "##on", "mu", "##sk", "founded", "tesla", "in", "california", ".", "[SEP]"]
ALIGN_FIRST_PIECE = ["IGN", "B-PER", "IGN", "I-PER", "IGN", "O", "B-ORG", "O", "B-LOC", "O", "IGN"]
ALIGN_EVERY_PIECE = ["IGN", "B-PER", "I-PER", "I-PER", "I-PER", "O", "B-ORG", "O", "B-LOC", "O", "IGN"]

# The highlighted paragraph as [text, type] pieces: plain text has type None; a mark's text leaves out its label.
_SEGMENTS_JS = """p => Array.from(p.childNodes).map(node => {
    if (node.nodeType === Node.TEXT_NODE) return [node.textContent, null];
    const label = node.querySelector('.bv-ent-label');
    const copy = node.cloneNode(true);
    copy.querySelectorAll('.bv-ent-label').forEach(span => span.remove());
    return [copy.textContent, label ? label.textContent : '?' + node.tagName];
})"""


def _open(page: Page) -> None:
    page.get_by_role("tab", name="Entities").click()


def _find(page: Page, text: str | None = None) -> None:
    """Fill the text box if ``text`` is given (None leaves it as it is) and press Find entities."""
    if text is not None:
        box = page.locator("#ner-text textarea")
        fill(box, text)
        expect(box).to_have_value(text)
    page.locator("#ner-run").click()


def _view(page: Page) -> Locator:
    return page.get_by_test_id("ner-entities")


def _marks(page: Page) -> Locator:
    return _view(page).locator("mark.bv-ent")


def _segments(page: Page) -> list[tuple[str, str | None]]:
    """The shown text in order, split where the highlights begin and end (call once the result is shown)."""
    return [tuple(piece) for piece in _view(page).locator("p.bv-ent-text").evaluate(_SEGMENTS_JS)]


def _expect_slices_of(page: Page, text: str) -> list[tuple[str, str | None]]:
    """Marks and the text between them give back ``text`` exactly; returns the pieces."""
    segments = _segments(page)
    assert "".join(piece for piece, _ in segments) == text, segments
    assert all(kind is None or not kind.startswith("?") for _, kind in segments), segments
    return segments


def _open_accordion(page: Page, name: str) -> None:
    page.get_by_role("button", name=name).click()


def test_default_text_is_highlighted_with_slices_of_the_input_and_both_tables(app_page: Page,
                                                                               screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    expect(page.locator("#ner-text textarea")).to_have_value(DEFAULT_TEXT)
    _find(page)

    marks = _marks(page)
    expect(marks.first).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator("#ner-header .bv-untrained")).to_contain_text("untrained random weights")
    segments = _expect_slices_of(page, DEFAULT_TEXT)
    shown = [(piece, kind) for piece, kind in segments if kind is not None]
    assert shown and all(piece for piece, _ in shown), segments
    expect(marks).to_have_count(len(shown))
    # Each mark's tooltip: its label and a confidence.
    for mark, (_, kind) in zip(marks.all(), shown):
        expect(mark).to_have_attribute("title", re.compile(rf"^(?:[BI]-)?{re.escape(kind)}: \d+(?:\.\d+)?%$"))
    kinds = sorted({kind for _, kind in shown})
    expect(_view(page).locator(".bv-legend .bv-ent-key")).to_have_text(kinds)

    # One table row per mark, same texts and types in the same order.
    expect(data_rows(page, "ner-entities-table")).to_have_count(len(shown))
    expect(column(page, "ner-entities-table", 0)).to_have_text([kind for _, kind in shown])
    expect(column(page, "ner-entities-table", 1)).to_have_text([piece for piece, _ in shown])
    # Every token's own prediction: the uncased model's lower-cased pieces.
    tokens = column(page, "ner-tokens-table", 1)
    expect(tokens.first).to_have_text("apple")
    expect(tokens.nth(1)).to_have_text("ceo")
    expect(tokens.nth(2)).to_have_text("tim")

    page.screenshot(path=str(screenshot_dir / "ner.png"), full_page=True)


def test_first_strategy_then_type_and_confidence_filters(app_page: Page) -> None:
    page = app_page
    _open(page)
    strategy = page.locator("#ner-strategy").get_by_label("first", exact=True)
    strategy.check()
    expect(strategy).to_be_checked()
    _find(page)

    marks = _marks(page)
    expect(marks.first).to_be_visible(timeout=FIRST_LOAD_MS)
    segments = _expect_slices_of(page, DEFAULT_TEXT)
    # 'first' labels whole words: no highlight starts or ends inside a word.
    for (left, _), (right, _) in itertools.pairwise(segments):
        assert not (left and right and left[-1].isalnum() and right[0].isalnum()), segments
    kinds = [kind for _, kind in segments if kind is not None]
    chosen = kinds[0]
    expect(page.locator("#ner-types").get_by_role("checkbox")).to_have_count(len(set(kinds)))

    page.locator("#ner-types").get_by_label(chosen, exact=True).check()
    labels = marks.locator(".bv-ent-label")
    expect(labels).to_have_text([chosen] * kinds.count(chosen))
    expect(column(page, "ner-entities-table", 0)).to_have_text([chosen] * kinds.count(chosen))

    number = page.locator("#ner-min-score input[type=number]")
    number.fill("1")
    number.press("Enter")
    expect(page.locator("#ner-min-score input[type=range]")).to_have_value("1")
    expect(marks).to_have_count(0)
    expect(_view(page)).to_contain_text("No entities at these settings.")
    expect(data_rows(page, "ner-entities-table")).to_have_count(0)


def test_alignment_first_piece_every_piece_and_a_missing_label(app_page: Page) -> None:
    page = app_page
    _open(page)
    _open_accordion(page, "Alignment: how word labels become token labels for training")
    page.locator("#ner-align-run").click()

    expect(column(page, "ner-align-table", 0)).to_have_text(ALIGN_TOKENS, timeout=FIRST_LOAD_MS)
    expect(column(page, "ner-align-table", 3)).to_have_text(ALIGN_FIRST_PIECE)

    every_piece = page.locator("#ner-align-all").get_by_role("checkbox")
    every_piece.check()
    expect(every_piece).to_be_checked()
    page.locator("#ner-align-run").click()
    expect(column(page, "ner-align-table", 3)).to_have_text(ALIGN_EVERY_PIECE, timeout=FIRST_LOAD_MS)

    labels = page.locator("#ner-align-labels input, #ner-align-labels textarea")
    fill(labels, "B-PER I-PER O B-ORG O B-LOC")
    labels.press("Tab")
    expect(labels).to_have_value("B-PER I-PER O B-ORG O B-LOC")
    page.locator("#ner-align-run").click()
    expect(error_panel(page, "7 words but 6 labels")).to_be_visible(timeout=FIRST_LOAD_MS)


def test_spacy_missing_is_explained_and_markup_in_the_text_is_shown_as_text(app_page: Page) -> None:
    page = app_page
    _open(page)
    _open_accordion(page, "Compare with spaCy")
    page.locator("#ner-spacy-run").click()
    missing = page.get_by_test_id("spacy-missing")
    expect(missing).to_contain_text("No spaCy English pipeline is installed", timeout=FIRST_LOAD_MS)
    expect(missing).to_contain_text("python -m spacy download en_core_web_sm")
    # Issue 15: the download needs internet; the hint says so and names the pip package for offline installs.
    expect(missing).to_contain_text("needs internet access")
    expect(missing).to_contain_text("pip install en_core_web_sm-VERSION-py3-none-any.whl")

    text = f"{XSS} Paris"
    _find(page, text)
    view = _view(page)
    expect(view).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(view).to_contain_text("Paris")
    _expect_slices_of(page, text)
    expect(view.locator("img")).to_have_count(0)
    expect(page.locator("#ner-entities-table img")).to_have_count(0)
    expect_no_script_ran(page)


def test_token_table_switches_between_pieces_and_words(app_page: Page) -> None:
    page = app_page
    _open(page)
    _find(page, "Tim Cook visited Cupertino.")
    expect(headers(page, "ner-tokens-table")).to_have_text(["#", "token", "label", "score", "start", "end"],
                                                            timeout=FIRST_LOAD_MS)
    page.locator("#ner-unit").get_by_text("words", exact=True).click()
    expect(headers(page, "ner-tokens-table")).to_contain_text(["#", "word", "pieces", "label"],
                                                               timeout=FIRST_LOAD_MS)
    expect(column(page, "ner-tokens-table", 1)).to_have_text(["Tim", "Cook", "visited", "Cupertino", "."])
