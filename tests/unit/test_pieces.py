"""Words or pieces: grouping WordPiece tokens into words and merging scores and attention by the one rule."""

from __future__ import annotations

import numpy as np
import pytest

from bertviz_ui.errors import BadInput
from bertviz_ui.tasks.pieces import PIECES, WORDS, check_unit, groups, groups_by_offsets, merge_matrix, merge_scores

TOKENS = ["[CLS]", "play", "##ing", "ball", "[SEP]", "un", "##believ", "##able", "[SEP]"]
WORD_IDS = [None, 0, 0, 1, None, 0, 0, 0, None]
SEGMENTS = [0, 0, 0, 0, 0, 1, 1, 1, 1]


def test_words_join_pieces_and_keep_special_tokens_alone() -> None:
    grouping = groups(TOKENS, WORD_IDS, SEGMENTS, WORDS)
    assert grouping.labels == ("[CLS]", "playing", "ball", "[SEP]", "unbelievable", "[SEP]")
    assert grouping.members == ((0,), (1, 2), (3,), (4,), (5, 6, 7), (8,))


def test_word_numbers_restarting_in_sentence_b_start_a_new_word() -> None:
    grouping = groups(["[CLS]", "a", "[SEP]", "b", "[SEP]"], [None, 0, None, 0, None], [0, 0, 0, 1, 1], WORDS)
    assert grouping.labels == ("[CLS]", "a", "[SEP]", "b", "[SEP]")


def test_pieces_keep_every_token() -> None:
    grouping = groups(TOKENS, WORD_IDS, SEGMENTS, PIECES)
    assert grouping.labels == tuple(TOKENS)
    assert len(grouping) == len(TOKENS)


def test_scores_are_summed_over_a_words_pieces() -> None:
    grouping = groups(TOKENS, WORD_IDS, SEGMENTS, WORDS)
    merged = merge_scores(np.arange(9.0), grouping)
    np.testing.assert_array_equal(merged, [0, 1 + 2, 3, 4, 5 + 6 + 7, 8])
    # Leading axes (one row of scores per method) are kept.
    assert merge_scores(np.ones((3, 9)), grouping).shape == (3, 6)


def test_attention_sums_columns_averages_rows_and_rows_still_sum_to_one() -> None:
    rng = np.random.default_rng(0)
    attention = rng.random((2, 9, 9))
    attention /= attention.sum(-1, keepdims=True)
    grouping = groups(TOKENS, WORD_IDS, SEGMENTS, WORDS)
    merged = merge_matrix(attention, grouping)
    assert merged.shape == (2, 6, 6)
    np.testing.assert_allclose(merged.sum(-1), 1.0)
    # "playing" (tokens 1, 2) attending to "unbelievable" (5, 6, 7): the mean over its rows of the summed columns.
    expected = attention[:, [1, 2]][:, :, [5, 6, 7]].sum(-1).mean(-1)
    np.testing.assert_allclose(merged[:, 1, 4], expected)


def test_the_switch_refuses_anything_else() -> None:
    assert check_unit("words") == "words"
    with pytest.raises(BadInput):
        check_unit("<b>")


def test_tokens_known_by_offsets_join_inside_a_run_of_letters_only() -> None:
    text = "Elon Musk's Tesla."
    # As a WordPiece tokenizer splits it: Elon | Mu ##sk | ' | s | Tesla | .
    offsets = [(0, 4), (5, 7), (7, 9), (9, 10), (10, 11), (12, 17), (17, 18)]
    grouping = groups_by_offsets(text, offsets, WORDS)
    assert grouping.labels == ("Elon", "Musk", "'", "s", "Tesla", ".")
    assert grouping.members == ((0,), (1, 2), (3,), (4,), (5,), (6,))
    assert groups_by_offsets(text, offsets, PIECES).labels == ("Elon", "Mu", "sk", "'", "s", "Tesla", ".")


def test_a_filtered_view_groups_rows_and_columns_apart() -> None:
    # Rows: sentence A's tokens; columns: sentence B's (the A -> B filter).
    rows = groups(["play", "##ing"], [0, 0], [0, 0], WORDS)
    cols = groups(["un", "##real", "fun"], [0, 0, 1], [1, 1, 1], WORDS)
    matrix = np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    merged = merge_matrix(matrix, rows, cols)
    np.testing.assert_allclose(merged, [[(0.3 + 0.6) / 2, (0.7 + 0.4) / 2]])
