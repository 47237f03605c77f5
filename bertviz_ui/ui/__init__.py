"""Gradio wiring: tabs declared in one registry, handlers that turn domain errors into gr.Error."""
