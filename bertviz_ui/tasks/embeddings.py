"""Input embeddings split into token, position and segment parts, and how each token's vector moves through the layers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertviz_ui.errors import BadInput
from bertviz_ui.tasks.encoder import EncoderRun
from bertviz_ui.tasks.validation import check_whole_number

COLOR_BY = ("word", "segment")


@dataclass(frozen=True)
class EmbeddingsResult:
    """What the Embeddings view shows for one text: part norms, change through the layers, a 2-D projection.

    Attributes:
        model: the model's label.
        tokens: the tokens, in order.
        segments: 0 for sentence A, 1 for sentence B, per token.
        words: word number per token (None for special tokens), for colouring.
        part_names: names of the embedding parts.
        part_norms: [parts][tokens] L2 norm of each part.
        sum_norms: L2 norm of the sum before LayerNorm, per token.
        layernorm_norms: L2 norm after LayerNorm, per token.
        reconstruction_error: max |LayerNorm(sum of parts) - the model's embedding output| (None: not comparable).
        cos_to_input: [layers + 1][tokens] cosine of each layer's vector to the token's embedding output (layer 0).
        cos_to_final: [layers + 1][tokens] cosine to the token's last-layer vector.
        pca_layer: which hidden state was projected (0 = embedding output, L = last layer).
        pca: [tokens][2] coordinates on the first two principal components.
        explained: share of variance the two components explain.
        notes: what the user should know.
    """

    model: str
    tokens: tuple[str, ...]
    segments: tuple[int, ...]
    words: tuple[int | None, ...]
    part_names: tuple[str, ...]
    part_norms: tuple[tuple[float, ...], ...]
    sum_norms: tuple[float, ...]
    layernorm_norms: tuple[float, ...]
    reconstruction_error: float | None
    cos_to_input: tuple[tuple[float, ...], ...]
    cos_to_final: tuple[tuple[float, ...], ...]
    pca_layer: int
    pca: tuple[tuple[float, float], ...]
    explained: tuple[float, float]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of matching rows along the last axis (0 where a vector is all zeros)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    dots = (a * b).sum(-1)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Project rows onto their first two principal components (centred SVD).

    Args:
        vectors: [n, width].

    Returns:
        ([n, 2] coordinates, share of variance explained by each component). Fewer than two independent
        directions give zero columns and zero shares.
    """
    data = vectors.astype(np.float64)
    centred = data - data.mean(0, keepdims=True)
    coords = np.zeros((data.shape[0], 2))
    explained = [0.0, 0.0]
    if data.shape[0] < 2:
        return coords, (0.0, 0.0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    total = float((singular ** 2).sum())
    for k in range(min(2, len(singular))):
        # A fixed sign (largest loading positive) keeps the picture from flipping between runs.
        direction = vt[k] * (1.0 if vt[k][np.argmax(np.abs(vt[k]))] >= 0 else -1.0)
        coords[:, k] = centred @ direction
        explained[k] = float(singular[k] ** 2 / total) if total > 0 else 0.0
    return coords, (explained[0], explained[1])


def check_color_by(value: Any) -> str:
    """Return a valid colouring for the projection, else raise BadInput."""
    if value not in COLOR_BY:
        raise BadInput(f"Colour by must be one of: {', '.join(COLOR_BY)}.")
    return value


def embeddings_view(run: EncoderRun, pca_layer: Any = 0) -> EmbeddingsResult:
    """Part norms, layer-by-layer change and a 2-D projection at ``pca_layer``, from a finished encoder run.

    Args:
        run: one forward's result (hidden states of every layer, the embedding parts).
        pca_layer: which hidden state to project: 0 = embedding output, ``run.layers`` = last layer.

    Returns:
        EmbeddingsResult. Raises BadInput for a layer the model doesn't have.
    """
    layer = check_whole_number(pca_layer, "Projection layer", low=0, high=run.layers,
                               hint=f"(0 = embedding output, {run.layers} = last layer)")
    hidden = run.hidden_states
    cos_input = _cosine_rows(hidden, hidden[0][None])
    cos_final = _cosine_rows(hidden, hidden[-1][None])
    coords, explained = pca_2d(hidden[layer])
    parts = run.embedding_parts
    notes = list(parts.notes) if parts else ["This architecture has no word/position embedding tables to split."]
    if parts is not None and parts.max_error is not None and parts.max_error > parts.tolerance:
        notes.append(f"LayerNorm(sum of the parts) differs from the model's embedding output by up to "
                     f"{parts.max_error:.2g}: this architecture adds something the split doesn't show.")
    if len(run.tokens) < 3:
        notes.append("Fewer than three tokens: the projection has nothing to spread out.")

    def rounded(values: np.ndarray) -> tuple[float, ...]:
        return tuple(round(float(v), 6) for v in values)

    return EmbeddingsResult(
        model=run.model,
        tokens=run.tokens,
        segments=run.segments,
        words=run.word_ids,
        part_names=parts.names if parts else (),
        part_norms=tuple(rounded(np.linalg.norm(v, axis=-1)) for v in parts.vectors) if parts else (),
        sum_norms=rounded(np.linalg.norm(parts.summed, axis=-1)) if parts else (),
        layernorm_norms=rounded(np.linalg.norm(parts.normalized, axis=-1)) if parts else (),
        reconstruction_error=parts.max_error if parts else None,
        cos_to_input=tuple(rounded(row) for row in cos_input),
        cos_to_final=tuple(rounded(row) for row in cos_final),
        pca_layer=layer,
        pca=tuple((round(float(x), 6), round(float(y), 6)) for x, y in coords),
        explained=(round(explained[0], 6), round(explained[1], 6)),
        notes=tuple(notes),
    )
