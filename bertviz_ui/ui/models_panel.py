"""Models tab: what the model cache holds (device, dtype, size, load time, hits), with refresh and free."""

from __future__ import annotations

import gradio as gr

from bertviz_ui.render.models import COLUMNS, cache_summary_html, cache_table
from bertviz_ui.ui.context import AppContext


def build(ctx: AppContext, tab: gr.Tab) -> None:
    """Lay out the Models panel inside the current gr.Blocks context."""
    gr.Markdown("Models load on first use and stay in memory for the next request. "
                "Set the budget with `BERTVIZ_UI_CACHE_GB` and the device with `BERTVIZ_UI_DEVICE`.")
    summary = gr.HTML(elem_id="models-summary")
    table = gr.Dataframe(headers=list(COLUMNS), interactive=False, label="Loaded models", elem_id="models-table",
                         wrap=True, column_widths=["18%", "12%", "7%", "9%", "11%", "8%", "6%", "29%"])
    public = ctx.settings.public
    with gr.Row():
        refresh = gr.Button("Refresh", elem_id="models-refresh")
        # Public mode: the cache is shared by every visitor, so no visitor may empty it for everyone.
        free = None if public else gr.Button("Free all models", variant="stop", elem_id="models-free")

    def show() -> tuple:
        report = ctx.cache.report()
        return cache_summary_html(report, public=public), cache_table(report)

    def free_all() -> tuple:
        ctx.cache.clear()
        return show()

    refresh.click(show, None, [summary, table], api_name="models", concurrency_id="models")
    if free is not None:
        free.click(free_all, None, [summary, table], api_visibility="private", concurrency_id="models")
    tab.select(show, None, [summary, table], api_visibility="private", concurrency_id="models")
