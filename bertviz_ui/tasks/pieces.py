"""Words or pieces: WordPiece scores merged into whole words, for every view that scores tokens.

A switch in the views chooses: pieces as the model read them ("play", "##ing"), or words. Merging follows one rule
everywhere: a score per token is summed over a word's pieces (attributions add up), and an attention matrix is
summed over a word's columns (attention to a word is attention to any of its pieces) and averaged over its rows (a
word's pieces each have a row summing to 1; the mean keeps that). Special tokens stay tokens of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bertviz_ui.errors import BadInput

PIECES = "pieces"
WORDS = "words"
UNITS = (PIECES, WORDS)


@dataclass(frozen=True)
class Groups:
    """Which tokens make each unit shown.

    Attributes:
        labels: each unit's text (a word's pieces joined without "##", or the token itself).
        members: each unit's token indices, in order.
    """

    labels: tuple[str, ...]
    members: tuple[tuple[int, ...], ...]

    def __len__(self) -> int:
        return len(self.labels)


def check_unit(value: object) -> str:
    """The switch's value: "pieces" or "words" (anything else is refused)."""
    if value not in UNITS:
        raise BadInput(f"Show must be one of: {', '.join(UNITS)}.")
    return str(value)


def _piece_text(token: str) -> str:
    """A piece's text without its continuation ("##") or word-start ("Ġ", "▁") mark."""
    return token.removeprefix("##").lstrip("Ġ▁")


def groups(tokens: Sequence[str], word_ids: Sequence[int | None], segments: Sequence[int] | None = None,
           unit: str = WORDS) -> Groups:
    """Group tokens into units: one per token for "pieces", one per word (same word id and segment) for "words".

    Args:
        tokens: the tokens as the model read them.
        word_ids: each token's word number within its sentence (None for special tokens), as the tokenizer gives.
        segments: each token's sentence (0 or 1); word numbers restart in sentence B. None = all one sentence.
        unit: "pieces" or "words".
    """
    if len(tokens) != len(word_ids):
        raise ValueError("tokens and word_ids differ in length")
    if unit == PIECES:
        return Groups(tuple(tokens), tuple((i,) for i in range(len(tokens))))
    segments = segments if segments is not None else [0] * len(tokens)
    labels: list[str] = []
    members: list[list[int]] = []
    previous: tuple[int, int] | None = None
    for index, (token, word) in enumerate(zip(tokens, word_ids)):
        key = None if word is None else (segments[index], word)
        if key is not None and key == previous:
            members[-1].append(index)
            labels[-1] += _piece_text(token)
        else:
            members.append([index])
            labels.append(token if key is None else _piece_text(token))
        previous = key
    return Groups(tuple(labels), tuple(tuple(m) for m in members))


def groups_by_offsets(text: str, offsets: Sequence[tuple[int, int]], unit: str = WORDS) -> Groups:
    """Group tokens known only by their character spans (e.g. the token-classification pipeline's output): a token
    continues the previous one's word when it starts where that one ended, inside a run of letters or digits.

    Labels are the text the word covers. Tokens must be in text order."""
    if unit == PIECES:
        return Groups(tuple(text[start:end] for start, end in offsets), tuple((i,) for i in range(len(offsets))))
    members: list[list[int]] = []
    spans: list[list[int]] = []
    for index, (start, end) in enumerate(offsets):
        joins = (bool(members) and start == spans[-1][1] and 0 < start < len(text)
                 and text[start - 1].isalnum() and text[start].isalnum())
        if joins:
            members[-1].append(index)
            spans[-1][1] = end
        else:
            members.append([index])
            spans.append([start, end])
    return Groups(tuple(text[start:end] for start, end in spans), tuple(tuple(m) for m in members))


def merge_scores(scores: np.ndarray, grouping: Groups) -> np.ndarray:
    """Per-token scores summed over each unit's tokens; the last axis is the token axis."""
    scores = np.asarray(scores)
    return np.stack([scores[..., list(m)].sum(axis=-1) for m in grouping.members], axis=-1)


def merge_matrix(matrix: np.ndarray, grouping: Groups, columns: Groups | None = None) -> np.ndarray:
    """An attention-like matrix (rows attend to columns, last two axes) merged: columns summed within a unit, rows
    averaged within a unit, so rows that summed to 1 still do. ``columns`` groups the columns when they are other
    tokens than the rows (a filtered view); by default the rows' grouping serves both."""
    matrix = np.asarray(matrix)
    columns = grouping if columns is None else columns
    summed = np.stack([matrix[..., list(m)].sum(axis=-1) for m in columns.members], axis=-1)
    return np.stack([summed[..., list(m), :].mean(axis=-2) for m in grouping.members], axis=-2)
