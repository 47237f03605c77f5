"""Accessibility (issue 18): every tab, after its main action, passes axe-core (axe-playwright-python) with no serious
or critical violation and no heading-order one, in the light theme and in the dark one the browser asks for (Gradio
follows prefers-color-scheme); every chart then on the page has a text alternative (assets/chart_text.js) whose numbers
are the figure's, and text that keeps AA contrast on the chart's backgrounds. All violations found are printed, grouped
by rule, for the report (`pytest -s`). Every control of every tab is reached with Tab, in page order, and operated
from the keyboard."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Locator, Page, TimeoutError, expect

from tests.e2e.helpers import FIRST_LOAD_MS, app_in_new_context, chip_flow, plot_svg
from tests.unit.test_colours import AA_TEXT, contrast

pytestmark = pytest.mark.e2e

TRAIN_MS = 60_000
BLOCKING = ("serious", "critical")
# Moderate rules that block too: headings go down one level at a time.
BLOCKING_RULES = ("heading-order",)

# (rule, a piece of the node's CSS selector): violations inside Gradio's own components that our code can't fix.
# Each entry says why; a rule is never silenced for the whole page.
EXCLUDED: tuple[tuple[str, str, str], ...] = (
    # The empty state of a gr.File or gr.Plot not filled yet is a <div aria-label="..."> with no role: Gradio's markup.
    ("aria-prohibited-attr", "> .empty.large.unpadded_box", "Gradio's empty-component placeholder"),
)


def _plot(elem_id: str) -> Callable[[Page], None]:
    return lambda page: expect(plot_svg(page, elem_id)).to_be_visible(timeout=FIRST_LOAD_MS)


def _explained(page: Page) -> None:
    expect(page.get_by_test_id("attribution-heatmap").locator("p .bv-attr").first).to_be_visible(
        timeout=FIRST_LOAD_MS)


@dataclass(frozen=True)
class TabAction:
    """A tab, the button of its main action and a wait for that action's result; ``then``: a second action that
    result offers further down the tab (its button and a wait for its result), pressed too."""

    title: str
    button: str
    done: Callable[[Page], None]
    then: tuple[str, Callable[[Page], None]] | None = None


TABS = (
    TabAction("Tokenizer", "tokenizer-run",
              lambda page: expect(chip_flow(page).locator(".bv-chip").first).to_be_visible(timeout=FIRST_LOAD_MS)),
    TabAction("Masked words", "fill-mask-run", _plot("fill-mask-plot")),
    TabAction("Next sentence", "nsp-run", _plot("nsp-plot")),
    # Explain draws the attribution highlights (this tab's coloured text) and a second chart.
    TabAction("Sentiment", "sentiment-run", _plot("sentiment-plot"), then=("sentiment-explain", _explained)),
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
        if violation["impact"] in BLOCKING or violation["id"] in BLOCKING_RULES:
            blocking += [f"{violation['id']} ({violation['impact']}): {t}" for t in targets
                         if not _excluded(violation["id"], t)]
    return blocking


# What the page says about each visible chart: its summary, its values tables, its data, its text colours and backgrounds.
CHARTS = """() => [...document.querySelectorAll('.js-plotly-plot')].filter(gd => gd.getClientRects().length).map(gd => {
  const details = gd.nextElementSibling && gd.nextElementSibling.matches('details.bv-chart-values')
    ? gd.nextElementSibling : null;
  const img = gd.querySelector('.main-svg[role=img]');
  const title = gd.layout.title;
  const skip = t => t.closest('.hoverlayer, .heatmap-label') || t.classList.contains('bartext-inside');
  return {
    id: gd.parentElement.id, title: (title && typeof title === 'object' ? title.text : title) || '',
    label: img && img.getAttribute('aria-label'), summary: details && details.querySelector('summary').textContent,
    tables_beside: gd.parentElement.querySelectorAll('details.bv-chart-values').length,
    data: gd.data.filter(t => t.visible !== false).map(t => ({type: t.type, horizontal: t.orientation === 'h',
      x: t.x || null, y: t.y || null, z: t.z || null, mode: t.mode || 'lines+markers'})),
    tables: details ? [...details.querySelectorAll('table')].map(table =>
      [...table.querySelectorAll('td[data-value]')].map(td => [td.textContent, Number(td.dataset.value)])) : [],
    backgrounds: [getComputedStyle(gd.querySelector('.main-svg')).backgroundColor,
                  ...[...gd.querySelectorAll('.bglayer rect.bg')].map(r => getComputedStyle(r).fill)],
    texts: [...gd.querySelectorAll('.main-svg text')].filter(t => t.textContent.trim() && !skip(t)
      && t.getBBox().width > 0).map(t => [t.textContent.trim().slice(0, 30), getComputedStyle(t).fill,
                                          Number(getComputedStyle(t).fillOpacity)]),
  };
})"""
EVERY_CHART_HAS_VALUES = """() => [...document.querySelectorAll('.js-plotly-plot')].filter(gd => gd.getClientRects().length)
  .every(gd => gd.nextElementSibling && gd.nextElementSibling.matches('details.bv-chart-values'))"""
# assets/chart_text.js: a series' table shows its first MAX_ROWS rows; a heatmap up to MATRIX_ROWS x MATRIX_COLS whole,
# a larger one as its TOP_CELLS largest cells.
MAX_ROWS, MATRIX_ROWS, MATRIX_COLS, TOP_CELLS = 40, 30, 12, 20


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def expected_numbers(trace: dict) -> list[float] | None:
    """The numbers a trace's values table shows, in reading order; None for a trace whose table holds only labels."""
    if trace["type"] == "bar":
        return [v for v in (trace["x"] if trace["horizontal"] else trace["y"])[:MAX_ROWS] if _finite(v)]
    if trace["type"] == "heatmap":
        cells = [v for row in trace["z"] for v in row if _finite(v)]
        if len(trace["z"]) <= MATRIX_ROWS and max(map(len, trace["z"])) <= MATRIX_COLS:
            return cells
        return sorted(cells, reverse=True)[:TOP_CELLS]
    segments = "lines" in trace["mode"] and any(v is None for v in trace["y"])
    return None if trace["mode"] == "text" or segments else [v for v in trace["y"][:MAX_ROWS] if _finite(v)]


