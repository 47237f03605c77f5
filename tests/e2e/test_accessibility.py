"""Accessibility (issue 18): every tab, after its main action, passes axe-core (axe-playwright-python) with no serious
or critical violation, in the light theme and in the dark one the browser asks for (Gradio follows
prefers-color-scheme). All violations found are printed, grouped by rule, for the report (`pytest -s`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import FIRST_LOAD_MS, app_in_new_context, chip_flow, plot_svg

pytestmark = pytest.mark.e2e

TRAIN_MS = 60_000
BLOCKING = ("serious", "critical")

# (rule, a piece of the node's CSS selector): violations inside Gradio's own components that our code can't fix.
# Each entry says why; a rule is never silenced for the whole page.
EXCLUDED: tuple[tuple[str, str, str], ...] = (
    # The empty state of a gr.File or gr.Plot not filled yet is a <div aria-label="..."> with no role: Gradio's markup.
    ("aria-prohibited-attr", "> .empty.large.unpadded_box", "Gradio's empty-component placeholder"),
)


def _plot(elem_id: str) -> Callable[[Page], None]:
    return lambda page: expect(plot_svg(page, elem_id)).to_be_visible(timeout=FIRST_LOAD_MS)


def _sentiment(page: Page) -> None:
    expect(plot_svg(page, "sentiment-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    page.locator("#sentiment-explain").click()  # the attribution highlights are this tab's coloured text
    page.mouse.move(0, 0)
    expect(page.get_by_test_id("attribution-heatmap").locator("p .bv-attr").first).to_be_visible(
        timeout=FIRST_LOAD_MS)


@dataclass(frozen=True)
class TabAction:
    """A tab, the button of its main action and a wait for that action's result."""

    title: str
    button: str
    done: Callable[[Page], None]


TABS = (
    TabAction("Tokenizer", "tokenizer-run",
              lambda page: expect(chip_flow(page).locator(".bv-chip").first).to_be_visible(timeout=FIRST_LOAD_MS)),
    TabAction("Masked words", "fill-mask-run", _plot("fill-mask-plot")),
    TabAction("Next sentence", "nsp-run", _plot("nsp-plot")),
    TabAction("Sentiment", "sentiment-run", _sentiment),
    TabAction("Entities", "ner-run", lambda page: expect(page.get_by_test_id("ner-entities").locator("mark").first)
              .to_be_visible(timeout=FIRST_LOAD_MS)),
    TabAction("Zero-shot", "zero-shot-run", _plot("zero-shot-plot")),
    TabAction("Question answering", "qa-run", _plot("qa-plot")),
    TabAction("Similarity", "similarity-run", _plot("similarity-matrix")),
    TabAction("Inside BERT", "attention-run", _plot("attention-head-view")),
    TabAction("Fine-tuning lab", "finetune-run", lambda page: expect(page.locator("#finetune-status"))
              .to_contain_text("training steps took", timeout=TRAIN_MS)),
    TabAction("Models", "models-refresh", lambda page: expect(page.get_by_test_id("cache-summary"))
              .to_contain_text("Models run on", timeout=FIRST_LOAD_MS)),
)


@pytest.fixture(params=["light", "dark"])
def scheme_page(request: pytest.FixtureRequest, browser: Browser, app_server: str) -> Iterator[Page]:
    """The app at 1280 px in a page whose browser prefers the parametrized colour scheme."""
    with app_in_new_context(browser, app_server, viewport={"width": 1280, "height": 900},
                            color_scheme=request.param) as page:
        yield page


def _excluded(rule: str, target: str) -> bool:
    return any(rule == r and piece in target for r, piece, _why in EXCLUDED)


def blocking_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, as "rule (impact): selector" lines; every violation
    (any impact) is printed grouped by rule."""
    violations = Axe().run(page).response["violations"]
    blocking = []
    for violation in violations:
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
        print(f"  {violation['id']} ({violation['impact']}, {len(targets)} nodes): {violation['help']}")
        for target, node in zip(targets[:5], violation["nodes"], strict=False):
            why = " ".join(node.get("failureSummary", "").split())
            print(f"      {target}: {why[:160]}")
        if violation["impact"] in BLOCKING:
            blocking += [f"{violation['id']} ({violation['impact']}): {t}" for t in targets
                         if not _excluded(violation["id"], t)]
    return blocking


def test_every_tab_after_its_main_action_has_no_serious_axe_violation(scheme_page: Page) -> None:
    """One page per colour scheme visits the tabs in order (a page load per tab would double the run)."""
    page = scheme_page
    # Gradio follows the browser: .dark on the page exactly when it prefers a dark scheme.
    dark = page.evaluate("() => document.body.classList.contains('dark')"
                         " || document.documentElement.classList.contains('dark')")
    assert dark == page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
    found = {}
    for tab in TABS:
        page.get_by_role("tab", name=tab.title, exact=True).click()
        page.locator(f"#{tab.button}").click()
        page.mouse.move(0, 0)  # the page at rest, not the button under the pointer (hover shades are mid-transition)
        tab.done(page)
        # A component still loading is drawn faded: check the settled page.
        expect(page.locator(".pending")).to_have_count(0, timeout=FIRST_LOAD_MS)
        print(f"\n[{tab.title}]")
        found[tab.title] = blocking_violations(page)
    assert {title: lines for title, lines in found.items() if lines} == {}


FOCUSED = "() => { const e = document.activeElement; return e ? (e.id || e.getAttribute('aria-label') || " \
          "(e.innerText || '').trim().slice(0, 40) || e.tagName) : null; }"


def test_every_tabs_main_action_works_from_the_keyboard(app_page: Page) -> None:
    """Each tab opens with Enter on its tab button; Tab reaches its main button through its controls, Enter runs it."""
    page = app_page
    for tab in TABS:
        tab_button = page.get_by_role("tab", name=tab.title, exact=True)
        tab_button.focus()
        page.keyboard.press("Enter")
        expect(tab_button).to_have_attribute("aria-selected", "true")
        visited = []
        for _ in range(80):
            page.keyboard.press("Tab")
            if page.evaluate("id => document.activeElement && document.activeElement.id === id", tab.button):
                break
            visited.append(page.evaluate(FOCUSED))
        else:
            pytest.fail(f"{tab.title}: Tab never reached #{tab.button}; focus went through {visited}")
        print(f"\n[{tab.title}] {len(visited)} stops before #{tab.button}: {visited}")
        page.keyboard.press("Enter")
        tab.done(page)
        expect(page.locator(".pending")).to_have_count(0, timeout=FIRST_LOAD_MS)
