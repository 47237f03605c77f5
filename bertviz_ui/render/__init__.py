"""Renderers: result dataclasses to escaped HTML, tables and figures. No models, no gradio."""
