"""The app's Gradio theme: Soft, with the colours that fell short of WCAG AA contrast (axe-core, issue 18) darkened."""

from __future__ import annotations

import gradio as gr


def theme() -> gr.themes.Base:
    """Gradio's Soft theme with AA-contrast text: primary buttons, selected radios and the dark theme's hovered
    secondary buttons one shade darker (white on indigo-500 is 4.46:1, on its hover shade 2.98:1), indigo-700 block
    labels, grey-600 secondary text (grey-400 was 2.5:1 on white). Gradio switches to the *_dark values when the
    browser prefers a dark scheme."""
    return gr.themes.Soft().set(
        button_primary_background_fill="*primary_600",
        button_primary_background_fill_hover="*primary_700",
        button_primary_background_fill_dark="*primary_600",
        button_primary_background_fill_hover_dark="*primary_700",
        button_secondary_background_fill_hover_dark="*primary_600",
        checkbox_label_background_fill_selected="*primary_600",
        checkbox_label_background_fill_selected_dark="*primary_600",
        block_title_text_color="*primary_700",
        block_label_text_color="*primary_700",
        body_text_color_subdued="*neutral_600",
    )
