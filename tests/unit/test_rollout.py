"""Attention rollout: the recurrence, checked against an independent loop and on crafted attention."""

from __future__ import annotations

import numpy as np
import pytest

from bertviz_ui.tasks.rollout import rollout, with_residual


def _random_attention(layers: int, heads: int, tokens: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    weights = rng.random((layers, heads, tokens, tokens))
    return weights / weights.sum(-1, keepdims=True)


def test_every_row_sums_to_one_after_every_layer() -> None:
    result = rollout(_random_attention(4, 3, 7))
    assert result.shape == (4, 7, 7)
    np.testing.assert_allclose(result.sum(-1), 1.0, atol=1e-12)


def test_identity_attention_rolls_out_to_the_identity() -> None:
    attentions = np.broadcast_to(np.eye(5), (6, 4, 5, 5))
    np.testing.assert_array_equal(rollout(attentions), np.broadcast_to(np.eye(5), (6, 5, 5)))


def test_equals_an_independent_loop_over_layers_and_entries() -> None:
    attentions = _random_attention(3, 2, 4, seed=1)
    expected = []
    previous = None
    for layer in range(3):
        # Written out entry by entry: heads averaged, half identity, rows renormalized, then multiplied.
        mixed = [[0.5 * sum(attentions[layer, h, i, j] for h in range(2)) / 2 + 0.5 * (i == j) for j in range(4)]
                 for i in range(4)]
        mixed = [[value / sum(row) for value in row] for row in mixed]
        current = mixed if previous is None else [
            [sum(mixed[i][k] * previous[k][j] for k in range(4)) for j in range(4)] for i in range(4)]
        expected.append(current)
        previous = current
    np.testing.assert_allclose(rollout(attentions), np.array(expected), atol=1e-12)


def test_uniform_attention_spreads_each_token_over_all_inputs() -> None:
    tokens = 4
    uniform = np.full((1, 2, tokens, tokens), 1 / tokens)
    # One layer: half stays home, half spreads evenly.
    np.testing.assert_allclose(rollout(uniform)[0], 0.5 * np.eye(tokens) + 0.5 / tokens)


def test_refuses_arrays_that_are_not_layers_heads_tokens_tokens() -> None:
    with pytest.raises(ValueError):
        with_residual(np.ones((2, 3, 4)))
