"""A failed run is explained in its tab and stays: one panel where the results would be, no "Error" pill on every
output, no toast piled on top, and the message names what works on this machine now (tiny mode's Hub is offline)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, fill

pytestmark = pytest.mark.e2e

# tab, model box, run button, a Hub model the offline test machine doesn't have, what the message must offer.
FAILING = [
    ("Masked words", "fill-mask-model", "fill-mask-run", "google-bert/bert-base-uncased", ["tiny:masked_lm"]),
    ("Next sentence", "nsp-model", "nsp-run", "google-bert/bert-base-uncased", ["tiny:next_sentence"]),
    ("Sentiment", "sentiment-model", "sentiment-run", "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
     ["tiny:sequence_classification"]),
    ("Entities", "ner-model", "ner-run", "dslim/bert-base-NER", ["tiny:token_classification"]),
    ("Zero-shot", "zero-shot-model", "zero-shot-run", "facebook/bart-large-mnli",
     ["tiny:nli", 'switch Method to "Embedding similarity"']),
    ("Question answering", "qa-model", "qa-run", "distilbert/distilbert-base-cased-distilled-squad",
     ["tiny:question_answering"]),
    ("Similarity", "similarity-model", "similarity-run", "google-bert/bert-base-cased",
     ["pick sentence-transformers/all-MiniLM-L6-v2", "tiny:encoder"]),
]


@pytest.mark.parametrize(("tab", "model_id", "run_id", "hub_model", "offered"), FAILING, ids=[f[0] for f in FAILING])
def test_a_model_that_cannot_be_had_is_explained_in_the_tab_and_stays(app_page: Page, tab, model_id, run_id,
                                                                     hub_model, offered) -> None:
    page = app_page
    page.clock.install()  # Gradio's toasts time out on the page clock: run it forward instead of waiting
    page.get_by_role("tab", name=tab, exact=True).click()
    model = page.locator(f"#{model_id} input")
    model.fill(hub_model)
    model.press("Enter")
    expect(model).to_have_value(hub_model)
    page.locator(f"#{run_id}").click()

    panel = page.locator(f"#tab-{_tab_id(tab)}").get_by_test_id("error-panel")
    expect(panel).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(panel).to_contain_text(f"{hub_model} is not in this machine's Hugging Face cache")
    for phrase in [*offered, "python app.py --tiny", "BERTVIZ_UI_MODEL_"]:
        expect(panel).to_contain_text(phrase)
    expect(page.get_by_test_id("toast-body")).to_have_count(0)  # the panel says it; no toast over the tab bar
    page.clock.run_for(31_000)
    expect(panel).to_be_visible()
    # No "Error" pill on the outputs: the panel is the one place that says it.
    pills = page.locator(f"#tab-{_tab_id(tab)} [data-testid='status-tracker'] span.error")
    assert all(not pill.is_visible() for pill in pills.all())


def test_the_panel_goes_when_the_next_run_succeeds(app_page: Page) -> None:
    page = app_page
    page.get_by_role("tab", name="Similarity").click()
    box = page.locator("#similarity-text textarea")
    fill(box, "only one")
    page.locator("#similarity-run").click()
    panel = page.get_by_test_id("error-panel").filter(has_text="at least two sentences")
    expect(panel).to_be_visible(timeout=FIRST_LOAD_MS)
    fill(box, "one\ntwo")
    page.locator("#similarity-run").click()
    expect(page.locator("#similarity-pairs").get_by_role("gridcell").first).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(panel).to_be_hidden()


def _tab_id(title: str) -> str:
    from bertviz_ui.registry import TASKS

    return next(task.id for task in TASKS if task.title == title)
