"""Attention rollout (Abnar & Zuidema, 2020): how much each token's final vector draws on each input token.

Raw attention says where one head of one layer looks. Rollout follows attention through every layer: each layer's
heads are averaged, the residual connection is mixed in as half an identity matrix, rows are renormalized, and the
layers are multiplied from the first up, so R_l[i, j] is the share of token i's vector at layer l that flows from
input token j. This module is the one implementation (Inside BERT's views and the explanation check use it).
"""

from __future__ import annotations

import numpy as np

# Abnar & Zuidema's mix: half the layer's attention, half the residual connection (identity).
RESIDUAL = 0.5


def with_residual(attentions: np.ndarray, residual: float = RESIDUAL) -> np.ndarray:
    """Each layer's heads averaged, the residual mixed in, rows renormalized: A'_l = rownorm((1-r) A_l + r I).

    Args:
        attentions: [layers, heads, tokens, tokens]; row i is where token i attends.
        residual: the identity's share r (0.5 in the paper).

    Returns:
        [layers, tokens, tokens] float64, each row summing to 1.
    """
    attentions = np.asarray(attentions, dtype=np.float64)
    if attentions.ndim != 4 or attentions.shape[-1] != attentions.shape[-2]:
        raise ValueError(f"attentions must be [layers, heads, tokens, tokens], got {attentions.shape}")
    mixed = (1 - residual) * attentions.mean(axis=1) + residual * np.eye(attentions.shape[-1])
    return mixed / mixed.sum(axis=-1, keepdims=True)


def rollout(attentions: np.ndarray, residual: float = RESIDUAL) -> np.ndarray:
    """Attention rollout after every layer: R_1 = A'_1, R_l = A'_l · R_{l-1}.

    Args:
        attentions: [layers, heads, tokens, tokens]; row i is where token i attends.
        residual: the identity's share (0.5 in the paper).

    Returns:
        [layers, tokens, tokens] float64: R_l, row i = how token i's vector after layer l draws on the input tokens
        (each row sums to 1).
    """
    mixed = with_residual(attentions, residual)
    out = np.empty_like(mixed)
    current = np.eye(mixed.shape[-1])
    for layer, step in enumerate(mixed):
        current = step @ current
        out[layer] = current
    return out