def _rgb(colour: str) -> tuple[list[float], float]:
    """(r, g, b) in 0-255 and alpha from a computed rgb()/rgba() colour."""
    parts = [float(v) for v in re.findall(r"[\d.]+", colour)]
    return parts[:3], parts[3] if len(parts) > 3 else 1.0


def _hex(rgb: list[float]) -> str:
    return "#" + "".join(f"{round(c):02x}" for c in rgb)


def _plain(text: str) -> str:
    return " ".join(re.sub(r"<[^>]*>", "", re.sub(r"<br\s*/?>", " ", text)).split())


def chart_problems(page: Page) -> list[str]:
    """What is wrong with the visible charts' text alternatives and text contrast, one line per problem."""
    problems = []
    for chart in page.evaluate(CHARTS):
        name = chart["id"]
        label = chart["label"] or ""
        if _plain(chart["title"]) not in label or "table" not in label:
            problems.append(f"{name}: summary {label!r} does not name the title {chart['title']!r} and the table")
        if chart["summary"] != "Values of this chart" or chart["tables_beside"] != 1:
            problems.append(f"{name}: {chart['tables_beside']} values tables beside the chart")
        expected = [numbers for numbers in map(expected_numbers, chart["data"]) if numbers is not None]
        shown = [table for table in chart["tables"] if table]
        if [len(n) for n in expected if n] != [len(t) for t in shown]:
            problems.append(f"{name}: tables of {[len(t) for t in shown]} numbers, the data has {expected}")
        for numbers, table in zip([n for n in expected if n], shown, strict=False):
            for value, (text, exact) in zip(numbers, table, strict=False):
                if exact != value or not math.isclose(float(text), value, rel_tol=1e-3, abs_tol=1e-12):
                    problems.append(f"{name}: table says {text} ({exact}) where the data say {value}")
        backgrounds = [_hex(_rgb(c)[0]) for c in chart["backgrounds"] if _rgb(c)[1] > 0]
        for text, fill, opacity in chart["texts"]:
            rgb, alpha = _rgb(fill)
            for background in backgrounds:
                # A translucent fill is seen blended with what is behind it.
                base = _rgb(f"rgb{tuple(int(background[i:i + 2], 16) for i in (1, 3, 5))}")[0]
                seen = _hex([alpha * opacity * c + (1 - alpha * opacity) * b for c, b in zip(rgb, base, strict=True)])
                if contrast(seen, background) < AA_TEXT:
                    problems.append(f"{name}: {text!r} in {seen} on {background}: {contrast(seen, background):.2f}:1")
    return problems


