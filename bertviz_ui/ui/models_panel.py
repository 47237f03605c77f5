"""Models tab: what the model cache holds (device, dtype, size, load time, hits), with refresh and free."""

from __future__ import annotations

import gradio as gr

from bertviz_ui.render.models import cache_summary_html, cache_table
from bertviz_ui.ui.components import Outputs, Shown, result_table
from bertviz_ui.ui.context import AppContext
from bertviz_ui.ui.permalink import Link, Opening


def build(ctx: AppContext, tab: gr.Tab) -> Opening:
    """Lay out the Models panel inside the current gr.Blocks context."""
    gr.Markdown("Models load on first use and stay in memory for the next request. "
                "Set the budget with `BERTVIZ_UI_CACHE_GB` and the device with `BERTVIZ_UI_DEVICE`.")
    summary = gr.HTML(elem_id="models-summary")
    table = result_table("Loaded models", "models-table")
    public = ctx.settings.public
    with gr.Row():
        refresh = gr.Button("Refresh", elem_id="models-refresh")
        # Public mode: the cache is shared by every visitor, so no visitor may empty it for everyone.
        free = None if public else gr.Button("Free all models", variant="stop", elem_id="models-free")

    def show() -> Shown:
        report = ctx.cache.report()
        return {"summary": cache_summary_html(report, public=public), "table": cache_table(report)}

    def free_all() -> Shown:
        ctx.cache.clear()
        return show()

    out = Outputs(summary=summary, table=table)
    refresh.click(out.wrap(show), None, out.components, api_name="models", concurrency_id="models")
    if free is not None:
        free.click(out.wrap(free_all), None, out.components, api_visibility="private", concurrency_id="models")
    tab.select(out.wrap(show), None, out.components, api_visibility="private", concurrency_id="models")
    return Opening(None, Link("models"))
