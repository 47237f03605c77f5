"""A long context read in overlapping windows of [CLS] question [SEP] context piece [SEP], as transformers 4.x's
question-answering pipeline cut it: how far the windows overlap, tokenizing only the part of the context they read,
and running them in padded batches (pure compute)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.batching import MicroBatcher, forward
from bertviz_ui.tasks.budget import text_prefix

# transformers 4.x's window length: min(model maximum, 384). Longer windows cost quadratically more attention.
WINDOW_TOKENS = 384
# 4.x's overlap between windows: min(window // 2, 128). It must stay below the context room of a window (window
# minus question minus special tokens), or the Rust tokenizer panics; see window_stride().
MAX_STRIDE = 128
# A window must hold at least this many context tokens, which bounds the question's length.
MIN_CONTEXT_ROOM = 16
# The context is tokenized from a prefix of this many characters per token the windows read (doubled while it
# holds too few): the tokenizer never builds the thousands of windows a 300,000-character context would make.
CHARS_PER_TOKEN = 16


def window_stride(window_tokens: int, question_tokens: int, special_tokens: int) -> int:
    """The overlap between consecutive windows: 4.x's min(window // 2, 128), kept below half the context room.

    The tokenizer moves each window on by (room - stride) tokens, where room is what a window holds of the
    context; a stride >= room would not move it and the Rust tokenizer panics instead of raising.
    """
    room = window_tokens - question_tokens - special_tokens
    return max(0, min(window_tokens // 2, MAX_STRIDE, room // 2))


def _windows(tokenizer: Tokenizer, question: str, context: str, *, question_first: bool, window_tokens: int, stride: int,
             windows: int, room: int) -> tuple[Any, bool]:
    """The overflowing windows of question + context, from only as much of the context as ``windows`` windows read.

    A prefix of the context cut at whitespace tokenizes to the context's first tokens, so while the prefix makes
    more than ``windows`` windows, the first ``windows`` (full, none of them the last) are exactly the whole
    context's. The prefix doubles until that holds or it is the whole context. Returns (encoding, whole).
    """
    needed = windows * max(1, room - stride) + room + 1  # context tokens for one window more than are read
    chars = needed * CHARS_PER_TOKEN
    while True:
        piece = text_prefix(context, chars)
        whole = len(piece) == len(context)
        encoding = tokenizer(question if question_first else piece, piece if question_first else question,
                             truncation="only_second" if question_first else "only_first", max_length=window_tokens,
                             stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                             return_token_type_ids=True)
        if whole or len(encoding["input_ids"]) > windows:
            return encoding, whole
        chars *= 2


def _prefix_chars(encoding: Any, context_index: int) -> int:
    """The last context character the tokenized windows cover."""
    last = len(encoding["input_ids"]) - 1
    ends = [int(o[1]) for o, s in zip(encoding["offset_mapping"][last], encoding.sequence_ids(last))
            if s == context_index]
    return max(ends) if ends else 1


def _forward(model: Model, tokenizer: Tokenizer, encoding: Any, windows: range,
             batcher: MicroBatcher | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The windows in one batch, padded on the right to the longest (and batched with concurrent requests' windows);
    logits cut back to each window's length."""
    lengths = [len(encoding["input_ids"][w]) for w in windows]
    width = max(lengths)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(lengths), width), pad, dtype=torch.long)
    types = torch.zeros((len(lengths), width), dtype=torch.long)
    mask = torch.zeros((len(lengths), width), dtype=torch.long)
    for row, (w, length) in enumerate(zip(windows, lengths)):
        ids[row, :length] = torch.tensor(encoding["input_ids"][w])
        types[row, :length] = torch.tensor(encoding["token_type_ids"][w])
        mask[row, :length] = 1
    starts, ends = (tensor.numpy() for tensor in forward(
        model, {"input_ids": ids, "token_type_ids": types, "attention_mask": mask},
        outputs=("start_logits", "end_logits"), per_token=True, batcher=batcher))
    return [starts[row, :n] for row, n in enumerate(lengths)], [ends[row, :n] for row, n in enumerate(lengths)]
