"""The tokenizer case: tokenize() (the tab's whole result) against the bare encoder forward and the raw tokenizer."""

from __future__ import annotations

from typing import Any

from bench.harness import BenchCase, Models, Sample, Variant, encoder_forward
from bertviz_ui.registry import Head
from bertviz_ui.tasks.tokenizer import tokenize


def _tokenizer_task(models: Models, sample: Sample) -> Any:
    loaded = models[Head.TOKENIZER]
    return tokenize(sample.text, sample.text_pair, tokenizer=loaded.tokenizer, model=loaded.label)


def _raw_tokenizer(models: Models, sample: Sample) -> Any:
    # The same (locked) tokenizer object tokenize() receives, so the ratio isolates tokenize()'s own work.
    return models[Head.TOKENIZER].tokenizer(sample.text, sample.text_pair)


CASE = BenchCase(
    name="tokenizer",
    run_task=_tokenizer_task,
    run_baseline=encoder_forward,
    heads=(Head.TOKENIZER, Head.ENCODER),
    task_label="tokenize()",
    baseline_label="forward",
    extras=(Variant("raw tokenizer", _raw_tokenizer),),
    note="tokenize() = bertviz_ui.tasks.tokenizer.tokenize (the tab's whole result, no rendering); "
         "forward = model(**tokenizer(text, return_tensors='pt')) under torch.inference_mode(); "
         "raw tokenizer = tokenizer(text, text_pair).",
)
