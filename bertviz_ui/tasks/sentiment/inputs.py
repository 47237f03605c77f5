"""What every sentiment job starts from: the lines of the text, how much of each the model reads, and the checked
classifier (a trained head, its class labels)."""

from __future__ import annotations

from typing import Any

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models import anatomy
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import leading_tokens, text_prefix
from bertviz_ui.tasks.validation import MAX_TEXT_CHARS

MAX_LINES = 256
LOW_CONFIDENCE = 0.7
# A line is tokenized from a prefix of this many characters per token the model reads (then more if that prefix
# held too few tokens): 256 lines of 20,000 characters are never tokenized whole.
CHARS_PER_TOKEN = 16


def parse_lines(text: Any) -> tuple[list[str], int]:
    """Split the input into non-empty lines (each one text to classify) and count the empty ones."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise BadInput("Text must be text.")
    lines = text.splitlines()
    kept = [line for line in lines if line.strip()]
    if not kept:
        raise BadInput("Text is empty: type one review, or several, one per line.")
    if len(kept) > MAX_LINES:
        raise BadInput(f"{len(kept):,} lines: this tab classifies at most {MAX_LINES} at once.")
    for number, line in enumerate(lines, start=1):  # numbered as in the text box, empty lines included
        if len(line) > MAX_TEXT_CHARS:
            raise BadInput(f"Line {number} is {len(line):,} characters; each line may have up to {MAX_TEXT_CHARS:,}.")
    return kept, len(lines) - len(kept)


def check_classifier(newly_initialized: tuple[str, ...]) -> None:
    """Refuse a checkpoint whose classification head is missing (it would be random)."""
    if anatomy.untrained_classifier_weights(newly_initialized):
        raise ModelUnavailable("This checkpoint has no trained classification head (it would be random). Choose a "
                               "model fine-tuned for classification, such as "
                               "distilbert/distilbert-base-uncased-finetuned-sst-2-english.")


def labels_of(model: Model) -> tuple[str, ...]:
    """Class names from the model config, in logit order."""
    id2label = model.config.id2label
    return tuple(str(id2label[i]) for i in range(len(id2label)))


def _leading(tokenizer: Tokenizer, lines: list[str], limit: int) -> tuple[list[str], list[int]]:
    """What to tokenize of each line, and its length in tokens (counted up to limit + 1: "longer than the limit").

    Each line is read from a prefix long enough for ``limit`` tokens (cut at whitespace: its tokens are the
    line's first tokens), longer prefixes only for lines whose first one held too few tokens: a long line is
    never tokenized whole. The prefixes are tokenized in one batch.
    """
    read = [text_prefix(line, (limit + 1) * CHARS_PER_TOKEN) for line in lines]
    lengths = [len(ids) for ids in tokenizer(read, truncation=False)["input_ids"]]
    for index, line in enumerate(lines):
        if lengths[index] <= limit and len(read[index]) < len(line):  # too few tokens in the prefix: read further
            read[index], encoding = leading_tokens(tokenizer, line, limit, chars_per_token=2 * CHARS_PER_TOKEN,
                                                   truncation=False)
            lengths[index] = len(encoding["input_ids"])
    return read, lengths