def test_every_tab_after_its_main_action_passes_axe_and_its_charts_read_as_text(scheme_page: Page) -> None:
    """One page per colour scheme visits the tabs in order (a page load per tab would double the run)."""
    page = scheme_page
    # Gradio follows the browser: .dark on the page exactly when it prefers a dark scheme.
    dark = page.evaluate("() => document.body.classList.contains('dark')"
                         " || document.documentElement.classList.contains('dark')")
    assert dark == page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
    found = {}
    charts = 0
    for tab in TABS:
        page.get_by_role("tab", name=tab.title, exact=True).click()
        page.locator(f"#{tab.button}").click()
        page.mouse.move(0, 0)  # the page at rest, not the button under the pointer (hover shades are mid-transition)
        tab.done(page)
        if tab.then:
            page.locator(f"#{tab.then[0]}").click()
            page.mouse.move(0, 0)
            tab.then[1](page)
        # A component still loading is drawn faded: check the settled page.
        expect(page.locator(".pending")).to_have_count(0, timeout=FIRST_LOAD_MS)
        # Every drawn chart has its values beside it (the script adds them on the draw's plotly_afterplot).
        page.wait_for_function(EVERY_CHART_HAS_VALUES, timeout=5_000)
        print(f"\n[{tab.title}]")
        found[tab.title] = blocking_violations(page) + chart_problems(page)
        charts += page.locator(".js-plotly-plot:visible").count()
    assert {title: lines for title, lines in found.items() if lines} == {}
    assert charts >= 15  # the tabs' main actions draw charts on 8 tabs: the checks above ran on them


FOCUSED = "() => { const e = document.activeElement; return e ? (e.id || e.getAttribute('aria-label') || " \
          "(e.innerText || '').trim().slice(0, 40) || e.tagName) : null; }"
# The focused element: marked as reached, described, and whether it is still inside the open tab's panel.
STEP = """panel => { const e = document.activeElement; if (!e || e === document.body) return null;
  if (!e.dataset.kbReached) e.dataset.kbReached = String(window.kbCount = (window.kbCount || 0) + 1);
  return {inside: document.querySelector(panel).contains(e), tag: e.tagName.toLowerCase(), type: e.type || '',
          role: e.getAttribute('role') || '', name: e.id || e.getAttribute('aria-label') || e.name ||
          (e.innerText || '').trim().slice(0, 40) || e.tagName}; }"""
# Visible keyboard controls of the open tab's panel that Tab never reached (a radio group needs one of its radios).
UNREACHED = """panel => [...document.querySelector(panel).querySelectorAll(
    'input:not([type=hidden]), textarea, select, button, summary, a[href], [tabindex]:not([tabindex="-1"])')]
  .filter(e => e.checkVisibility({visibilityProperty: true}) && !e.disabled && e.tabIndex >= 0 && !e.dataset.kbReached
    && !(e.type === 'radio' && [...document.getElementsByName(e.name)].some(r => r.dataset.kbReached)))
  .map(e => (e.id || e.getAttribute('aria-label') || e.name || (e.innerText || '').trim().slice(0, 40) || e.tagName)
    + ' in #' + (e.parentElement.closest('[id]') || {}).id)"""

# The order in which Tab first reached the panel's controls, read in page order: ascending when they agree.
ORDER = "panel => [...document.querySelectorAll(panel + ' [data-kb-reached]')].map(e => Number(e.dataset.kbReached))"


