"""Permalinks in the app (bertviz_ui/ui/permalink.py): what opening a link restores, runs and says, in local and
public mode; every tab's link holds every input of its view."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from urllib.parse import parse_qsl

import gradio as gr
import pytest

from bertviz_ui.ui.app import build_demo
from bertviz_ui.ui.permalink import Link, _field
from bertviz_ui.ui.tabs import TABS


def page(query: str) -> SimpleNamespace:
    """The gr.Request of a page opened with ``query``."""
    return SimpleNamespace(query_params=SimpleNamespace(multi_items=lambda: parse_qsl(query, keep_blank_values=True)))


@dataclasses.dataclass
class Opened:
    demo: gr.Blocks
    by_id: dict

    def open(self, query: str) -> dict:
        (load,) = [fn for fn in self.demo.fns.values() if fn.targets and fn.targets[0][1] == "load"]
        shown = load.fn(page(query))
        selected = [value.selected for component, value in shown.items() if isinstance(component, gr.Tabs)]
        values = {component.elem_id: value for component, value in shown.items() if component.elem_id}
        values["selected"] = selected[0] if selected else None
        return values


@pytest.fixture(scope="module")
def local(settings) -> Opened:
    demo = build_demo(settings)
    return Opened(demo, {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)})


@pytest.fixture(scope="module")
def public(settings) -> Opened:
    demo = build_demo(dataclasses.replace(settings, public=True))
    return Opened(demo, {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)})


def test_the_issues_example_opens_masked_words_with_that_sentence_and_presses_predict(local: Opened) -> None:
    shown = local.open("tab=fill_mask&text=The+cat+%5BMASK%5D+on+the+mat.")
    assert shown["selected"] == "fill_mask"
    assert shown["fill-mask-text"] == "The cat [MASK] on the mat."
    assert shown["fill-mask-model"] == "tiny:masked_lm" and shown["fill-mask-top-k"] == 5  # left out: the default
    assert shown["bv-link-press"] == "fill-mask-run" and shown["bv-link-notes"] == ""
    assert shown["tokenizer-text"] == "The cat sat on the mat."  # the other tabs keep their examples


def test_a_plain_page_opens_with_the_examples_and_presses_nothing(local: Opened) -> None:
    shown = local.open("")
    assert shown["selected"] is None and shown["bv-link-press"] == "" and shown["bv-link-notes"] == ""
    assert shown["fill-mask-text"] == "The cat [MASK] on the [MASK]."


def test_a_setting_the_link_leaves_out_is_blank_not_the_example(local: Opened) -> None:
    shown = local.open("tab=attention&text=Hello+there&heads=1,0&layer=1&hide_special=true")
    assert (shown["attention-text"], shown["attention-pair"]) == ("Hello there", "")
    assert (shown["attention-heads"], shown["attention-layer"], shown["attention-hide-special"]) == ([1, 0], 1, True)


def test_bad_parameters_are_noted_escaped_and_the_view_still_runs(local: Opened) -> None:
    shown = local.open("tab=fill_mask&top_k=999&%3Cimg+src%3Dx+onerror%3Dalert(1)%3E=1&text=A+%5BMASK%5D.")
    notes = shown["bv-link-notes"]
    assert "Top-k must be a whole number between 1 and 50" in notes
    assert "&lt;img src=x onerror=alert(1)&gt;" in notes and "<img" not in notes
    assert shown["fill-mask-top-k"] == 5 and shown["fill-mask-text"] == "A [MASK]."
    assert shown["bv-link-press"] == "fill-mask-run"


def test_a_link_to_a_model_the_tab_does_not_offer_fills_the_box_but_does_not_load_it(local: Opened) -> None:
    shown = local.open("tab=sentiment&model=someone%2Fbig-model&text=Great")
    assert shown["sentiment-model"] == "someone/big-model"
    assert shown["bv-link-press"] == ""
    assert "doesn&#x27;t offer (someone/big-model)" in shown["bv-link-notes"]


@pytest.mark.parametrize("ref", ["someone/big-model", "/etc", "..%2F..%2Fetc", "tiny:nonsense"])
def test_a_public_server_drops_a_model_its_policy_refuses(public: Opened, ref: str) -> None:
    shown = public.open(f"tab=sentiment&model={ref}&text=Great")
    assert shown["sentiment-model"] == "tiny:sequence_classification"  # the tab's default
    assert shown["bv-link-press"] == "sentiment-run"  # the default model is run on the link's text
    assert "(from the link; ignored)" in shown["bv-link-notes"]


def test_a_public_server_runs_an_offered_model_from_a_link(public: Opened) -> None:
    shown = public.open("tab=tokenizer&model=google-bert%2Fbert-base-cased&text=Hi")
    assert shown["tokenizer-model"] == "google-bert/bert-base-cased" and shown["bv-link-press"] == "tokenizer-run"


def test_training_is_never_started_by_a_link(local: Opened) -> None:
    shown = local.open("tab=finetune&epochs=2&lr=0.0001")
    assert shown["selected"] == "finetune" and shown["bv-link-press"] == ""
    assert (shown["finetune-epochs"], shown["finetune-lr"]) == (2, 0.0001)


@pytest.mark.parametrize("spec", [spec for spec in TABS if spec.id != "models"], ids=lambda spec: spec.id)
def test_every_views_inputs_are_in_its_tabs_link(settings, spec) -> None:
    """A link restores everything its view is computed from: the inputs of the API event of the button a link presses
    are all settings of the link (the lab's link presses nothing: training is never started by a link)."""
    from bertviz_ui.models import build_cache
    from bertviz_ui.ui.context import AppContext

    ctx = AppContext(settings=settings, cache=build_cache(settings))
    with gr.Blocks() as demo, gr.Tab(spec.title) as tab:
        opening = spec.build(ctx, tab)
    link = opening.link
    assert link is not None and link.tab == spec.id
    if link.run is None:
        assert spec.id == "finetune"
        return
    (view,) = [fn for fn in demo.fns.values() if fn.api_name and (link.run._id, "click") in fn.targets]
    settings_ids = {component._id for component in link.components.values()}
    assert {block._id for block in view.inputs} <= settings_ids
    assert link.components["model"] in view.inputs


def test_a_component_without_a_setting_kind_is_refused_when_declared() -> None:
    with gr.Blocks():
        with pytest.raises(TypeError, match="No permalink setting for a HTML"):
            Link("x", view=gr.HTML())
        assert _field("rate", gr.Slider(0.05, 0.5, value=0.15, step=0.05)).whole is False
        assert _field("k", gr.Slider(1, 50, value=5, step=1)).whole is True


@pytest.mark.parametrize("mode", ["local", "public"])
def test_a_hostile_model_or_tab_name_in_a_link_reaches_the_notes_escaped(local: Opened, public: Opened,
                                                                         mode: str) -> None:
    opened = local if mode == "local" else public
    xss = "%3Cimg+src%3Dx+onerror%3Dalert(1)%3E"
    for query in (f"tab=sentiment&model={xss}&text=Hi", f"tab={xss}&text=Hi"):
        notes = opened.open(query)["bv-link-notes"]
        assert notes and "<img" not in notes, (mode, query)
        # Quoted escaped where a note names it; a public server's refusal names no reference at all (same words
        # for any path, so no file-existence oracle).
        quoted = mode == "local" or query.startswith("tab=%3C")
        assert ("&lt;img src=x onerror=alert(1)&gt;" in notes) is quoted, (mode, query, notes)
    # The model box shows a refused or unoffered name as text (gr.Dropdown), never as HTML; public drops it.
    shown = opened.open(f"tab=sentiment&model={xss}&text=Hi")
    assert shown["bv-link-press"] == ("" if mode == "local" else "sentiment-run")
