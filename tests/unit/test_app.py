"""The Blocks app as built: every registered tab, the download cache cleaned, nothing loaded on build."""

from __future__ import annotations

import gradio as gr

from bertviz_ui.ui.app import build_demo
from bertviz_ui.ui.tabs import TABS


def test_demo_has_every_tab_and_cleans_its_file_cache(settings):
    demo = build_demo(settings)
    titles = [block.label for block in demo.blocks.values() if isinstance(block, gr.Tab) and block.label in
              {tab.title for tab in TABS}]
    assert titles == [tab.title for tab in TABS]
    assert demo.delete_cache == (3600, 3600)  # the lab's model zips that Gradio copies don't pile up
    api = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert {"qa", "attention", "parameters", "model_comparison", "finetune", "finetune_cancel"} <= api
