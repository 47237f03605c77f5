"""The examples a tab opens with, as its build returns them (ui/permalink shows them all in one page-load event).

Gradio takes an API parameter's default from its component's initial value, so a text box built with an example makes
that example the endpoint's default (``/tokenize`` called with only ``text`` would tokenize a pair with the example's
second sentence). Components are built empty or neutral instead, and the examples arrive with the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr

# What a tab's build returns: the value each component shows when the page opens.
Prefill = Mapping[gr.components.Component, Any]
