"""The tab registry: adding a tab is one module per layer plus one entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from bertviz_ui.ui import attention, fill_mask, finetune, models_panel, ner, nsp, qa, sentiment, tokenizer, zero_shot
from bertviz_ui.ui.context import AppContext


@dataclass(frozen=True)
class TabSpec:
    """One tab: its id (the task noun), its title and the function that lays it out inside its gr.Tab."""

    id: str
    title: str
    build: Callable[[AppContext, gr.Tab], None]


TABS: tuple[TabSpec, ...] = (
    TabSpec("tokenizer", "Tokenizer", tokenizer.build),
    TabSpec("fill_mask", "Masked words", fill_mask.build),
    TabSpec("nsp", "Next sentence", nsp.build),
    TabSpec("sentiment", "Sentiment", sentiment.build),
    TabSpec("ner", "Entities", ner.build),
    TabSpec("zero_shot", "Zero-shot", zero_shot.build),
    TabSpec("qa", "Question answering", qa.build),
    TabSpec("attention", "Inside BERT", attention.build),
    TabSpec("finetune", "Fine-tuning lab", finetune.build),
    TabSpec("models", "Models", models_panel.build),
)
