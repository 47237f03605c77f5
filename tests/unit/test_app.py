"""The Blocks app as built: every registered tab, the download cache cleaned, nothing loaded on build."""

from __future__ import annotations

import gradio as gr

from bertviz_ui.ui.app import build_demo
from bertviz_ui.ui.tabs import TABS
from tests.unit.test_permalink_ui import page


def test_demo_has_every_tab_and_cleans_its_file_cache(settings):
    demo = build_demo(settings)
    titles = [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab) and block.label in
              {tab.title for tab in TABS}]
    assert titles == [tab.title for tab in TABS]
    assert demo.delete_cache == (3600, 3600)  # the lab's model zips that Gradio copies don't pile up
    api = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert {"qa", "attention", "parameters", "model_comparison", "finetune", "finetune_cancel"} <= api


def test_the_page_opens_with_every_tabs_examples_and_the_components_start_blank(settings):
    """Gradio takes an API parameter's default from its component's value: the examples come from one page-load
    event (no API endpoint, not queued), so the components, and the API's defaults, stay blank."""
    from bertviz_ui.ui import finetune, qa

    demo = build_demo(settings)
    (load,) = [fn for fn in demo.fns.values() if fn.targets and fn.targets[0][1] == "load"]
    assert (load.api_visibility, load.queue) == ("private", False)
    shown = {component.elem_id: value for component, value in load.fn(page("")).items()}
    assert shown["tokenizer-text"] == "The cat sat on the mat." and shown["tokenizer-pair"] == "It was a lazy afternoon."
    assert shown["qa-context"] == qa.EIFFEL and shown["finetune-try-text"] == finetune.TRY_TEXT
    assert shown["finetune-table"].equals(finetune.TUTORIAL_TABLE)
    by_id = {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None) in shown}
    assert set(by_id) == set(shown)
    assert [elem_id for elem_id, block in by_id.items() if block.value not in (None, "")
            and not (isinstance(block, gr.Dataframe) and block.value["data"] == [])] == []


def _texts(demo: gr.Blocks) -> list[str]:
    return [block.value for block in demo.blocks.values() if isinstance(block, gr.Markdown) and block.value]


def test_no_intro_states_a_model_shape_it_could_get_wrong(settings):
    # Issue 15: in tiny mode (2 layers x 2 heads) the Inside BERT intro said "6 layers x 12 heads". A shape is read
    # from the loaded model's config and shown with its result; the intros never state one.
    import dataclasses
    import re

    for tiny in (True, False):
        texts = _texts(build_demo(dataclasses.replace(settings, tiny=tiny)))
        shapes = [t for t in texts if re.search(r"\d+ layers|\d+ heads|layers x \d+", t)]
        assert shapes == []
        fallback = [t for t in texts if "falls back to the offline **all-MiniLM-L6-v2**" in t]
        # The fallback is mentioned where it can happen: the registry default without the Hub, never in tiny mode.
        assert len(fallback) == (0 if tiny else 1)
