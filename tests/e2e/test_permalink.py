"""Permalinks in Chromium: on every tab, change its settings, run it, Copy link, open the link in a fresh page: the
same tab, the same settings and the same result. And the issue's own example link, and a hostile one."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, PAGE_LOAD_MS, XSS, expect_no_script_ran, fill, open_app, plot_svg

pytestmark = pytest.mark.e2e

_PLOT_DATA = """id => JSON.stringify(document.querySelector('#' + id + ' .js-plotly-plot').data
    .map(trace => [trace.type, trace.x, trace.y, trace.z, trace.text]))"""


def plot_data(elem_id: str) -> Callable[[Page], str]:
    """A result's fingerprint: the numbers and labels of the figure in the gr.Plot ``elem_id``, once drawn."""
    def read(page: Page) -> str:
        expect(plot_svg(page, elem_id)).to_be_visible(timeout=FIRST_LOAD_MS)
        return page.evaluate(_PLOT_DATA, elem_id)
    return read


def shown_text(test_id: str) -> Callable[[Page], str]:
    """A result's fingerprint: the text of the rendered block with data-testid ``test_id``, once shown."""
    def read(page: Page) -> str:
        block = page.get_by_test_id(test_id).first
        expect(block).to_be_visible(timeout=FIRST_LOAD_MS)
        return block.inner_text()
    return read


def slider(elem_id: str, value: int) -> Callable[[Page], None]:
    def change(page: Page) -> None:
        number = page.locator(f"#{elem_id} input[type=number]")
        number.fill(str(value))
        number.press("Enter")
        expect(page.locator(f"#{elem_id} input[type=range]")).to_have_value(str(value))
    return change


def text(elem_id: str, value: str) -> Callable[[Page], None]:
    return lambda page: fill(page.locator(f"#{elem_id} textarea"), value)


def radio(elem_id: str, value: str) -> Callable[[Page], None]:
    return lambda page: page.locator(f"#{elem_id}").get_by_label(value, exact=True).check()


@dataclass(frozen=True)
class RoundTrip:
    """A tab (title, id), the settings a user changes there, its button, and its result's fingerprint."""

    title: str
    tab: str
    changes: tuple[Callable[[Page], None], ...]
    button: str
    result: Callable[[Page], str]
    expected: dict[str, str]  # parameters the copied link must carry


ROUND_TRIPS = (
    RoundTrip("Tokenizer", "tokenizer", (text("tokenizer-text", "Links keep the view."),
                                         text("tokenizer-pair", "And its pair.")),
              "tokenizer-run", shown_text("token-chips"), {"text": "Links keep the view.", "pair": "And its pair."}),
    RoundTrip("Masked words", "fill_mask", (text("fill-mask-text", "A [MASK] keeps its [MASK]."),
                                            slider("fill-mask-top-k", 3)),
              "fill-mask-run", plot_data("fill-mask-plot"), {"text": "A [MASK] keeps its [MASK].", "top_k": "3"}),
    RoundTrip("Next sentence", "nsp", (text("nsp-a", "I opened a link."), text("nsp-b", "It showed my view.")),
              "nsp-run", plot_data("nsp-plot"), {"a": "I opened a link.", "b": "It showed my view."}),
    RoundTrip("Sentiment", "sentiment", (text("sentiment-text", "A link that works.\nA link that breaks."),),
              "sentiment-run", plot_data("sentiment-plot"), {"text": "A link that works.\nA link that breaks."}),
    RoundTrip("Entities", "ner", (text("ner-text", "Ada Lovelace met Charles Babbage in London."),
                                  radio("ner-strategy", "first")),
              "ner-run", shown_text("ner-entities"),
              {"text": "Ada Lovelace met Charles Babbage in London.", "strategy": "first"}),
    RoundTrip("Zero-shot", "zero_shot", (text("zero-shot-text", "The match ended in a draw."),
                                         text("zero-shot-labels", "sport, cooking")),
              "zero-shot-run", plot_data("zero-shot-plot"), {"labels": "sport, cooking"}),
    RoundTrip("Question answering", "qa", (text("qa-question", "Where is the tower?"),
                                           text("qa-context", "The tower is in Paris. It is tall.")),
              "qa-run", plot_data("qa-plot"), {"question": "Where is the tower?"}),
    RoundTrip("Similarity", "similarity", (text("similarity-text", "A cat sat.\nA dog ran.\nA cat rested."),),
              "similarity-run", plot_data("similarity-matrix"), {"sentences": "A cat sat.\nA dog ran.\nA cat rested."}),
    RoundTrip("Inside BERT", "attention", (text("attention-text", "Links restore attention."),
                                           text("attention-pair", "")),
              "attention-run", plot_data("attention-model-view"), {"text": "Links restore attention."}),
)