# The panel's disabled controls, as one string.
CONTROLS = """panel => [...document.querySelector(panel).querySelectorAll('input, textarea, select, button')]
  .filter(e => e.disabled).map(e => e.id || e.getAttribute('aria-label') || e.name || e.tagName).join(' | ')"""
# Whether the radio before the focused one, in the same group, is the chosen one.
PREVIOUS_RADIO_CHOSEN = """() => { const e = document.activeElement;
  const group = [...e.closest('fieldset').querySelectorAll('input[type=radio]')];
  const i = group.indexOf(e); return i > 0 && group[i - 1].checked; }"""
# The focused combobox's list (Gradio opens it when the box gets focus): how many options, which one is chosen.
OPTIONS = """() => { const list = document.getElementById(document.activeElement.getAttribute('aria-controls'));
  const options = list ? [...list.querySelectorAll('[role=option]')] : [];
  return {count: options.length, chosen: options.findIndex(o => o.getAttribute('aria-selected') === 'true')}; }"""


def _back_to(page: Page, box: Locator) -> None:
    """Gradio's dropdown blurs its box once Enter chooses (focus goes to the page; Tab goes on from the box): Tab to
    the next control and Shift+Tab back, as a keyboard user would, and the box has the focus again."""
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    expect(box).to_be_focused()


def operate(page: Page, kind: str) -> bool:
    """Operate the focused control of ``kind`` from the keyboard, check that it changed, and put it back; False for
    a control with nothing to change (one radio, a dropdown with one option or a typed value)."""
    focused = page.locator("*:focus")
    if kind == "checkbox":
        was = focused.is_checked()
        page.keyboard.press("Space")
        expect(focused).to_be_checked(checked=not was)
        page.keyboard.press("Space")
        expect(focused).to_be_checked(checked=was)
    elif kind == "radio":
        # Gradio 6's gr.Radio gives every option's <input> a name of its own, so each option is a tab stop of its own
        # and arrows do not move the choice (its markup, not ours): Space chooses. Operated on an option that follows
        # the chosen one, so Shift+Tab reaches the chosen one to put the choice back.
        if focused.is_checked() or not page.evaluate(PREVIOUS_RADIO_CHOSEN):
            return False
        page.keyboard.press("Space")
        expect(focused).to_be_checked()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Space")
        expect(focused).to_be_checked()  # the option chosen at first, which has the focus now
        page.keyboard.press("Tab")
        expect(focused).not_to_be_checked()
    elif kind == "summary":
        # A chart's "Values of this chart" or a <details> of a result: Enter opens it and shows what it holds.
        details = focused.locator("xpath=..")
        page.keyboard.press("Enter")
        expect(details).to_have_attribute("open", "")
        expect(details.locator("xpath=./*[not(self::summary)]").first).to_be_visible()
        page.keyboard.press("Enter")
        expect(details).not_to_have_attribute("open", "")
    elif kind == "range":
        before = focused.input_value()
        page.keyboard.press("ArrowRight")
        expect(focused).not_to_have_value(before)
        page.keyboard.press("ArrowLeft")
        expect(focused).to_have_value(before)
    elif kind == "combobox":
        expect(focused).to_have_attribute("aria-expanded", "true")
        options = page.evaluate(OPTIONS)
        if options["count"] < 2 or options["chosen"] < 0:
            page.keyboard.press("Escape")
            return False
        box = page.locator("[data-kb-operated]")
        page.evaluate("() => { document.activeElement.dataset.kbOperated = '1'; }")
        before = box.input_value()
        page.keyboard.press("ArrowDown")  # the next option (the last wraps to the first)
        page.keyboard.press("Enter")
        expect(box).not_to_have_value(before)
        _back_to(page, box)
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Enter")
        expect(box).to_have_value(before)
        _back_to(page, box)
        page.keyboard.press("Escape")
        expect(box).to_have_attribute("aria-expanded", "false")
        page.evaluate("() => { delete document.activeElement.dataset.kbOperated; }")
    return True


