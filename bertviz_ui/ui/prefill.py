"""The examples the page opens with: each tab's build returns them, one page-load event shows them all.

Gradio takes an API parameter's default from its component's initial value, so a text box built with an example makes
that example the endpoint's default (``/tokenize`` called with only ``text`` would tokenize a pair with the example's
second sentence). Components are built empty or neutral instead, and the examples arrive with the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import gradio as gr

# What a tab's build returns: the value each component shows when the page opens.
Prefill = Mapping[gr.components.Component, Any]


def show_on_load(demo: gr.Blocks, prefills: Iterable[Prefill | None]) -> None:
    """Register one page-load event (not in the API, not queued) that fills every tab's examples at once.

    One event rather than one per tab: a single small response, and once one example is shown, all are.
    """
    values: dict[gr.components.Component, Any] = {}
    for prefill in prefills:
        values.update(prefill or {})
    if not values:
        return

    def show_examples() -> dict[gr.components.Component, Any]:
        return dict(values)

    demo.load(show_examples, None, list(values), api_visibility="private", queue=False, show_progress="hidden")
