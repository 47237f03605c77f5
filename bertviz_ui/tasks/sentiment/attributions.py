"""Token attributions: which words pushed one class's logit up or down (integrated gradients, gradient x input)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.errors import BadInput
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import Budget, ModelShape, forward_flops, shape_of
from bertviz_ui.tasks.modeling import model_inputs, model_max_length
from bertviz_ui.tasks.sentiment.inputs import _leading, check_classifier, labels_of
from bertviz_ui.tasks.validation import check_text, check_whole_number

METHODS = ("integrated_gradients", "gradient_x_input")
MAX_STEPS = 256
# Integrated-gradient steps are run at most this many interpolations per forward/backward pass (fewer when their
# activations would not fit the request's memory budget).
IG_CHUNK = 32


@dataclass(frozen=True)
class TokenScore:
    """Attribution of one token (or one word, subword scores summed) to the explained class."""

    text: str
    score: float
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class Attribution:
    """Which tokens pushed the explained class's logit up (positive) or down (negative).

    ``sum_of_attributions`` should equal ``target_logit - baseline_logit`` for integrated gradients (the
    completeness property); ``delta`` is their difference.
    """

    method: str
    target_label: str
    steps: int
    tokens: tuple[TokenScore, ...]
    words: tuple[TokenScore, ...]
    target_logit: float
    baseline_logit: float
    sum_of_attributions: float
    delta: float
    forward_passes: int
    seconds: float


def _target_index(model: Model, target: Any, predicted: int) -> int:
    labels = labels_of(model)
    if target in (None, "", "predicted"):
        return predicted
    if target in labels:
        return labels.index(target)
    raise BadInput(f"Unknown class {target!r}; this model's classes are {', '.join(labels)}.")


def _group_words(text: str, tokens: tuple[TokenScore, ...], word_ids: list[int | None]) -> tuple[TokenScore, ...]:
    words: dict[int, list] = {}
    for token, word in zip(tokens, word_ids):
        if word is None or token.start is None:
            continue
        entry = words.setdefault(word, [token.start, token.end, 0.0])
        entry[0], entry[1] = min(entry[0], token.start), max(entry[1], token.end)
        entry[2] += token.score
    return tuple(TokenScore(text=text[s:e], score=v, start=s, end=e) for s, e, v in words.values())


def embedding_attributions(logit: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, x0: torch.Tensor, *,
                           method: str, steps: int, chunk_size: int,
                           dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, int]:
    """Per-token attributions of one scalar output to the word embeddings: the one implementation of both methods.

    Args:
        logit: maps points in embedding space [batch, tokens, hidden] to the explained logit, one per point [batch]
            (a class's logit, or a vocabulary token's logit at a mask).
        x: the input's word embeddings [tokens, hidden] (float32).
        x0: the baseline's word embeddings [tokens, hidden] (integrated gradients only).
        method: "integrated_gradients" (midpoint rule along x0 -> x, ``steps`` points, ``chunk_size`` per pass) or
            "gradient_x_input" (one gradient at x, times x).
        dtype: the embedding table's dtype, which the model is fed in.

    Returns:
        (scores [tokens] float32, forward and backward passes run).
    """

    def gradients(points: torch.Tensor) -> torch.Tensor:
        points = points.to(dtype).requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(logit(points).sum(), points)
        return grad.float()

    if method == "gradient_x_input":
        return (gradients(x[None])[0] * x).sum(-1), 1
    total = torch.zeros_like(x)
    alphas = (torch.arange(steps, dtype=torch.float32, device=x.device) + 0.5) / steps
    passes = 0
    for chunk in alphas.split(chunk_size):
        points = x0[None] + chunk[:, None, None] * (x - x0)[None]
        total += gradients(points).sum(0)
        passes += 1
    return ((x - x0) * total / steps).sum(-1), passes


def integrated_gradients_flops(shape: ModelShape, tokens: int, steps: int) -> float:
    """attribute()'s work: the input and baseline forwards, and a forward and backward (to the inputs: about one
    more forward) per interpolation point; gradient x input is one point. inside_head's forward is counted too."""
    return forward_flops(shape, tokens) * (3 + 2 * steps)


def most_steps(model: Model, tokens: int, budget: Budget) -> int:
    """The most integration steps (up to MAX_STEPS) the budget allows for a text of ``tokens`` tokens (0: none)."""
    shape = shape_of(model)
    return budget.most(lambda steps: integrated_gradients_flops(shape, tokens, steps), MAX_STEPS)


