"""A new Gradio session's component configs are made on demand (tested against the installed Gradio)."""

from __future__ import annotations

import gradio as gr
from gradio.state_holder import SessionState

from bertviz_ui.ui.sessions import configs_on_demand


def _page() -> tuple[gr.Blocks, gr.Textbox, gr.Slider]:
    with gr.Blocks() as demo:
        box = gr.Textbox("hello", label="Text")
        slider = gr.Slider(1, 10, value=3, step=1)
        with gr.Row():
            gr.Markdown("**notes**")
        gr.Button("go").click(lambda text: text, box, box)
    return demo, box, slider


def _eager(demo: gr.Blocks) -> dict:
    """What Gradio's own SessionState.__init__ makes for every new session."""
    config = demo.default_config
    return {key: config.config_for_block(key, [], block) for key, block in config.blocks.items()
            if key in demo.blocks}


def test_a_new_session_makes_no_config_until_one_is_read_and_then_gradios_own():
    configs_on_demand()
    configs_on_demand()  # installing twice wraps once
    demo, box, _slider = _page()
    state = SessionState(demo)
    assert dict.__len__(state.config_values) == 0  # nothing made up front
    assert state.config_values[box._id] == _eager(demo)[box._id]
    assert dict.__len__(state.config_values) == 1


def test_deep_links_still_see_every_component_and_updated_values():
    configs_on_demand()
    demo, box, slider = _page()
    state = SessionState(demo)
    state._update_value_in_config(slider._id, 7)
    components = list(state.components)  # what Gradio's deep links read
    expected = _eager(demo)
    expected[slider._id]["props"]["value"] = 7
    assert sorted(components, key=lambda c: c["id"]) == sorted((c for c in expected.values() if c),
                                                               key=lambda c: c["id"])
    assert box._id in state.config_values and -1 not in state.config_values
