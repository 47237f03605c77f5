"""Question-answering tab in Chromium: the answer highlighted in the passage, the logit plots, the candidates, the
windows of a long context, bad input and markup in the fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bertviz_ui.ui.qa import EIFFEL
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

TABLE = "qa-candidates"


def _open(page: Page) -> None:
    page.get_by_role("tab", name="Question answering").click()


def _fill(page: Page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    fill(box, value)
    expect(box).to_have_value(value)


def _answer(page: Page) -> None:
    page.locator("#qa-run").click()


def test_seed_example_answer_plots_and_candidates(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    page.get_by_text("Examples (the seed text's three questions)").click()
    page.get_by_text("When was the Eiffel Tower built?").click()
    expect(page.locator("#qa-question input, #qa-question textarea").first).to_have_value(
        "When was the Eiffel Tower built?")
    _answer(page)

    answer = page.get_by_test_id("qa-answer")
    expect(answer).to_contain_text("Answer", timeout=FIRST_LOAD_MS)
    highlighted = page.get_by_test_id("qa-highlight")
    expect(highlighted).to_have_count(1)
    shown = answer.locator("mark").inner_text()
    # The highlight is the answer, cut from the passage by offsets: same text, and the passage reads as typed.
    expect(highlighted).to_have_text(shown)
    assert shown in EIFFEL
    expect(page.get_by_test_id("qa-passage")).to_contain_text("wrought-iron lattice tower on the Champ de Mars")

    expect(plot_svg(page, "qa-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.locator("#qa-plot .gtitle")).to_contain_text("context tokens")
    expect(page.locator("#qa-plot .annotation-text").filter(has_text="Start logits")).to_have_count(1)
    expect(page.locator("#qa-plot .annotation-text").filter(has_text="End logits")).to_have_count(1)
    # Annotations, not text on the markers: the range slider under a long window would squash a copy of them.
    expect(page.locator("#qa-plot .annotation-text").filter(has_text="chosen start")).to_have_count(1)
    expect(page.locator("#qa-plot .annotation-text").filter(has_text="chosen end")).to_have_count(1)

    expect(data_rows(page, TABLE)).to_have_count(5)
    expect(headers(page, TABLE)).to_have_text(["rank", "answer", "characters", "window", "tokens", "start logit",
                                               "end logit", "score"])
    expect(column(page, TABLE, 1).first).to_have_text(shown)
    expect(page.locator("#qa-header .bv-untrained")).to_contain_text("untrained random weights")

    page.get_by_text("Tokens as the model read them").click()
    tokens = page.get_by_test_id("qa-tokens")
    expect(tokens.locator(".bv-chip.bv-a").filter(has_text="built")).to_have_count(1)  # the question's "built"
    expect(tokens.locator(".bv-chip-flow .bv-special").first).to_contain_text("[CLS]")
    expect(tokens.locator(".bv-chip-flow .bv-qa-in").first).to_be_visible()
    page.get_by_text("Why not argmax(start), argmax(end)?").click()
    expect(page.get_by_test_id("qa-seed")).to_contain_text("argmax")
    page.screenshot(path=str(screenshot_dir / "qa.png"), full_page=True)


def test_long_context_shows_windows_and_replots_without_a_model_run(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    _open(page)
    _fill(page, "qa-context", "\n".join([EIFFEL] * 10))
    _answer(page)
    expect(page.get_by_test_id("qa-answer")).to_contain_text("window", timeout=FIRST_LOAD_MS)
    expect(page.locator("#qa-header")).to_contain_text("overlapping windows")
    window = page.locator("#qa-window")
    expect(window).to_be_visible()
    page.get_by_text("Windows of the context").click()
    windows = page.get_by_test_id("qa-windows")
    expect(windows.locator(".bv-qa-win")).to_have_count(int(page.locator("#qa-window input[type=number]")
                                                           .get_attribute("max") or 0))
    expect(windows.locator(".bv-qa-win-answer")).to_have_count(1)
    expect(page.locator("#qa-plot .gtitle")).to_contain_text("Window")

    # Re-plot a window the answer did not come from: the title follows the slider, with no model run.
    count = int(window.locator("input[type=number]").get_attribute("max") or 0)
    shown = page.locator("#qa-plot .gtitle").text_content() or ""
    target = 2 if shown.startswith(f"Window 1 of {count}") else 1
    number = window.locator("input[type=number]")
    number.fill(str(target))
    number.press("Enter")
    expect(page.locator("#qa-plot .gtitle")).to_contain_text(f"Window {target} of {count}")
    expect(page.locator("#qa-plot .annotation-text").filter(has_text="chosen start")).to_have_count(0)
    page.screenshot(path=str(screenshot_dir / "qa_windows.png"), full_page=True)


def test_no_answer_toggle_lists_the_null_score(app_page: Page) -> None:
    page = app_page
    _open(page)
    page.locator("#qa-impossible input").check()
    _answer(page)
    expect(page.get_by_test_id("qa-answer")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(column(page, TABLE, 0).last).to_have_text("null")


def test_bad_input_gets_a_message(app_page: Page) -> None:
    page = app_page
    _open(page)
    _fill(page, "qa-question", "   ")
    _answer(page)
    expect(error_panel(page, "Question is empty")).to_be_visible(timeout=FIRST_LOAD_MS)


def test_markup_in_question_and_context_is_shown_as_text(app_page: Page) -> None:
    page = app_page
    _open(page)
    _fill(page, "qa-question", f"Who {XSS}?")
    _fill(page, "qa-context", f"{XSS} The tower <b>was</b> designed by Gustave Eiffel. {XSS}")
    _answer(page)
    expect(page.get_by_test_id("qa-answer")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.get_by_test_id("qa-passage")).to_contain_text("<b>was</b>")
    expect(page.locator(".bv-qa-question")).to_contain_text(XSS)
    expect_no_script_ran(page)


def test_the_logit_plot_switches_between_pieces_and_words(app_page: Page) -> None:
    page = app_page
    _open(page)
    expect(page.locator("#qa-context textarea")).not_to_have_value("", timeout=FIRST_LOAD_MS)
    _answer(page)
    title = page.locator("#qa-plot .gtitle")
    expect(title).to_contain_text("context tokens", timeout=FIRST_LOAD_MS)
    page.locator("#qa-unit").get_by_text("words", exact=True).click()
    expect(title).to_contain_text("context words (log-sum-exp of their", timeout=FIRST_LOAD_MS)
