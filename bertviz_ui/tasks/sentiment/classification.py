"""Sequence classification of one text or a batch of lines: padded batches, or several lines packed into one
sequence where the architecture allows it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.batching import MicroBatcher, forward, packed_hidden
from bertviz_ui.tasks.budget import Budget, ModelShape, forward_flops, shape_of
from bertviz_ui.tasks.modeling import model_max_length
from bertviz_ui.tasks.sentiment.head import _head_from_first, _packable
from bertviz_ui.tasks.sentiment.inputs import LOW_CONFIDENCE, _leading, check_classifier, labels_of, parse_lines

BATCH_SIZE = 32


@dataclass(frozen=True)
class ClassScore:
    """One class and its probability."""

    label: str
    score: float


@dataclass(frozen=True)
class Classification:
    """One text's prediction: the winning label, every class's probability (config order), truncation."""

    text: str
    label: str
    score: float
    scores: tuple[ClassScore, ...]
    num_tokens: int
    truncated: bool
    low_confidence: bool


@dataclass(frozen=True)
class SentimentBatch:
    """Predictions for every non-empty line, in input order."""

    model: str
    labels: tuple[str, ...]
    rows: tuple[Classification, ...]
    skipped_empty_lines: int
    forward_passes: int
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        payload = dataclasses.asdict(self)
        first = self.rows[0]
        payload.update(label=first.label, scores={s.label: s.score for s in first.scores})
        return payload


def classify(text: str, *, model: Model, tokenizer: Tokenizer, label: str = "", batch_size: int = BATCH_SIZE,
             newly_initialized: tuple[str, ...] = (), budget: Budget | None = None,
             batcher: MicroBatcher | None = None) -> SentimentBatch:
    """Classify each non-empty line of ``text``, in batches (one forward per ``batch_size`` lines).

    Args:
        text: one text, or several separated by newlines.
        model: a sequence-classification model in eval mode.
        tokenizer: its tokenizer.
        label: the model's label, shown with the result.
        batch_size: lines per forward pass (fewer for padded batches whose activations would not fit the budget).
        newly_initialized: weights the checkpoint lacked; a random classification head is refused.
        budget: what one request may cost (default: the default budget); more is refused up front (OverBudget).
        batcher: runs each forward together with concurrent requests on the same model (same numbers).

    Returns:
        SentimentBatch. Lines longer than the model maximum are truncated, with a note.
    """
    check_classifier(newly_initialized)
    lines, skipped = parse_lines(text)
    labels = labels_of(model)
    limit = model_max_length(tokenizer, model)
    budget = budget or Budget()
    read, lengths = _leading(tokenizer, lines, limit)
    shape = shape_of(model)
    packing = _packable(model)
    if not packing:  # padded batches: as many rows as the memory budget holds at the longest length
        batch_size = min(batch_size, budget.rows_per_batch(shape, min(max(lengths), limit)))
    groups = _groups(lengths, limit, batch_size, packing)
    cost = _groups_flops(shape, groups, lengths, limit, packing)
    if not budget.fits(cost):
        longest = min(max(lengths), limit)
        most = budget.most(lambda k: _groups_flops(shape, _groups(lengths[:k], limit, batch_size, packing),
                                                   lengths, limit, packing), len(lines))
        raise budget.refuse(
            f"Classifying {len(lines)} lines of up to {longest} tokens ({sum(min(n, limit) for n in lengths):,} "
            "tokens in all)", cost,
            f"At most {most} of these lines fit one request: send the rest in another, or shorten them." if most
            else "Shorten the lines.")
    probabilities: dict[int, list[float]] = {}
    passes = len(groups)
    if packing:  # every pack in one call, so the request waits for one batch, not one per pack
        ids = tokenizer([read[i] for i in range(len(read))], truncation=True, max_length=limit)["input_ids"]
        logits = _packed_together(model, [[ids[i] for i in group] for group in groups], limit, batcher)
        for row, index in enumerate(index for group in groups for index in group):
            probabilities[index] = logits[row].softmax(-1).tolist()
    for chunk in [] if packing else groups:
        encoding = tokenizer([read[i] for i in chunk], padding=True, truncation=True, max_length=limit,
                             return_tensors="pt")
        (logits,) = forward(model, encoding, batcher=batcher)
        for row, index in enumerate(chunk):
            probabilities[index] = logits[row].softmax(-1).tolist()
    rows = []
    for index, line in enumerate(lines):
        probs = probabilities[index]
        best = max(range(len(probs)), key=probs.__getitem__)
        rows.append(Classification(
            text=line, label=labels[best], score=probs[best],
            scores=tuple(ClassScore(name, p) for name, p in zip(labels, probs)),
            num_tokens=min(lengths[index], limit), truncated=lengths[index] > limit,
            low_confidence=probs[best] < LOW_CONFIDENCE))
    notes = []
    truncated = [i + 1 for i, row in enumerate(rows) if row.truncated]
    if truncated:
        notes.append(f"Line(s) {', '.join(map(str, truncated[:10]))} exceed the model's {limit} tokens and were "
                     "truncated to fit; only the beginning was read.")
    if skipped:
        notes.append(f"{skipped} empty line(s) skipped.")
    if len(rows) > 1:
        notes.append(f"{len(rows)} lines classified in {passes} batched forward pass(es).")
    return SentimentBatch(model=label, labels=labels, rows=tuple(rows), skipped_empty_lines=skipped,
                          forward_passes=passes, notes=tuple(notes))


def _groups(lengths: list[int], limit: int, batch_size: int, packing: bool) -> list[list[int]]:
    """Lines (indices) per forward pass: sorted by length, which keeps padding (wasted work) low in a batch."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    if packing:
        return _packs(order, lengths, limit, batch_size)
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def _groups_flops(shape: ModelShape, groups: list[list[int]], lengths: list[int], limit: int,
                  packing: bool) -> float:
    """The forward passes' work: a packed group is one sequence of its lines' tokens, a padded one is rows x width."""
    total = 0.0
    for group in groups:
        sizes = [min(lengths[i], limit) for i in group]
        total += forward_flops(shape, sum(sizes)) if packing else forward_flops(shape, max(sizes), len(sizes))
    return total