@pytest.fixture(scope="module")
def pages(browser: Browser, app_server: str) -> Iterator[tuple[Page, Page]]:
    """The page a user works in, opened once, and a page in a fresh browser context that opens the links."""
    first, second = browser.new_context(), browser.new_context()
    try:
        yield open_app(first.new_page(), app_server), second.new_page()
    finally:
        first.close()
        second.close()


def copy_link(page: Page) -> str:
    page.locator("#bv-copy-link").click()
    box = page.locator("#bv-link input, #bv-link textarea").first
    expect(box).to_have_value(page.url, timeout=5_000)
    return box.input_value()


@pytest.mark.parametrize("trip", ROUND_TRIPS, ids=lambda trip: trip.tab)
def test_a_copied_link_reopens_the_same_view(pages: tuple[Page, Page], trip: RoundTrip) -> None:
    page, fresh = pages
    page.get_by_role("tab", name=trip.title, exact=True).click()
    for change in trip.changes:
        change(page)
    page.locator(f"#{trip.button}").click()
    result = trip.result(page)

    link = copy_link(page)
    query = {name: values[0] for name, values in parse_qs(urlsplit(link).query).items()}
    assert query["tab"] == trip.tab and "model" in query
    assert {name: query.get(name) for name in trip.expected} == trip.expected

    fresh.goto(link)
    expect(fresh.get_by_role("tab", name=trip.title, exact=True)).to_have_attribute("aria-selected", "true",
                                                                                    timeout=PAGE_LOAD_MS)
    assert trip.result(fresh) == result  # the link pressed the button: same settings, same numbers
    expect(fresh.locator("#bv-link-notes")).to_have_text("")


def test_the_issues_example_link_opens_masked_words_with_its_predictions(pages: tuple[Page, Page],
                                                                          app_server: str) -> None:
    _page, fresh = pages
    fresh.goto(app_server.rstrip("/") + "/?tab=fill_mask&text=The+cat+%5BMASK%5D+on+the+mat.")
    expect(fresh.locator("#fill-mask-text textarea")).to_have_value("The cat [MASK] on the mat.",
                                                                    timeout=PAGE_LOAD_MS)
    completed = fresh.get_by_test_id("fill-completed")
    expect(completed.locator("mark.bv-fill")).to_have_count(1, timeout=FIRST_LOAD_MS)
    expect(completed).to_contain_text("on the mat.")
    bars = json.loads(plot_data("fill-mask-plot")(fresh))
    assert len(bars) == 1 and len(bars[0][1]) == 5  # one mask, top-5 (the link left top-k at its default)


def test_a_tab_without_a_run_and_the_lab_restore_but_start_nothing(pages: tuple[Page, Page], app_server: str) -> None:
    page, fresh = pages
    page.get_by_role("tab", name="Fine-tuning lab").click()
    slider("finetune-epochs", 2)(page)
    link = copy_link(page)
    assert parse_qs(urlsplit(link).query)["epochs"] == ["2"]
    fresh.goto(link)
    expect(fresh.locator("#finetune-epochs input[type=range]")).to_have_value("2", timeout=PAGE_LOAD_MS)
    expect(fresh.locator("#finetune-status")).not_to_contain_text("training steps took")
    fresh.goto(app_server.rstrip("/") + "/?tab=models")
    expect(fresh.get_by_role("tab", name="Models")).to_have_attribute("aria-selected", "true", timeout=PAGE_LOAD_MS)


def test_a_view_too_long_for_a_link_says_so_instead_of_copying(pages: tuple[Page, Page]) -> None:
    page, _fresh = pages
    page.get_by_role("tab", name="Question answering").click()
    fill(page.locator("#qa-context textarea"), "word " * 8_000)  # 40,000 characters: a 40 KB URL
    page.locator("#bv-copy-link").click()
    expect(page.locator("#bv-link input, #bv-link textarea").first).to_have_value(
        re.compile(r"^This view's text is too long for a link \(\d+ KB; this server opens links of up to 32 KB\)"))


def test_a_hostile_link_is_noted_as_text_and_the_page_keeps_working(pages: tuple[Page, Page], app_server: str) -> None:
    _page, fresh = pages
    hostile = XSS.replace(" ", "+").replace('"', "%22").replace("=", "%3D").replace("<", "%3C").replace(">", "%3E")
    fresh.goto(f"{app_server.rstrip('/')}/?tab=nsp&top_k=9&{hostile}=1&a=Hello.&b={hostile}")
    notes = fresh.locator("#bv-link-notes")
    expect(notes).to_contain_text("'top_k' is not a setting of Next sentence; ignored.", timeout=PAGE_LOAD_MS)
    expect(notes).to_contain_text("<img src=x onerror")  # shown as text
    expect(fresh.locator("#nsp-b textarea")).to_have_value(XSS)
    expect(plot_svg(fresh, "nsp-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    expect_no_script_ran(fresh)
