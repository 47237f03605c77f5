"""Before vs after fine-tuning: one text through the base encoder and the session's fine-tuned model. The tuned
model's class probabilities, each encoder's nearest training examples, linear CKA between their hidden states per
layer (Kornblith et al., 2019) and the Jensen-Shannon distance between their attention maps per head."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bertviz_ui.errors import ModelUnavailable
from bertviz_ui.models import anatomy
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of
from bertviz_ui.tasks.finetune.limits import EVAL_BATCH, MAX_TEXT_CHARS
from bertviz_ui.tasks.finetune.trained import TrainedModel
from bertviz_ui.tasks.modeling import model_inputs
from bertviz_ui.tasks.validation import check_text, check_whole_number

# The text is read up to this many tokens: its attention maps are drawn (T x T per head, base and tuned).
MAX_COMPARE_TOKENS = 128
# Neighbours are searched among at most this many of the lab's examples (fewer when the budget says so), taken in
# turn from each label so every class is represented.
MAX_NEIGHBOUR_POOL = 200
TOP_N_RANGE = (1, 10)
DEFAULT_TOP_N = 5
# CKA reads the text's tokens, then the searched examples' tokens (already run for the neighbours) up to this many
# in all: enough for a stable estimate, bounded memory (tokens x layers x hidden, twice).
MAX_CKA_TOKENS = 512
TOP_HEADS = 5
MOVED_LAYERS = 2
# CKA this close to 1: the layer did not move at all (rounding). Above BARELY, a note says fine-tuning barely moved it.
UNMOVED = 1 - 1e-6
BARELY = 0.999


@dataclass(frozen=True)
class Neighbour:
    """A training example near the text in one encoder's embedding space (cosine of mean-pooled embeddings)."""

    index: int
    text: str
    label: str
    cosine: float


@dataclass(frozen=True)
class HeadChange:
    """One attention head's change: mean JS distance over query rows, and both maps [query][key] for the text."""

    layer: int
    head: int
    js: float
    base: tuple[tuple[float, ...], ...]
    tuned: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class FinetuneComparison:
    """The base encoder and the fine-tuned model on one text.

    Attributes:
        model: the base model's label.
        text: the text as given.
        tokens: its tokens as read (at most MAX_COMPARE_TOKENS).
        labels: the fine-tuned classifier's classes.
        probabilities: the fine-tuned model's probability of each class (labels' order).
        predicted: its most probable class.
        neighbours_base, neighbours_tuned: nearest examples by each encoder, most similar first.
        searched: how many of the lab's examples were searched.
        cka_layers: "embeddings", "layer 0", ...: the hidden states compared.
        cka: linear CKA of base vs tuned hidden states per entry of cka_layers (1 = same geometry).
        cka_tokens: tokens CKA was computed over: {"text": n, "examples": m}.
        moved_layers: the layers with the lowest CKA (most changed), lowest first; empty when none moved.
        attention_change: [layer][head] Jensen-Shannon distance (base 2, in [0, 1]) averaged over query rows.
        top_heads: the most-changed heads, most first, with both attention maps.
        notes: what the user should know about this result.
    """

    model: str
    text: str
    tokens: tuple[str, ...]
    labels: tuple[str, ...]
    probabilities: tuple[float, ...]
    predicted: str
    neighbours_base: tuple[Neighbour, ...]
    neighbours_tuned: tuple[Neighbour, ...]
    searched: int
    cka_layers: tuple[str, ...]
    cka: tuple[float | None, ...]
    cka_tokens: dict[str, int]
    moved_layers: tuple[str, ...]
    attention_change: tuple[tuple[float, ...], ...]
    top_heads: tuple[HeadChange, ...]
    notes: tuple[str, ...]

    def same_label_share(self, neighbours: Sequence[Neighbour]) -> float | None:
        """The share of ``neighbours`` labelled as the fine-tuned model predicts the text (None when there are none)."""
        return sum(n.label == self.predicted for n in neighbours) / len(neighbours) if neighbours else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; the top heads' attention maps are left out (the figure draws them; at 128 tokens they would
        multiply the response's size)."""
        def rows(neighbours: Sequence[Neighbour]) -> list[dict[str, Any]]:
            return [{"index": n.index, "text": n.text, "label": n.label, "cosine": n.cosine} for n in neighbours]

        return {
            "model": self.model, "text": self.text, "tokens": list(self.tokens), "labels": list(self.labels),
            "probabilities": dict(zip(self.labels, self.probabilities)), "predicted": self.predicted,
            "neighbours": {"base": rows(self.neighbours_base), "tuned": rows(self.neighbours_tuned),
                           "searched": self.searched,
                           "same_label_as_prediction": {"base": self.same_label_share(self.neighbours_base),
                                                        "tuned": self.same_label_share(self.neighbours_tuned)}},
            "cka_layers": list(self.cka_layers), "cka": list(self.cka), "cka_tokens": dict(self.cka_tokens),
            "moved_layers": list(self.moved_layers),
            "attention_change": [list(row) for row in self.attention_change],
            "top_heads": [{"layer": h.layer, "head": h.head, "js": h.js} for h in self.top_heads],
            "notes": list(self.notes),
        }