def _packs(order: list[int], lengths: list[int], limit: int, batch_size: int) -> list[list[int]]:
    """Greedy groups of length-sorted texts, each at most ``limit`` tokens together and ``batch_size`` texts."""
    groups: list[list[int]] = []
    used = 0
    for index in order:
        length = min(lengths[index], limit)
        if not groups or used + length > limit or len(groups[-1]) >= batch_size:
            groups.append([])
            used = 0
        groups[-1].append(index)
        used += length
    return groups


def _packed_together(model: Model, packs: list[list[list[int]]], limit: int,
                     batcher: MicroBatcher | None) -> torch.Tensor:
    """``_packed_logits`` of each pack (one forward each when alone), every sequence's logits in order; with
    concurrent requests, their packs are merged while the merged sequence stays within ``limit`` tokens (block-diagonal
    attention: every text still sees only itself)."""
    def run_batch(parts: list[list[list[list[int]]]]) -> list[torch.Tensor]:
        merged: list[list[list[int]]] = []
        used = 0
        for pack in (pack for part in parts for pack in part):
            size = sum(len(sequence) for sequence in pack)
            if len(parts) == 1 or not merged or used + size > limit:
                merged.append([])
                used = 0
            merged[-1].extend(pack)
            used += size
        with torch.inference_mode():
            logits = torch.cat([_packed_logits(model, pack) for pack in merged]).cpu()
        return list(logits.split([sum(len(pack) for pack in part) for part in parts]))

    if batcher is None:
        return run_batch([packs])[0]
    sequences = [sequence for pack in packs for sequence in pack]
    return batcher.run((id(model), "packed", limit), packs, run_batch, rows=len(sequences),
                       width=sum(len(sequence) for sequence in sequences) // len(sequences) + 1)


def _packed_logits(model: Model, sequences: list[list[int]]) -> torch.Tensor:
    """Logits for several texts run as one sequence, without padding (batching.packed_hidden), the classifier head
    applied at each text's first token."""
    hidden, starts = packed_hidden(model, sequences)
    vector, linear, _ = _head_from_first(model, hidden[starts])
    return linear(vector).float()
