"""Inside BERT's Rollout & flow sub-tab in Chromium: drawn from the tab's run, words or pieces, flow's cap said."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, fill, plot_svg

pytestmark = pytest.mark.e2e

# "tokenization" is two pieces in bert-base-uncased's vocabulary: token, ##ization.
PIECED = "Tokenization is fun."


def test_rollout_draws_from_the_tabs_run_and_switches_to_words(app_page: Page, screenshot_dir: Path) -> None:
    page = app_page
    page.get_by_role("tab", name="Inside BERT").click()
    fill(page.locator("#attention-text textarea"), PIECED)
    fill(page.locator("#attention-pair textarea"), "")
    page.locator("#attention-run").click()
    expect(page.get_by_test_id("attention-stats")).to_contain_text("7 tokens", timeout=FIRST_LOAD_MS)
    page.locator("#inside-tabs").get_by_role("tab", name="Rollout & flow", exact=True).click()
    bars, heatmap = page.locator("#rollout-bars"), page.locator("#rollout-heatmap")
    expect(plot_svg(page, "rollout-bars")).to_be_visible()
    expect(plot_svg(page, "rollout-heatmap")).to_be_visible()
    # The tiny checkpoint has 2 layers: the last is layer 1; [CLS]'s row, with flow beside rollout and raw attention.
    expect(bars).to_contain_text(re.compile(r"Where \[CLS\] ·0 draws from, layer\s?1"))
    expect(bars.locator("g.traces")).to_have_count(3)
    expect(bars.locator(".legendtext")).to_have_text(["rollout", "raw attention", "flow"])
    expect(heatmap).to_contain_text("Rollout after layer 1")
    # Plotly writes the tick labels bottom up ([CLS] is drawn at the top).
    expect(bars.locator(".ytick")).to_have_text(["[SEP] ·6", ". ·5", "fun ·4", "is ·3", "##ization ·2", "token ·1",
                                                 "[CLS] ·0"])
    expect(page.get_by_test_id("rollout-unit")).to_contain_text("Showing pieces")
    expect(page.locator("#inside-rollout")).to_contain_text("at most 64 tokens")
    page.locator("#inside-rollout").screenshot(path=str(screenshot_dir / "attention_rollout.png"))

    # Words: the word's two pieces become one label, in the bars and the heatmap, and the rule is said.
    page.locator("#rollout-unit").get_by_label("words").check()
    expect(bars.locator(".ytick")).to_have_text(["[SEP] ·6", ". ·5", "fun ·4", "is ·3", "tokenization ·1",
                                                 "[CLS] ·0"])
    expect(heatmap.locator(".ytick")).to_have_count(6)
    expect(page.get_by_test_id("rollout-unit")).to_contain_text("Showing words")

    # Another layer and token: the chosen word's row, from the same run.
    page.get_by_role("combobox", name="Layer (0 = first)").click()
    page.get_by_role("option", name="0", exact=True).click()
    page.get_by_role("combobox", name="Token (its row)").click()
    page.get_by_role("option", name="2: ##ization", exact=True).click()
    # (A title broken into lines reads without the space at the break.)
    expect(bars).to_contain_text(re.compile(r"Where tokenization ·1 draws from, layer\s?0"))
    # Flow off: two kinds of bars.
    page.locator("#rollout-flow").get_by_role("checkbox").uncheck()
    expect(bars.locator(".legendtext")).to_have_text(["rollout", "raw attention"])
