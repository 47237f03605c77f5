"""The shared encoder run: one forward with attentions and hidden states, the embedding split, and the runs kept.

The Attention and Embeddings views (tasks/attention.py, tasks/embeddings.py) read an EncoderRun; neither imports
the other.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bertviz_ui.errors import ModelUnavailable
from bertviz_ui.models import anatomy
from bertviz_ui.models.lru import BoundedLRU
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of
from bertviz_ui.tasks.modeling import model_inputs, model_max_length
from bertviz_ui.tasks.validation import check_text

SUMMARY_NAMES = ("entropy", "to_cls", "to_sep", "to_punct", "distance")

# LayerNorm(sum of the parts) must reproduce the model's embedding output; float32 rounding stays far below the first,
# half-precision weights (GPU) below the second.
FLOAT32_TOLERANCE = 1e-4
HALF_TOLERANCE = 5e-2


@dataclass(frozen=True)
class EmbeddingParts:
    """The input embedding of each token as the sum of its parts, then LayerNorm.

    Attributes:
        names: the parts, among "token", "position", "segment".
        vectors: [parts, tokens, width] the looked-up rows.
        summed: [tokens, width] their sum, what the embeddings module feeds its LayerNorm.
        normalized: [tokens, width] LayerNorm(summed).
        position_ids: the position row each token reads.
        max_error: largest |normalized - the model's own embedding output|; None when not comparable.
        tolerance: the largest error that rounding explains for the model's dtype.
        notes: what differs from BERT for this architecture.
    """

    names: tuple[str, ...]
    vectors: np.ndarray
    summed: np.ndarray
    normalized: np.ndarray
    position_ids: tuple[int, ...]
    max_error: float | None
    tolerance: float
    notes: tuple[str, ...]


@dataclass(frozen=True)
class HeadSummaries:
    """Per-head statistics over every token, each [layers, heads].

    Attributes:
        entropy: mean over query tokens of the entropy of its attention row, in bits.
        to_cls: mean share of attention that goes to the first special token ([CLS], <s>).
        to_sep: mean share that goes to separator tokens ([SEP], </s>).
        to_punct: mean share that goes to punctuation tokens.
        distance: mean |i - j| in tokens between a token and what it attends to, weighted by attention.
        max_entropy: log2 of the token count, the entropy of uniform attention.
    """

    entropy: np.ndarray
    to_cls: np.ndarray
    to_sep: np.ndarray
    to_punct: np.ndarray
    distance: np.ndarray
    max_entropy: float

    def layer_rows(self, layer: int) -> list[dict[str, float]]:
        """One dict per head of ``layer``, for tables and JSON."""
        return [{"head": h, **{name: round(float(getattr(self, name)[layer, h]), 4) for name in SUMMARY_NAMES}}
                for h in range(self.entropy.shape[1])]


@dataclass(frozen=True)
class EncoderRun:
    """Everything one forward (attentions and hidden states) gives the Inside BERT views. Arrays are read-only.

    Attributes:
        model: the model's label.
        model_type: config.model_type ("bert", "roberta", ...).
        text: sentence A as given.
        text_pair: sentence B ("" for one text).
        tokens: the tokens the model read (after truncation).
        token_ids: their ids.
        segments: 0 for sentence A (with [CLS] and its [SEP]), 1 for sentence B.
        word_ids: word number per token within its sentence, None for special tokens.
        kinds: "cls", "sep", "special", "punct" or "word", per token.
        attentions: [layers, heads, tokens, tokens] float32; row i is where token i attends.
        hidden_states: [layers + 1, tokens, width] float32; 0 is the embedding output.
        embedding_parts: the input embedding split into parts (None when the architecture has no tables).
        summaries: per-head statistics.
        total_tokens: tokens before truncation.
        notes: truncation and other things the user should know.
        seconds: time of the forward pass.
    """

    model: str
    model_type: str
    text: str
    text_pair: str
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    segments: tuple[int, ...]
    word_ids: tuple[int | None, ...]
    kinds: tuple[str, ...]
    attentions: np.ndarray
    hidden_states: np.ndarray
    embedding_parts: EmbeddingParts | None
    summaries: HeadSummaries
    total_tokens: int
    notes: tuple[str, ...]
    seconds: float

    @property
    def layers(self) -> int:
        return int(self.attentions.shape[0])

    @property
    def heads(self) -> int:
        return int(self.attentions.shape[1])

    @property
    def nbytes(self) -> int:
        extra = self.embedding_parts.vectors.nbytes * 2 if self.embedding_parts else 0
        return int(self.attentions.nbytes + self.hidden_states.nbytes + extra)


# --- The embedding layer, split into its parts ------------------------------------------------------


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def embedding_parts(model: Model, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None,
                    embedding_output: torch.Tensor | None = None) -> EmbeddingParts | None:
    """Look up each part of the input embedding the way the model's embeddings module does (no forward pass).

    Args:
        model: a BERT-like encoder (BERT, MiniLM, RoBERTa, DistilBERT, ALBERT) or one with such a base model.
        input_ids: [1, tokens] ids.
        token_type_ids: [1, tokens] segment ids, or None (all zeros).
        embedding_output: [tokens, width] the model's own embedding output (hidden_states[0]) to check against.

    Returns:
        EmbeddingParts, or None when the model has no word/position embedding tables to split.
    """
    tables = anatomy.embedding_tables(model)
    if tables is None:
        return None
    word, position, norm, padding_idx = tables.word, tables.position, tables.norm, tables.padding_idx
    notes = []
    length = input_ids.shape[1]
    if padding_idx is not None:
        # RoBERTa (fairseq) numbers positions from padding_idx + 1, skipping pad tokens.
        mask = input_ids.ne(padding_idx).long()
        position_ids = torch.cumsum(mask, dim=1) * mask + padding_idx
        notes.append(f"This model numbers positions from {padding_idx + 1} (padding_idx + 1), as RoBERTa does, so "
                     f"its first token reads position row {padding_idx + 1}.")
    else:
        position_ids = torch.arange(length, device=input_ids.device).unsqueeze(0)
    names, vectors = ["token"], []
    with torch.inference_mode():
        vectors.append(word(input_ids)[0])
        if position is not None:
            names.append("position")
            vectors.append(position(position_ids)[0])
        else:
            notes.append("This model has no learned position embedding table (positions enter another way).")
        segment = tables.segment
        if segment is not None:
            names.append("segment")
            ids = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
            vectors.append(segment(ids)[0])
            if segment.num_embeddings == 1:
                notes.append("Its segment table has a single row: every token adds the same segment vector, so "
                             "sentence B is told apart by the separator tokens only.")
        else:
            notes.append("This model has no segment (token type) embeddings: sentence B is told apart by the "
                         "separator tokens only.")
        stacked = torch.stack(vectors).float()
        summed = stacked.sum(0)
        normalized = torch.nn.functional.layer_norm(summed, norm.normalized_shape, norm.weight.float(),
                                                    norm.bias.float(), norm.eps)
    max_error = None
    if embedding_output is not None and tuple(embedding_output.shape) == tuple(normalized.shape):
        max_error = float((normalized - embedding_output.float().to(normalized.device)).abs().max())
    elif embedding_output is not None:
        notes.append(f"The embedding width ({normalized.shape[-1]}) differs from the layers' width "
                     f"({embedding_output.shape[-1]}): a projection follows the LayerNorm (ALBERT factorizes its "
                     "embeddings), so the sum is not compared with the layers' input.")
    return EmbeddingParts(
        names=tuple(names),
        vectors=_readonly(stacked.cpu().numpy()),
        summed=_readonly(summed.cpu().numpy()),
        normalized=_readonly(normalized.cpu().numpy()),
        position_ids=tuple(int(p) for p in position_ids[0].tolist()),
        max_error=max_error,
        tolerance=FLOAT32_TOLERANCE if word.weight.dtype == torch.float32 else HALF_TOLERANCE,
        notes=tuple(notes),
    )


# --- One forward ---------------------------------------------------------------------------------


def _is_punctuation(token: str) -> bool:
    core = token.removeprefix("##").lstrip("\u0120\u2581")
    return bool(core) and all(unicodedata.category(ch).startswith("P") for ch in core)


def _kinds(token_ids: Sequence[int], tokens: Sequence[str], tokenizer: Tokenizer) -> tuple[str, ...]:
    special = set(getattr(tokenizer, "all_special_ids", ()) or ())
    cls_id, sep_id = getattr(tokenizer, "cls_token_id", None), getattr(tokenizer, "sep_token_id", None)
    kinds = []
    for index, (token_id, token) in enumerate(zip(token_ids, tokens)):
        if token_id == cls_id and index == 0:
            kinds.append("cls")
        elif token_id == sep_id and sep_id is not None:
            kinds.append("sep")
        elif token_id in special:
            kinds.append("special")
        elif _is_punctuation(token):
            kinds.append("punct")
        else:
            kinds.append("word")
    return tuple(kinds)


def _segments(encoding: Any, length: int) -> tuple[int, ...]:
    """Sentence of each token: token_type_ids when the tokenizer gives them, else its sequence ids.

    Special tokens join the sentence before them ([CLS] and the first [SEP] belong to A), as BERT's token types do.
    """
    types = encoding.get("token_type_ids")
    if types is not None:
        return tuple(int(t) for t in types[0].tolist())
    try:
        sequence_ids = encoding.sequence_ids(0)
    except (ValueError, AttributeError):
        return (0,) * length
    segments, current = [], 0
    for sid in sequence_ids:
        current = sid if sid is not None else current
        segments.append(int(current))
    return tuple(segments)


def _summaries(attentions: np.ndarray, kinds: Sequence[str]) -> HeadSummaries:
    # One layer at a time: float64 copies of all 12 layers' 512 x 512 weights took about 1 GB at once.
    layers, heads, length = attentions.shape[0], attentions.shape[1], attentions.shape[-1]
    kinds_array = np.array(kinds)
    positions = np.arange(length)
    gaps = np.abs(positions[:, None] - positions[None, :])
    masks = {name: kinds_array == kind for name, kind in (("to_cls", "cls"), ("to_sep", "sep"), ("to_punct", "punct"))}
    results = {name: np.zeros((layers, heads)) for name in ("entropy", "distance", *masks)}
    for layer in range(layers):
        weights = attentions[layer].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(weights > 0, np.log2(np.where(weights > 0, weights, 1.0)), 0.0)
        results["entropy"][layer] = -(weights * logs).sum(-1).mean(-1)
        results["distance"][layer] = (weights * gaps).sum(-1).mean(-1)
        for name, mask in masks.items():
            if mask.any():
                results[name][layer] = weights[..., mask].sum(-1).mean(-1)
    return HeadSummaries(**results, max_entropy=float(np.log2(length)) if length > 1 else 0.0)


def run_encoder(text: Any, text_pair: Any = "", *, model: Model, tokenizer: Tokenizer, label: str = "",
                budget: Budget | None = None) -> EncoderRun:
    """Run the encoder once over a text or a sentence pair, keeping attentions and hidden states.

    Args:
        text: sentence A (or the whole text).
        text_pair: sentence B; blank for one text.
        model: an encoder loaded with eager attention (sdpa returns no attention weights).
        tokenizer: its tokenizer; text such as "[SEP]" typed by the user stays text (split_special_tokens).
        label: the model's label, shown with the result.
        budget: what one request may cost (default: the default budget); a forward over more is refused up front.

    Returns:
        EncoderRun. Raises BadInput for unusable text, ModelUnavailable for a model that returns no attentions.
    """
    text = check_text(text, "Text")
    text_pair = check_text(text_pair, "Sentence B", required=False)
    limit = model_max_length(tokenizer, model)
    pair = (text_pair,) if text_pair else ()
    full = tokenizer(text, *pair, truncation=False, split_special_tokens=True)
    total = len(full["input_ids"])
    notes = []
    encoding = tokenizer(text, *pair, return_tensors="pt", truncation=total > limit,
                         max_length=limit, split_special_tokens=True)
    length = encoding["input_ids"].shape[1]
    if total > limit:
        notes.append(f"The input is {total} tokens; this model reads at most {limit}, so the first {length} were "
                     "used (longest sentence trimmed first for a pair).")
    (budget or Budget()).check(f"A forward pass over {length} tokens with this model",
                               forward_flops(shape_of(model), int(length)), "Use a shorter text or a smaller model.")
    started = time.perf_counter()
    with torch.inference_mode():
        outputs = model(**model_inputs(model, encoding), output_attentions=True, output_hidden_states=True)
    seconds = time.perf_counter() - started
    attentions = getattr(outputs, "attentions", None)
    if not attentions or any(a is None for a in attentions):
        raise ModelUnavailable("This model returned no attention weights (its attention implementation, such as "
                               "sdpa or flash attention, doesn't compute them). Load it with eager attention, or "
                               "choose another model.")
    stacked = torch.stack([a[0] for a in attentions]).float().cpu().numpy()
    hidden = torch.stack([h[0] for h in outputs.hidden_states]).float().cpu().numpy()
    del outputs, attentions  # the stacked copies are what is kept
    stacked.setflags(write=False)
    hidden.setflags(write=False)
    input_ids = encoding["input_ids"]
    token_ids = tuple(int(i) for i in input_ids[0].tolist())
    tokens = tuple(str(t) for t in tokenizer.convert_ids_to_tokens(list(token_ids)))
    kinds = _kinds(token_ids, tokens, tokenizer)
    word_ids = tuple(encoding.word_ids(0)) if hasattr(encoding, "word_ids") else (None,) * length
    word_ids = tuple(None if kind in ("cls", "sep", "special") else w for kind, w in zip(kinds, word_ids))
    device = next(model.parameters()).device
    types = encoding.get("token_type_ids", None)
    parts = embedding_parts(model, input_ids.to(device), types.to(device) if types is not None else None,
                            torch.from_numpy(hidden[0].copy()))
    return EncoderRun(
        model=label,
        model_type=str(getattr(model.config, "model_type", "")),
        text=text,
        text_pair=text_pair,
        tokens=tokens,
        token_ids=token_ids,
        segments=_segments(encoding, length),
        word_ids=word_ids,
        kinds=kinds,
        attentions=stacked,
        hidden_states=hidden,
        embedding_parts=parts,
        summaries=_summaries(stacked, kinds),
        total_tokens=total,
        notes=tuple(notes),
        seconds=seconds,
    )


# --- Runs kept per app ---------------------------------------------------------------------------


class RunCache(BoundedLRU[Hashable, EncoderRun]):
    """A small LRU of finished encoder runs, bounded by count and bytes, safe across threads.

    Switching layer, head or filter re-renders from the kept run instead of running the model again.
    """

    def __init__(self, *, max_entries: int = 8, max_bytes: int = 768 * 2**20):
        super().__init__(max_entries=max_entries, max_bytes=max_bytes, size=lambda run: run.nbytes)
