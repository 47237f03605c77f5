"""Next-sentence prediction: BERT's second pretraining task, for one pair or a whole paragraph (pure compute)."""

from __future__ import annotations

import dataclasses
import functools
import random
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.batching import MicroBatcher, forward
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of
from bertviz_ui.tasks.modeling import model_max_length
from bertviz_ui.tasks.validation import check_text, check_whole_number

MAX_SENTENCES = 24
NSP_HEAD_KEYS = ("cls.seq_relationship",)


@dataclass(frozen=True)
class NspResult:
    """How likely sentence B follows sentence A, from the NSP head: [IsNext, NotNext] softmax."""

    model: str
    sentence_a: str
    sentence_b: str
    tokens: tuple[str, ...]
    token_type_ids: tuple[int, ...]
    logits: tuple[float, float]
    is_next: float
    not_next: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PairScore:
    """One scored pair of a paragraph: sentence indices, whether B really follows A, and the probabilities."""

    first: int
    second: int
    actually_next: bool
    is_next: float
    not_next: float


@dataclass(frozen=True)
class ParagraphNsp:
    """Every consecutive pair of a paragraph's sentences plus shuffled pairs, scored in one batched forward."""

    model: str
    sentences: tuple[str, ...]
    pairs: tuple[PairScore, ...]
    seed: int
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_nsp_head(model: Model, newly_initialized: tuple[str, ...]) -> None:
    """Refuse models whose NSP head is missing or untrained, saying why (RoBERTa dropped NSP)."""
    if any(key.startswith(NSP_HEAD_KEYS) for key in newly_initialized):
        raise ModelUnavailable("This checkpoint has no trained next-sentence-prediction head (it would be random). "
                               "Use an original BERT checkpoint such as google-bert/bert-base-uncased; models "
                               "like RoBERTa were pretrained without NSP.")


