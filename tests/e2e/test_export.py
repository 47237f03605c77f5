"""Standalone exports in Chromium: each view's HTML file opens with every request blocked and shows the same numbers
as the app; every chart downloads as SVG and PNG."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.e2e.helpers import FIRST_LOAD_MS, plot_svg

pytestmark = pytest.mark.e2e

TRAIN_MS = 120_000
# Each chart's traces as drawn (plotly's full data: typed arrays decoded), the same for any plotly.js version.
FIGURE_DATA = """(charts) => charts.map((chart) => chart._fullData.map((trace) => {
  const plain = (value) => value === undefined ? null : JSON.parse(JSON.stringify(value, (key, v) =>
    ArrayBuffer.isView(v) ? Array.from(v) : v));
  return {type: trace.type, name: trace.name ?? null, x: plain(trace.x), y: plain(trace.y), z: plain(trace.z),
          text: plain(trace.text)};
}))"""


def _figures(page: Page, selectors: list[str]) -> list:
    """The traces of the chart inside each of ``selectors``, in order."""
    charts = [page.locator(f"{selector} .js-plotly-plot").first for selector in selectors]
    for chart in charts:
        expect(chart.locator(".main-svg").first).to_be_visible(timeout=FIRST_LOAD_MS)
    return page.evaluate(FIGURE_DATA, [chart.element_handle() for chart in charts])


def _export(page: Page, browser: Browser, view: str, tmp_path: Path) -> tuple[Page, list[str]]:
    """Press the view's "Download this view (HTML)", then open the file in a fresh context where every request is
    aborted; returns that page and the URLs it tried to fetch (the caller closes its context)."""
    with page.expect_download(timeout=FIRST_LOAD_MS) as info:
        page.locator(f"#{view}-export-run").click()
    download = info.value
    assert download.suggested_filename.startswith(view.replace("-", "_")) or download.suggested_filename.startswith(
        view), download.suggested_filename
    assert download.suggested_filename.endswith(".html")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    assert path.stat().st_size < 6_000_000
    context = browser.new_context(offline=True)
    attempted: list[str] = []
    context.route("**/*", lambda route: _block(route, attempted))
    offline = context.new_page()
    offline.on("request", lambda request: attempted.append(request.url))
    offline.goto(path.as_uri())
    expect(offline.locator("h1")).to_be_visible()
    return offline, attempted


def _text(page: Page, selector: str) -> str:
    """The text of a view's HTML part (the part's heading left out), spaces collapsed."""
    part = page.locator(selector)
    text = part.evaluate("node => Array.from(node.childNodes).filter(c => !(c.matches && c.matches('h2'))).map(c => "
                         "c.textContent).join('')")
    return " ".join(text.split())


def _block(route: Route, attempted: list[str]) -> None:
    """Let the file itself load (Playwright routes file: URLs too); abort and note anything else."""
    if route.request.url.startswith("file:"):
        route.continue_()
        return
    attempted.append(route.request.url)
    route.abort()


def _network(attempted: list[str]) -> list[str]:
    return [url for url in attempted if not url.startswith(("file:", "data:", "blob:"))]


def _check_offline(offline: Page, attempted: list[str], *, tab: str, shows: list[str]) -> None:
    """No request left the file; the header names the texts and links back to the tab's view."""
    header = offline.locator(".bv-export-header")
    for text in shows:
        expect(header).to_contain_text(text)
    link = header.get_by_role("link")
    expect(link).to_have_attribute("href", re.compile(rf"^http://127\.0\.0\.1:\d+/\?.*tab={tab}"))
    assert _network(attempted) == []
    offline.context.close()