def kind_of(step: dict) -> str | None:
    """Which operate() check a focused control gets: checkboxes, radios, sliders, dropdowns and the charts' values."""
    if step["tag"] == "input" and step["type"] in ("checkbox", "radio", "range"):
        return step["type"]
    if step["role"] == "combobox":
        return "combobox"
    return "summary" if step["tag"] == "summary" else None


def test_every_control_of_every_tab_works_from_the_keyboard(app_page: Page) -> None:
    """Each tab opens with Enter on its tab button; Tab reaches its main button through its controls, Enter runs it.
    Then, from the tab button again, Tab goes through the whole tab with its result (an action can draw above its
    button: the lab's schedule), and Enter runs a second action met on the way. Every visible control of the tab was
    reached, in page order, and the first control of each kind after the main button (checkbox, radio, slider,
    dropdown, a chart's values or a result's <details>) was operated with the keys a keyboard user would press: Space,
    arrows, Enter."""
    page = app_page
    operated_anywhere: set[str] = set()
    for tab in TABS:
        tab_button = page.get_by_role("tab", name=tab.title, exact=True)
        tab_button.focus()
        page.keyboard.press("Enter")
        expect(tab_button).to_have_attribute("aria-selected", "true")
        panel = f"#{tab_button.get_attribute('aria-controls')}"
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
        page.wait_for_function(EVERY_CHART_HAS_VALUES, timeout=5_000)

        tab_button.focus()
        operated: set[str] = set()
        walked = []
        past_button = False
        for _ in range(300):
            page.keyboard.press("Tab")
            step = page.evaluate(STEP, panel)
            if step is None:
                pytest.fail(f"{tab.title}: focus fell to the page after {walked[-5:]}")
            if not step["inside"]:
                if walked:
                    break
                continue  # the other tabs' buttons, before the panel
            walked.append(step["name"])
            if step["name"] == tab.button:
                past_button = True
            elif tab.then and step["name"] == tab.then[0]:
                page.keyboard.press("Enter")
                tab.then[1](page)
                expect(page.locator(".pending")).to_have_count(0, timeout=FIRST_LOAD_MS)
                page.wait_for_function(EVERY_CHART_HAS_VALUES, timeout=5_000)
                # The result arrives below the button: focus stays on it, so Tab goes on into that result.
                expect(page.locator(f"#{tab.then[0]}")).to_be_focused()
            elif (kind := kind_of(step)) and past_button and kind not in operated:
                before = page.evaluate(CONTROLS, panel)
                if operate(page, kind):
                    operated.add(kind)
                    # Put back, the control puts the tab back as it was (the Sentiment method enables the steps)...
                    try:
                        page.wait_for_function(f"([panel, before]) => ({CONTROLS})(panel) === before",
                                               arg=[panel, before], timeout=5_000)
                    except TimeoutError:
                        assert page.evaluate(CONTROLS, panel) == before, f"{tab.title}: {kind} not put back"
                    # ...and what it redrew is drawn, before Tab goes on into it.
                    expect(page.locator(f"{panel} .pending")).to_have_count(0, timeout=FIRST_LOAD_MS)
                    page.wait_for_function(EVERY_CHART_HAS_VALUES, timeout=5_000)
        else:
            pytest.fail(f"{tab.title}: Tab never left the tab's panel: {walked[-20:]}")
        print(f"  with its result, {len(walked)} stops, operated {sorted(operated)}: {walked}")
        unreached = page.evaluate(UNREACHED, panel)
        assert unreached == [], f"{tab.title}: Tab never reached {unreached}"
        order = page.evaluate(ORDER, panel)
        assert order == sorted(order), f"{tab.title}: Tab order is not the page's order"
        page.evaluate("panel => document.querySelectorAll(panel + ' [data-kb-reached]')"
                      ".forEach(e => { delete e.dataset.kbReached; })", panel)
        operated_anywhere |= operated
    # Every kind of control the app has was operated somewhere.
    assert operated_anywhere == {"checkbox", "radio", "range", "combobox", "summary"}