def _probabilities(model: Model, encoding: Any, batcher: MicroBatcher | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    (logits,) = forward(model, encoding, batcher=batcher)
    return logits, logits.softmax(-1)


def _check_length(encoding: Any, tokenizer: Tokenizer, model: Model) -> None:
    length = encoding["input_ids"].shape[1]
    limit = model_max_length(tokenizer, model)
    if length > limit:
        raise BadInput(f"A sentence pair is {length} tokens together; this model reads at most {limit}. "
                       "Shorten the sentences.")


def predict_next_sentence(sentence_a: str, sentence_b: str, *, model: Model, tokenizer: Tokenizer, label: str = "",
                          newly_initialized: tuple[str, ...] = (), batcher: MicroBatcher | None = None) -> NspResult:
    """Probability that ``sentence_b`` follows ``sentence_a``.

    Args:
        sentence_a: the first sentence (segment A, token type 0).
        sentence_b: the candidate next sentence (segment B, token type 1).
        model: a model with an NSP head (BertForNextSentencePrediction); logits are [IsNext, NotNext].
        tokenizer: its tokenizer.
        label: the model's label, shown with the result.
        newly_initialized: weights the checkpoint lacked; an untrained NSP head is refused.
        batcher: runs the forward together with concurrent requests on the same model (same numbers).

    Returns:
        NspResult. Raises BadInput for empty or over-long sentences.
    """
    check_nsp_head(model, newly_initialized)
    sentence_a = check_text(sentence_a, "Sentence A")
    sentence_b = check_text(sentence_b, "Sentence B")
    encoding = tokenizer(sentence_a, sentence_b, return_tensors="pt", truncation=False)
    _check_length(encoding, tokenizer, model)
    logits, probs = _probabilities(model, encoding, batcher)
    type_ids = encoding.get("token_type_ids")
    return NspResult(
        model=label,
        sentence_a=sentence_a,
        sentence_b=sentence_b,
        tokens=tuple(tokenizer.convert_ids_to_tokens(encoding["input_ids"][0].tolist())),
        token_type_ids=tuple(type_ids[0].tolist()) if type_ids is not None else (),
        logits=(float(logits[0, 0]), float(logits[0, 1])),
        is_next=float(probs[0, 0]),
        not_next=float(probs[0, 1]),
    )


@functools.cache
def _sentencizer() -> Any:
    """spaCy's rule-based sentence splitter (no model download); built once, read-only afterwards."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def split_sentences(paragraph: str) -> tuple[str, ...]:
    """Split a paragraph into sentences with spaCy's sentencizer."""
    return tuple(s.text.strip() for s in _sentencizer()(paragraph).sents if s.text.strip())


def score_paragraph(paragraph: str, *, model: Model, tokenizer: Tokenizer, seed: int = 0, label: str = "",
                    newly_initialized: tuple[str, ...] = (), budget: Budget | None = None) -> ParagraphNsp:
    """Score each consecutive sentence pair and as many shuffled (not-next) pairs, batched (one forward when the
    pairs' activations fit the budget's memory; else batches of pairs of similar length).

    Args:
        paragraph: text of 2 to 24 sentences.
        model: a model with an NSP head.
        tokenizer: its tokenizer.
        seed: picks the shuffled pairs.
        label: the model's label, shown with the result.
        newly_initialized: weights the checkpoint lacked; an untrained NSP head is refused.
        budget: what one request may cost (default: the default budget); more is refused up front (OverBudget).

    Returns:
        ParagraphNsp; ``accuracy`` is the share of pairs where IsNext > 0.5 matches the truth.
    """
    check_nsp_head(model, newly_initialized)
    paragraph = check_text(paragraph, "Paragraph")
    seed = check_whole_number(seed, "Seed", low=0, high=2**31 - 1)
    sentences = split_sentences(paragraph)
    if len(sentences) < 2:
        raise BadInput("The paragraph needs at least two sentences.")
    if len(sentences) > MAX_SENTENCES:
        raise BadInput(f"The paragraph has {len(sentences)} sentences; this tab scores at most {MAX_SENTENCES}.")
    pairs = [(i, i + 1, True) for i in range(len(sentences) - 1)]
    rng = random.Random(seed)
    for i in range(len(sentences) - 1):
        others = [j for j in range(len(sentences)) if j not in (i, i + 1)]
        # With two sentences the only not-next pair is the reversed one (sentence 2 followed by sentence 1).
        pairs.append((i, rng.choice(others), False) if others else (i + 1, i, False))
    firsts, seconds = [sentences[a] for a, _, _ in pairs], [sentences[b] for _, b, _ in pairs]
    lengths = [len(ids) for ids in tokenizer(firsts, seconds, truncation=False)["input_ids"]]
    limit = model_max_length(tokenizer, model)
    if max(lengths) > limit:
        raise BadInput(f"A sentence pair is {max(lengths)} tokens together; this model reads at most {limit}. "
                       "Shorten the sentences.")
    budget = budget or Budget()
    shape = shape_of(model)
    rows = budget.rows_per_batch(shape, max(lengths))
    # Pairs of similar length share a batch, so little is padded; one batch when everything fits.
    order = sorted(range(len(pairs)), key=lambda k: lengths[k]) if rows < len(pairs) else list(range(len(pairs)))
    batches = [order[start:start + rows] for start in range(0, len(order), rows)]
    cost = sum(forward_flops(shape, max(lengths[k] for k in batch), len(batch)) for batch in batches)
    if not budget.fits(cost):
        fitting = int(len(pairs) * budget.flops / cost)
        raise budget.refuse(f"Scoring {len(pairs)} sentence pairs of up to {max(lengths)} tokens", cost,
                            f"At most about {max(2, fitting // 2 + 1)} sentences of this length fit one request: "
                            "shorten the paragraph or its sentences.")
    probs = torch.empty((len(pairs), 2))
    for batch in batches:
        encoding = tokenizer([firsts[k] for k in batch], [seconds[k] for k in batch], return_tensors="pt",
                             padding=True, truncation=False)
        probs[batch] = _probabilities(model, encoding)[1].cpu()
    scored = tuple(PairScore(first=a, second=b, actually_next=truth, is_next=float(probs[k, 0]),
                             not_next=float(probs[k, 1])) for k, (a, b, truth) in enumerate(pairs))
    correct = sum(1 for p in scored if (p.is_next > 0.5) == p.actually_next)
    return ParagraphNsp(model=label, sentences=sentences, pairs=scored, seed=seed, accuracy=correct / len(scored))