def test_tokenizer_chips_export(app_page: Page, browser: Browser, tmp_path: Path) -> None:
    page = app_page
    page.locator("#tokenizer-run").click()
    chips = page.locator("#tokenizer-chips .bv-chip-flow").first
    expect(chips).to_contain_text("[CLS]", timeout=FIRST_LOAD_MS)
    offline, attempted = _export(page, browser, "tokenizer", tmp_path)
    assert offline.locator("#part-chips .bv-chip-flow").first.locator(".bv-chip").all_text_contents() == \
        chips.locator(".bv-chip").all_text_contents()
    assert _text(offline, "#part-summary") == _text(page, "#tokenizer-summary")
    # Plain HTML, no figure: no plotly.js in it.
    assert offline.evaluate("typeof window.Plotly") == "undefined"
    _check_offline(offline, attempted, tab="tokenizer", shows=["The cat sat on the mat.", "It was a lazy afternoon."])


def test_fill_mask_bars_export_and_the_chart_as_svg_and_png(app_page: Page, browser: Browser, tmp_path: Path) -> None:
    page = app_page
    page.get_by_role("tab", name="Masked words").click()
    page.locator("#fill-mask-run").click()
    expect(plot_svg(page, "fill-mask-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    shown = _figures(page, ["#fill-mask-plot"])
    offline, attempted = _export(page, browser, "fill-mask", tmp_path)
    assert _figures(offline, ["#part-bars"]) == shown
    assert _text(offline, "#part-header") == _text(page, "#fill-mask-header")
    _check_offline(offline, attempted, tab="fill_mask", shows=["The cat [MASK] on the [MASK]."])

    # The chart's own buttons: plotly's SVG and PNG of what is drawn.
    bar = page.locator("#fill-mask-plot").get_by_role("group", name="Download the Predictions chart")
    with page.expect_download() as info:
        bar.get_by_role("button", name="Download the Predictions chart as SVG").click()
    svg = tmp_path / "chart.svg"
    info.value.save_as(svg)
    assert info.value.suggested_filename == "fill-mask-plot.svg"
    root = ElementTree.parse(svg).getroot()
    assert root.tag.endswith("svg")
    labels = "".join(root.itertext())
    assert "mask 1" in labels and "mask 2" in labels
    png_button = bar.get_by_role("button", name="Download the Predictions chart as PNG")
    png_button.focus()
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    png = tmp_path / "chart.png"
    info.value.save_as(png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 600 and height >= 300
    # A redraw keeps one bar per chart.
    page.locator("#fill-mask-run").click()
    expect(plot_svg(page, "fill-mask-plot")).to_be_visible()
    expect(page.locator("#fill-mask-plot .bv-plot-export")).to_have_count(1)


def test_ner_spans_export(app_page: Page, browser: Browser, tmp_path: Path) -> None:
    page = app_page
    page.get_by_role("tab", name="Entities").click()
    page.locator("#ner-run").click()
    view = page.locator("#ner-view")
    expect(view.locator("mark").first).to_be_visible(timeout=FIRST_LOAD_MS)
    offline, attempted = _export(page, browser, "ner", tmp_path)
    assert _text(offline, "#part-view") == _text(page, "#ner-view")
    expect(offline.locator("#part-view mark")).to_have_count(view.locator("mark").count())
    _check_offline(offline, attempted, tab="ner", shows=["Apple CEO Tim Cook"])


def test_qa_highlight_and_logits_export(app_page: Page, browser: Browser, tmp_path: Path,
                                       screenshot_dir: Path) -> None:
    page = app_page
    page.get_by_role("tab", name="Question answering").click()
    page.locator("#qa-run").click()
    shown = _figures(page, ["#qa-plot"])
    offline, attempted = _export(page, browser, "qa", tmp_path)
    assert _figures(offline, ["#part-plot"]) == shown
    assert _text(offline, "#part-answer") == _text(page, "#qa-view")
    offline.set_viewport_size({"width": 1100, "height": 900})
    offline.screenshot(path=str(screenshot_dir / "export_qa.png"), full_page=True)
    _check_offline(offline, attempted, tab="qa", shows=["Who designed the Eiffel Tower?"])


def test_attention_views_and_rollout_export(app_page: Page, browser: Browser, tmp_path: Path) -> None:
    page = app_page
    page.get_by_role("tab", name="Inside BERT").click()
    page.locator("#attention-run").click()
    views = ["#attention-head-view", "#attention-model-view", "#attention-heatmap", "#attention-summaries"]
    shown = _figures(page, views)
    offline, attempted = _export(page, browser, "attention", tmp_path)
    assert _figures(offline, ["#part-head_view", "#part-model_view", "#part-heatmap", "#part-summaries"]) == shown
    _check_offline(offline, attempted, tab="attention", shows=["The cat sat on the mat."])

    page.locator("#inside-tabs").get_by_role("tab", name="Rollout & flow", exact=True).click()
    shown = _figures(page, ["#rollout-bars", "#rollout-heatmap"])
    offline, attempted = _export(page, browser, "rollout", tmp_path)
    assert _figures(offline, ["#part-bars", "#part-heatmap"]) == shown
    _check_offline(offline, attempted, tab="attention", shows=["It was a lazy afternoon."])


def test_attributions_export(app_page: Page, browser: Browser, tmp_path: Path) -> None:
    page = app_page
    page.get_by_role("tab", name="Sentiment").click()
    page.locator("#sentiment-run").click()
    expect(plot_svg(page, "sentiment-plot")).to_be_visible(timeout=FIRST_LOAD_MS)
    page.locator("#sentiment-explain").click()
    shown = _figures(page, ["#sentiment-attribution"])
    offline, attempted = _export(page, browser, "attributions", tmp_path)
    assert _figures(offline, ["#part-attribution"]) == shown
    assert _text(offline, "#part-heatmap") == _text(page, "#sentiment-heatmap")
    _check_offline(offline, attempted, tab="sentiment", shows=["Integration steps"])


def test_lab_curves_export_never_trains_again(app_page: Page, browser: Browser, tmp_path: Path) -> None:
    page = app_page
    page.get_by_role("tab", name="Fine-tuning lab").click()
    page.locator("#finetune-export-run").click()
    expect(page.get_by_test_id("error-panel").filter(has_text="train a model")).to_be_visible(timeout=FIRST_LOAD_MS)
    page.locator("#finetune-run").click()
    expect(page.locator("#finetune-status")).to_contain_text("training steps took", timeout=TRAIN_MS)
    shown = _figures(page, ["#finetune-loss", "#finetune-accuracy", "#finetune-confusion"])
    offline, attempted = _export(page, browser, "finetune", tmp_path)
    assert _figures(offline, ["#part-loss", "#part-accuracy", "#part-confusion"]) == shown
    expect(offline.locator("#part-status")).to_contain_text("training steps took")
    _check_offline(offline, attempted, tab="finetune", shows=["Learning rate"])


@pytest.mark.parametrize(("title", "view", "charts", "tab", "shows"), [
    ("Next sentence", "nsp", {"#nsp-plot": "#part-bars"}, "nsp", ["It was a lazy afternoon."]),
    ("Zero-shot", "zero-shot", {"#zero-shot-plot": "#part-bars"}, "zero_shot", ["Candidate labels"]),
    ("Similarity", "similarity", {"#similarity-matrix": "#part-matrix"}, "similarity", ["Sentences, one per line"]),
])
def test_the_other_tabs_export_their_charts(app_page: Page, browser: Browser, tmp_path: Path, title: str, view: str,
                                             charts: dict[str, str], tab: str, shows: list[str]) -> None:
    page = app_page
    page.get_by_role("tab", name=title, exact=True).click()
    page.locator(f"#{view}-run").click()
    shown = _figures(page, list(charts))
    offline, attempted = _export(page, browser, view, tmp_path)
    assert _figures(offline, list(charts.values())) == shown
    _check_offline(offline, attempted, tab=tab, shows=shows)
