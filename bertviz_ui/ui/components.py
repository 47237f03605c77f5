"""Pieces every tab lays out the same way."""

from __future__ import annotations

import gradio as gr


def raw_output(elem_id: str) -> gr.JSON:
    """The collapsed "Raw output (JSON)" view of a tab's result dataclass, as the API returns it."""
    with gr.Accordion("Raw output (JSON)", open=False):
        return gr.JSON(elem_id=elem_id)