# --- The measures -----------------------------------------------------------------------------------------------

def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float | None:
    """Linear CKA (Kornblith et al., 2019) of two representations of the same n examples: [n, d1] and [n, d2].

    CKA = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), columns centered; computed through the n x n Gram
    matrices when n is the smaller side. 1 for the same geometry (invariant to rotation and isotropic scaling), 0 for
    unrelated ones. None when either side has no variance (nothing to compare).
    """
    x = x.double() - x.double().mean(0, keepdim=True)
    y = y.double() - y.double().mean(0, keepdim=True)
    if x.shape[0] <= min(x.shape[1], y.shape[1]):
        gram_x, gram_y = x @ x.T, y @ y.T
        cross = (gram_x * gram_y).sum()
    else:
        gram_x, gram_y = x.T @ x, y.T @ y
        cross = (y.T @ x).pow(2).sum()
    denominator = torch.linalg.matrix_norm(gram_x) * torch.linalg.matrix_norm(gram_y)
    if float(denominator) <= 1e-24:
        return None
    return float(min(1.0, max(0.0, float(cross / denominator))))


def js_distance(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon distance in base 2 (in [0, 1]) between distributions along the last axis (0 log 0 = 0).

    sqrt(JSD), JSD = (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2: as scipy.spatial.distance.jensenshannon
    with base=2.
    """
    p, q = p.double(), q.double()
    m = (p + q) / 2

    def kl(a: torch.Tensor) -> torch.Tensor:
        ratio = torch.where(a > 0, a / torch.where(m > 0, m, 1.0), 1.0)
        return (a * torch.log2(ratio)).sum(-1)

    return ((kl(p) + kl(q)) / 2).clamp(min=0.0).sqrt()


def nearest(vector: torch.Tensor, pool: torch.Tensor, top_n: int) -> list[tuple[int, float]]:
    """(row of ``pool``, cosine) of the ``top_n`` rows most similar to ``vector`` (unit vectors), most first; ties by
    row."""
    scores = (pool @ vector).tolist()
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:top_n]
    return [(i, float(scores[i])) for i in order]


# --- Input and cost ---------------------------------------------------------------------------------------------

def check_compare_input(text: Any, top_n: Any) -> tuple[str, int]:
    """The text (required, at most the lab's MAX_TEXT_CHARS) and how many neighbours (1-10; blank: 5)."""
    text = check_text(text, "Text", max_chars=MAX_TEXT_CHARS)
    if top_n is None or top_n == "":
        return text, DEFAULT_TOP_N
    return text, check_whole_number(top_n, "Neighbours", low=TOP_N_RANGE[0], high=TOP_N_RANGE[1])


def _pool_order(labels: Sequence[str]) -> list[int]:
    """Example indices taking one of each label in turn (first label seen first): a prefix covers every class."""
    rank: dict[str, int] = {}
    first: dict[str, int] = {}
    keyed = []
    for index, label in enumerate(labels):
        first.setdefault(label, len(first))
        keyed.append((rank.get(label, 0), first[label], index))
        rank[label] = rank.get(label, 0) + 1
    return [index for *_, index in sorted(keyed)]


def _encode(tokenizer: Tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def _batch(ids: Sequence[Sequence[int]], pad: int) -> dict[str, torch.Tensor]:
    width = max(len(row) for row in ids)
    input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for r, row in enumerate(ids):
        input_ids[r, :len(row)] = torch.tensor(row, dtype=torch.long)
        mask[r, :len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(input_ids)}


def _mean_pooled(last: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unit-length mean of each row's real (unpadded) tokens: [rows, hidden]."""
    weights = mask.unsqueeze(-1).to(last.dtype)
    pooled = (last * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled.float(), dim=-1)


def _run(encoder: Any, inputs: dict[str, torch.Tensor], *, attentions: bool) -> tuple[list[torch.Tensor], list]:
    """Every hidden state (embeddings first) and, if asked, every layer's attention weights, on the CPU in float32."""
    with torch.inference_mode():
        out = encoder(**model_inputs(encoder, inputs), output_hidden_states=True, output_attentions=attentions)
    hidden = [h.float().cpu() for h in out.hidden_states]
    weights = [a.float().cpu() for a in (out.attentions or ())] if attentions else []
    if attentions and not weights:
        raise ModelUnavailable("This model returned no attention weights (its attention implementation hides them); "
                               "it needs eager attention.")
    return hidden, weights


# --- The comparison ---------------------------------------------------------------------------------------------

def compare_to_base(text: Any, *, trained: TrainedModel, base: Model, top_n: Any = DEFAULT_TOP_N, label: str = "",
                    budget: Budget | None = None) -> FinetuneComparison:
    """Run ``text`` through the base encoder and the fine-tuned model and measure what fine-tuning changed.

    Both models must use eager attention (sdpa returns no attention weights). Nothing is modified.

    Args:
        text: the text (required; at most the lab's 1,000 characters; read up to 128 tokens).
        trained: the session's fine-tuned model, with the examples it was trained on.
        base: the encoder the lab started from (full precision).
        top_n: neighbours to list per encoder (1-10).
        label: the base model's label, shown with the result.
        budget: what one request may cost: the text's two forwards must fit (else OverBudget); the examples searched
            for neighbours are as many as fit after them, at most MAX_NEIGHBOUR_POOL.

    Returns:
        FinetuneComparison.
    """
    text, top_n = check_compare_input(text, top_n)
    budget = budget or Budget()
    tuned_encoder, base_encoder = anatomy.encoder(trained.model), anatomy.encoder(base)
    if (base_encoder.config.num_hidden_layers, base_encoder.config.hidden_size) != (
            tuned_encoder.config.num_hidden_layers, tuned_encoder.config.hidden_size):
        raise ModelUnavailable("The base model's shape differs from the fine-tuned model's: it isn't the model the "
                               "lab started from. Train again.")
    tokenizer, notes = trained.tokenizer, []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    limit = min(MAX_COMPARE_TOKENS, trained.max_length)
    (text_ids,) = _encode(tokenizer, [text], limit)
    if len(_encode(tokenizer, [text], limit + 1)[0]) > limit:
        notes.append(f"The text is longer than {limit} tokens: its first {limit} are compared.")
    shape = shape_of(base)
    text_cost = 2 * forward_flops(shape, len(text_ids))
    budget.check(f"Running {len(text_ids)} tokens through both models", text_cost, "Use a shorter text.")

    order = _pool_order(trained.example_labels)[:MAX_NEIGHBOUR_POOL]
    example_ids = _encode(tokenizer, [trained.examples[i] for i in order], trained.max_length) if order else []
    lengths = [len(ids) for ids in example_ids]
    prefix = np.cumsum([2 * forward_flops(shape, n) for n in lengths]) if lengths else np.zeros(0)
    searched = budget.most(lambda n: text_cost + float(prefix[n - 1]), len(order), low=1) if order else 0
    searched = max(searched, 0)
    if searched < len(trained.examples):
        notes.append(f"Neighbours were searched among {searched} of the {len(trained.examples)} training examples "
                     "(taken from each label in turn), within one request's budget.")

    trained.model.eval()
    inputs = _batch([text_ids], pad)
    with torch.inference_mode():
        out = trained.model(**model_inputs(trained.model, inputs), output_hidden_states=True, output_attentions=True)
    probabilities = out.logits.float().softmax(-1)[0].cpu()
    tuned_hidden = [h.float().cpu() for h in out.hidden_states]
    tuned_attention = [a.float().cpu() for a in (out.attentions or ())]
    if not tuned_attention:
        raise ModelUnavailable("The fine-tuned model returned no attention weights: it needs eager attention.")
    base_hidden, base_attention = _run(base_encoder, inputs, attentions=True)

    # Hidden states for CKA: the text's tokens, then the examples' as they stream by.
    cka_base = [[h[0]] for h in base_hidden]
    cka_tuned = [[h[0]] for h in tuned_hidden]
    room = MAX_CKA_TOKENS - len(text_ids)
    pooled_base, pooled_tuned = [], []
    rows = budget.rows_per_batch(shape, max(lengths[:searched], default=1), cap=EVAL_BATCH)
    for start in range(0, searched, rows):
        batch = _batch(example_ids[start:min(searched, start + rows)], pad)
        mask = batch["attention_mask"]
        hb, _ = _run(base_encoder, batch, attentions=False)
        ht, _ = _run(tuned_encoder, batch, attentions=False)
        pooled_base.append(_mean_pooled(hb[-1], mask))
        pooled_tuned.append(_mean_pooled(ht[-1], mask))
        for r in range(mask.shape[0]):
            take = min(room, int(mask[r].sum()))
            if take <= 0:
                break
            for layer in range(len(hb)):
                cka_base[layer].append(hb[layer][r, :take])
                cka_tuned[layer].append(ht[layer][r, :take])
            room -= take
    example_tokens = MAX_CKA_TOKENS - len(text_ids) - room if searched else 0
    cka = tuple(linear_cka(torch.cat(b), torch.cat(t)) for b, t in zip(cka_base, cka_tuned))
    layer_names = ("embeddings", *(f"layer {i}" for i in range(len(cka) - 1)))
    scored = sorted((value, i) for i, value in enumerate(cka) if value is not None and value < UNMOVED)
    moved = tuple(layer_names[i] for _value, i in scored[:MOVED_LAYERS])

    vector_base = _mean_pooled(base_hidden[-1], inputs["attention_mask"])[0]
    vector_tuned = _mean_pooled(tuned_hidden[-1], inputs["attention_mask"])[0]
    examples, example_labels = trained.examples, trained.example_labels

    def neighbours(vector: torch.Tensor, pooled: list[torch.Tensor]) -> tuple[Neighbour, ...]:
        if not pooled:
            return ()
        return tuple(Neighbour(index=order[row], text=examples[order[row]], label=example_labels[order[row]],
                               cosine=cosine) for row, cosine in nearest(vector, torch.cat(pooled), top_n))

    change = torch.stack([js_distance(b[0], t[0]).mean(-1) for b, t in zip(base_attention, tuned_attention)])
    ranked = sorted(((float(change[layer, head]), layer, head) for layer in range(change.shape[0])
                     for head in range(change.shape[1])), key=lambda item: (-item[0], item[1], item[2]))
    top = tuple(HeadChange(layer=layer, head=head, js=js, base=_rounded(base_attention[layer][0, head]),
                           tuned=_rounded(tuned_attention[layer][0, head])) for js, layer, head in ranked[:TOP_HEADS])
    if not moved:
        notes.append("No layer's representation changed (CKA 1 everywhere): with the encoder frozen, fine-tuning "
                     "trains the new head alone.")
    elif min(value for value in cka if value is not None) > BARELY:
        notes.append(f"Every layer keeps CKA above {BARELY}: fine-tuning barely changed the encoder's geometry (few "
                     "or small steps); the layers named moved most, by a little.")
    notes.append(f"CKA is computed over {len(text_ids)} tokens of the text and {example_tokens} tokens of the "
                 "training examples searched (every hidden state of both models, token by token).")
    return FinetuneComparison(
        model=label, text=text, tokens=tuple(tokenizer.convert_ids_to_tokens(text_ids)), labels=trained.labels,
        probabilities=tuple(float(p) for p in probabilities), predicted=trained.labels[int(probabilities.argmax())],
        neighbours_base=neighbours(vector_base, pooled_base), neighbours_tuned=neighbours(vector_tuned, pooled_tuned),
        searched=searched, cka_layers=layer_names, cka=cka,
        cka_tokens={"text": len(text_ids), "examples": example_tokens}, moved_layers=moved,
        attention_change=tuple(tuple(float(v) for v in row) for row in change), top_heads=top, notes=tuple(notes))


def _rounded(weights: torch.Tensor) -> tuple[tuple[float, ...], ...]:
    """An attention map as nested tuples, 4 decimals (what a heatmap shows)."""
    return tuple(tuple(round(float(v), 4) for v in row) for row in weights.tolist())