def attribute(text: str, *, model: Model, tokenizer: Tokenizer, target: Any = None, method: str = "integrated_gradients",
              steps: Any = 32, newly_initialized: tuple[str, ...] = (), budget: Budget | None = None) -> Attribution:
    """Attribute one class's logit to the input tokens.

    Integrated gradients integrate the gradient along the straight line from a baseline (the same input with
    every non-special token replaced by [PAD]) to the input, in word-embedding space (Riemann midpoint rule,
    ``steps`` points, batched). Gradient x input is the one-step, cheaper approximation.

    Args:
        text: one text (truncated to the model maximum).
        model: a sequence-classification model.
        tokenizer: its tokenizer (fast, for word merging).
        target: class label to explain; None or "predicted" for the predicted class.
        method: "integrated_gradients" or "gradient_x_input".
        steps: integration steps for integrated gradients (1-256).
        newly_initialized: weights the checkpoint lacked; a random classification head is refused.
        budget: what one request may cost (default: the default budget). More steps than it allows are refused
            up front (OverBudget, naming how many fit); the points run in batches whose activations fit its memory.

    Returns:
        Attribution with per-token and per-word scores (subword scores summed per word).
    """
    check_classifier(newly_initialized)
    text = check_text(text, "Text")
    if method not in METHODS:
        raise BadInput(f"Method must be one of {', '.join(METHODS)}.")
    steps = check_whole_number(steps, "Steps", low=1, high=MAX_STEPS)
    budget = budget or Budget()
    started = time.perf_counter()
    limit = model_max_length(tokenizer, model)
    (read,), _ = _leading(tokenizer, [text], limit)
    encoding = tokenizer(read, truncation=True, max_length=limit, return_tensors="pt", return_offsets_mapping=True,
                         return_special_tokens_mask=True)
    length = int(encoding["input_ids"].shape[1])
    shape = shape_of(model)
    points = 1 if method == "gradient_x_input" else steps
    cost = integrated_gradients_flops(shape, length, points)
    if not budget.fits(cost):
        if method == "gradient_x_input":
            raise budget.refuse(f"Gradient x input on {length} tokens with this model", cost,
                                "Use a shorter text or a smaller model.")
        most = most_steps(model, length, budget)
        raise budget.refuse(
            f"Integrated gradients with {steps} steps on {length} tokens", cost,
            (f"At most {most} steps for this text (or shorten it), or use gradient × input." if most
             else "Use gradient × input, or a shorter text."))
    chunk_size = budget.rows_per_batch(shape, length, mode="inputs", cap=IG_CHUNK)
    offsets = encoding.pop("offset_mapping")[0].tolist()
    special = encoding.pop("special_tokens_mask")[0].bool()
    word_ids = encoding.word_ids()
    inputs = model_inputs(model, encoding)
    input_ids = inputs.pop("input_ids")
    embeddings = model.get_input_embeddings()
    device = next(model.parameters()).device
    baseline_ids = torch.where(special.to(device), input_ids[0], torch.tensor(tokenizer.pad_token_id, device=device))

    with torch.no_grad():
        x = embeddings(input_ids)[0].float()
        x0 = embeddings(baseline_ids[None])[0].float()
        logits = model(inputs_embeds=x[None].to(embeddings.weight.dtype), **inputs).logits.float()[0]
        baseline_logits = model(inputs_embeds=x0[None].to(embeddings.weight.dtype), **inputs).logits.float()[0]
    index = _target_index(model, target, int(logits.argmax()))
    passes = 2

    def class_logit(points: torch.Tensor) -> torch.Tensor:
        batch = {k: v.expand(points.shape[0], -1) for k, v in inputs.items()}
        return model(inputs_embeds=points, **batch).logits[:, index]

    scores, more = embedding_attributions(class_logit, x, x0, method=method, steps=steps, chunk_size=chunk_size,
                                          dtype=embeddings.weight.dtype)
    passes += more
    steps = 1 if method == "gradient_x_input" else steps
    pieces = tokenizer.convert_ids_to_tokens(input_ids[0].tolist())
    tokens = tuple(TokenScore(text=piece, score=float(score), start=None if special[i] else offsets[i][0],
                              end=None if special[i] else offsets[i][1])
                   for i, (piece, score) in enumerate(zip(pieces, scores.tolist())))
    total_score = float(scores.sum())
    difference = float(logits[index] - baseline_logits[index])
    return Attribution(
        method=method, target_label=labels_of(model)[index], steps=steps, tokens=tokens,
        words=_group_words(text, tokens, word_ids), target_logit=float(logits[index]),
        baseline_logit=float(baseline_logits[index]), sum_of_attributions=total_score,
        delta=total_score - difference, forward_passes=passes, seconds=time.perf_counter() - started)
