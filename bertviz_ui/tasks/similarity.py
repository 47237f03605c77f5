"""Sentence similarity: cosine similarity of mean-pooled sentence embeddings, every pair at once (pure compute)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.errors import BadInput
from bertviz_ui.models import anatomy
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of
from bertviz_ui.tasks.modeling import model_inputs
from bertviz_ui.tasks.validation import check_text

MAX_SENTENCES = 16
MAX_SENTENCE_CHARS = 1_000
# Off-diagonal cosines all above this: the embeddings crowd into one narrow cone (raw BERT does), worth a note.
CROWDED = 0.75
POOLING = ("Mean pooling: each sentence's vector is the average of its tokens' final hidden states (padding "
           "excluded, [CLS] and [SEP] included), as sentence-transformers computes it; similarity is the cosine "
           "of two such vectors.")


@dataclass(frozen=True)
class SentencePair:
    """Two sentences (by index) and the cosine similarity of their embeddings."""

    first: int
    second: int
    cosine: float


@dataclass(frozen=True)
class SimilarityResult:
    """Every pair of the sentences compared.

    Attributes:
        model: the model's label.
        sentences: the sentences, in the order given.
        tokens: how many tokens each sentence was read as (special tokens included, after truncation).
        matrix: cosine similarity of sentence i's and sentence j's embeddings (1 on the diagonal).
        pairs: every pair i < j, most similar first.
        nearest: for each sentence, the index of the most similar other sentence.
        mean_cosine: the average over pairs: how crowded the embedding space is.
        pooling: how a sentence becomes one vector.
        notes: what the user should know about this result.
    """

    model: str
    sentences: tuple[str, ...]
    tokens: tuple[int, ...]
    matrix: tuple[tuple[float, ...], ...]
    pairs: tuple[SentencePair, ...]
    nearest: tuple[int, ...]
    mean_cosine: float
    pooling: str
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_sentences(raw: Any) -> tuple[str, ...]:
    """One sentence per non-blank line, 2 to MAX_SENTENCES of them, each at most MAX_SENTENCE_CHARS; else BadInput."""
    text = check_text(raw, "Sentences", max_chars=MAX_SENTENCES * (MAX_SENTENCE_CHARS + 1))
    sentences = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(sentences) < 2:
        raise BadInput("Type at least two sentences, one per line, to compare them.")
    if len(sentences) > MAX_SENTENCES:
        raise BadInput(f"{len(sentences)} sentences: this tab compares up to {MAX_SENTENCES} at once.")
    long = next((i for i, s in enumerate(sentences) if len(s) > MAX_SENTENCE_CHARS), None)
    if long is not None:
        raise BadInput(f"Sentence {long + 1} is {len(sentences[long]):,} characters; each may have up to "
                       f"{MAX_SENTENCE_CHARS:,}.")
    return sentences


def sentence_embeddings(texts: list[str], *, model: Model, tokenizer: Tokenizer, limit: int) -> torch.Tensor:
    """Unit-length mean-pooled embeddings, [len(texts), hidden], from one padded batch.

    Args:
        texts: the texts (each truncated to ``limit`` tokens).
        model: an encoder, or a model whose encoder is used.
        tokenizer: its tokenizer.
        limit: most tokens per text.
    """
    base = anatomy.encoder(model)
    encoding = tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
    inputs = model_inputs(base, encoding)
    with torch.inference_mode():
        hidden = base(**inputs)[0].float()
    mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def compare_sentences(sentences: Any, *, model: Model, tokenizer: Tokenizer, label: str = "",
                      budget: Budget | None = None) -> SimilarityResult:
    """Embed every sentence (batched forwards) and compare every pair by cosine similarity.

    Args:
        sentences: text with one sentence per line (2 to 16), or a sequence of sentences.
        model: an encoder (all-MiniLM-L6-v2 is trained for exactly this; raw BERT is not).
        tokenizer: its tokenizer.
        label: the model's label, shown with the result.
        budget: what one request may cost; more is refused up front (OverBudget).

    Returns:
        SimilarityResult; ``matrix[i][j]`` is the cosine of sentences i and j.
    """
    if not isinstance(sentences, str) and isinstance(sentences, list | tuple):
        sentences = "\n".join(str(s) for s in sentences)
    texts = parse_sentences(sentences)
    budget = budget or Budget()
    limit = anatomy.max_length(tokenizer, model)
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]
    widths = [min(length, limit) for length in lengths]
    shape = shape_of(model)
    budget.check(f"Embedding {len(texts)} sentences of up to {max(widths)} tokens",
                 forward_flops(shape, max(widths), len(texts)), "Use fewer or shorter sentences.")
    rows = budget.rows_per_batch(shape, max(widths))
    vectors = torch.cat([sentence_embeddings(list(texts[start:start + rows]), model=model, tokenizer=tokenizer,
                                             limit=limit) for start in range(0, len(texts), rows)])
    matrix = (vectors @ vectors.T).clamp(-1.0, 1.0)
    matrix.fill_diagonal_(1.0)
    count = len(texts)
    pairs = sorted((SentencePair(i, j, float(matrix[i, j])) for i in range(count) for j in range(i + 1, count)),
                   key=lambda pair: -pair.cosine)
    others = matrix.clone().fill_diagonal_(-2.0)
    mean = sum(pair.cosine for pair in pairs) / len(pairs)
    notes = []
    truncated = [i + 1 for i, length in enumerate(lengths) if length > limit]
    if truncated:
        notes.append(f"Sentence{'s' if len(truncated) > 1 else ''} {', '.join(map(str, truncated))} "
                     f"{'were' if len(truncated) > 1 else 'was'} longer than the model's {limit} tokens and "
                     "truncated.")
    if count > 2 and min(pair.cosine for pair in pairs) > CROWDED:
        notes.append(f"Every pair scores above {CROWDED}: this model's sentence vectors crowd into one narrow cone "
                     "(raw BERT's do), so the ranking matters more than the values. A model trained for sentence "
                     "similarity, such as all-MiniLM-L6-v2, spreads them out.")
    return SimilarityResult(
        model=label, sentences=texts, tokens=tuple(widths),
        matrix=tuple(tuple(float(v) for v in row) for row in matrix),
        pairs=tuple(pairs), nearest=tuple(int(i) for i in others.argmax(1)), mean_cosine=float(mean),
        pooling=POOLING, notes=tuple(notes))
