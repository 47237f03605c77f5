"""Sentiment: sequence classification for one text or a batch, token attributions, and the head's arithmetic.

One module per job: ``classification`` (batched and packed), ``attributions`` (integrated gradients, gradient x
input), ``head`` (what each architecture feeds its final linear layer, opened up for one text); ``inputs`` holds
what they all check first.
"""

from bertviz_ui.tasks.sentiment.attributions import (
    IG_CHUNK,
    MAX_STEPS,
    METHODS,
    Attribution,
    TokenScore,
    attribute,
    integrated_gradients_flops,
    most_steps,
)
from bertviz_ui.tasks.sentiment.classification import (
    BATCH_SIZE,
    Classification,
    ClassScore,
    SentimentBatch,
    classify,
)
from bertviz_ui.tasks.sentiment.head import HeadInside, inside_head
from bertviz_ui.tasks.sentiment.inputs import (
    CHARS_PER_TOKEN,
    LOW_CONFIDENCE,
    MAX_LINES,
    check_classifier,
    labels_of,
    parse_lines,
)

__all__ = [
    "BATCH_SIZE", "CHARS_PER_TOKEN", "IG_CHUNK", "LOW_CONFIDENCE", "MAX_LINES", "MAX_STEPS", "METHODS",
    "Attribution", "ClassScore", "Classification", "HeadInside", "SentimentBatch", "TokenScore",
    "attribute", "check_classifier", "classify", "inside_head", "integrated_gradients_flops", "labels_of",
    "most_steps", "parse_lines",
]
