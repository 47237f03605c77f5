"""Sentiment: sequence classification for one text or a batch, token attributions, and the head's arithmetic."""

from __future__ import annotations

import dataclasses
import inspect
import time
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import Budget, ModelShape, forward_flops, leading_tokens, shape_of, text_prefix
from bertviz_ui.tasks.modeling import model_inputs, model_max_length
from bertviz_ui.tasks.validation import MAX_TEXT_CHARS, check_text, check_whole_number

MAX_LINES = 256
BATCH_SIZE = 32
LOW_CONFIDENCE = 0.7
METHODS = ("integrated_gradients", "gradient_x_input")
MAX_STEPS = 256
# Integrated-gradient steps are run at most this many interpolations per forward/backward pass (fewer when their
# activations would not fit the request's memory budget).
IG_CHUNK = 32
# A line is tokenized from a prefix of this many characters per token the model reads (then more if that prefix
# held too few tokens): 256 lines of 20,000 characters are never tokenized whole.
CHARS_PER_TOKEN = 16


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


@dataclass(frozen=True)
class HeadInside:
    """The path from hidden state to probability for one text, with the actual numbers."""

    source: str
    vector_size: int
    vector_norm: float
    vector_mean: float
    vector_min: float
    vector_max: float
    vector_head: tuple[float, ...]
    weight_shape: tuple[int, int]
    bias: tuple[float, ...]
    logits: tuple[float, ...]
    probabilities: tuple[float, ...]
    labels: tuple[str, ...]


# --- Input and model checks ---------------------------------------------------------------------------

def parse_lines(text: Any) -> tuple[list[str], int]:
    """Split the input into non-empty lines (each one text to classify) and count the empty ones."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise BadInput("Text must be text.")
    lines = text.splitlines()
    kept = [line for line in lines if line.strip()]
    if not kept:
        raise BadInput("Text is empty: type one review, or several, one per line.")
    if len(kept) > MAX_LINES:
        raise BadInput(f"{len(kept):,} lines: this tab classifies at most {MAX_LINES} at once.")
    for number, line in enumerate(lines, start=1):  # numbered as in the text box, empty lines included
        if len(line) > MAX_TEXT_CHARS:
            raise BadInput(f"Line {number} is {len(line):,} characters; each line may have up to {MAX_TEXT_CHARS:,}.")
    return kept, len(lines) - len(kept)


def check_classifier(newly_initialized: tuple[str, ...]) -> None:
    """Refuse a checkpoint whose classification head is missing (it would be random)."""
    head = [key for key in newly_initialized if "classifier" in key or key.startswith(("score", "pre_classifier"))]
    if head:
        raise ModelUnavailable("This checkpoint has no trained classification head (it would be random). Choose a "
                               "model fine-tuned for classification, such as "
                               "distilbert/distilbert-base-uncased-finetuned-sst-2-english.")


def labels_of(model: Model) -> tuple[str, ...]:
    """Class names from the model config, in logit order."""
    id2label = model.config.id2label
    return tuple(str(id2label[i]) for i in range(len(id2label)))


# --- Classification -------------------------------------------------------------------------------------

def classify(text: str, *, model: Model, tokenizer: Tokenizer, label: str = "", batch_size: int = BATCH_SIZE,
             newly_initialized: tuple[str, ...] = (), budget: Budget | None = None) -> SentimentBatch:
    """Classify each non-empty line of ``text``, in batches (one forward per ``batch_size`` lines).

    Args:
        text: one text, or several separated by newlines.
        model: a sequence-classification model in eval mode.
        tokenizer: its tokenizer.
        label: the model's label, shown with the result.
        batch_size: lines per forward pass (fewer for padded batches whose activations would not fit the budget).
        newly_initialized: weights the checkpoint lacked; a random classification head is refused.
        budget: what one request may cost (default: the default budget); more is refused up front (OverBudget).

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
    passes = 0
    for chunk in groups:
        encoding = tokenizer([read[i] for i in chunk], padding=not packing, truncation=True, max_length=limit,
                             return_tensors=None if packing else "pt")
        with torch.inference_mode():
            if packing:
                logits = _packed_logits(model, encoding["input_ids"])
            else:
                logits = model(**model_inputs(model, encoding)).logits.float()
        passes += 1
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


def _leading(tokenizer: Tokenizer, lines: list[str], limit: int) -> tuple[list[str], list[int]]:
    """What to tokenize of each line, and its length in tokens (counted up to limit + 1: "longer than the limit").

    Each line is read from a prefix long enough for ``limit`` tokens (cut at whitespace: its tokens are the
    line's first tokens), longer prefixes only for lines whose first one held too few tokens: a long line is
    never tokenized whole. The prefixes are tokenized in one batch.
    """
    read = [text_prefix(line, (limit + 1) * CHARS_PER_TOKEN) for line in lines]
    lengths = [len(ids) for ids in tokenizer(read, truncation=False)["input_ids"]]
    for index, line in enumerate(lines):
        if lengths[index] <= limit and len(read[index]) < len(line):  # too few tokens in the prefix: read further
            read[index], encoding = leading_tokens(tokenizer, line, limit, chars_per_token=2 * CHARS_PER_TOKEN,
                                                   truncation=False)
            lengths[index] = len(encoding["input_ids"])
    return read, lengths


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


def _packable(model: Model) -> bool:
    """Whether texts can share one sequence: a plain BERT or DistilBERT encoder with a head _head_from_first knows.

    RoBERTa-family positions start after the padding index, so those models take padded batches.
    """
    base = getattr(model, "base_model", None)
    return type(base).__name__ in ("BertModel", "DistilBertModel") and (
        hasattr(model, "pre_classifier") or getattr(base, "pooler", None) is not None)


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


def _packed_logits(model: Model, sequences: list[list[int]]) -> torch.Tensor:
    """Logits for several texts run as one sequence, without padding.

    The texts are concatenated (each keeps its [CLS] ... [SEP]), positions restart at 0 for each, and a
    block-diagonal attention mask keeps every text from seeing the others: the same arithmetic as one
    forward per text, with none of the padding rows a padded batch would compute.
    """
    base = model.base_model
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    ids = torch.tensor([token for sequence in sequences for token in sequence], device=device)[None]
    positions = torch.cat([torch.arange(len(sequence), device=device) for sequence in sequences])[None]
    total = ids.shape[1]
    mask = torch.full((total, total), torch.finfo(dtype).min, dtype=dtype, device=device)
    starts, cursor = [], 0
    for sequence in sequences:
        mask[cursor:cursor + len(sequence), cursor:cursor + len(sequence)] = 0
        starts.append(cursor)
        cursor += len(sequence)
    inputs = {"input_ids": ids, "attention_mask": mask[None, None], "position_ids": positions}
    if "token_type_ids" in inspect.signature(base.forward).parameters:
        inputs["token_type_ids"] = torch.zeros_like(ids)
    hidden = base(**inputs)[0][0]
    vector, linear, _ = _head_from_first(model, hidden[starts])
    return linear(vector).float()


# --- Attributions ---------------------------------------------------------------------------------------

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

    def gradients(points: torch.Tensor) -> torch.Tensor:
        points = points.to(embeddings.weight.dtype).requires_grad_(True)
        batch = {k: v.expand(points.shape[0], -1) for k, v in inputs.items()}
        with torch.enable_grad():
            out = model(inputs_embeds=points, **batch).logits[:, index].sum()
            (grad,) = torch.autograd.grad(out, points)
        return grad.float()

    if method == "gradient_x_input":
        scores = (gradients(x[None])[0] * x).sum(-1)
        passes += 1
        steps = 1
    else:
        total = torch.zeros_like(x)
        alphas = (torch.arange(steps, dtype=torch.float32, device=device) + 0.5) / steps
        for chunk in alphas.split(chunk_size):
            points = x0[None] + chunk[:, None, None] * (x - x0)[None]
            total += gradients(points).sum(0)
            passes += 1
        scores = ((x - x0) * total / steps).sum(-1)
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


# --- Inside the head ------------------------------------------------------------------------------------

def _head_from_first(model: Model, first: torch.Tensor) -> tuple[torch.Tensor, torch.nn.Linear, str]:
    """From each text's final first-token hidden state ([n, hidden]) to the vector entering the final linear layer.

    Written out per architecture rather than with a forward hook: hooks on a model shared by concurrent
    requests would capture other requests' tensors.
    """
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, torch.nn.Linear) and hasattr(model, "pre_classifier"):
        vector = torch.relu(model.pre_classifier(first))
        return vector, classifier, ("DistilBERT: the [CLS] hidden state through pre_classifier (linear + ReLU), "
                                    "then the final linear layer")
    pooler = getattr(model.base_model, "pooler", None)
    if isinstance(classifier, torch.nn.Linear) and pooler is not None:
        return pooler(first[:, None]), classifier, ("BERT: the pooled output (the [CLS] hidden state through a "
                                                    "linear layer + tanh), then the final linear layer")
    if isinstance(getattr(classifier, "out_proj", None), torch.nn.Linear) and hasattr(classifier, "dense"):
        # RoBERTa's head applies tanh; ELECTRA's (and others') name their activation.
        activation = getattr(classifier, "activation", None)
        vector = (activation or torch.tanh)(classifier.dense(first))
        name = type(activation).__name__ if activation is not None else "tanh"
        return vector, classifier.out_proj, (f"{type(model).__name__}: the first token's hidden state through a "
                                             f"linear layer + {name}, then the final linear layer")
    raise ModelUnavailable(f"{type(model).__name__}'s classification head is not one this view can open up.")


def _head_path(model: Model, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.nn.Linear, str]:
    """The vector entering the final linear layer for one encoded text, that layer, and how the vector was made."""
    base = model.base_model
    return _head_from_first(model, base(**model_inputs(base, inputs))[0][:, 0])


def inside_head(text: str, *, model: Model, tokenizer: Tokenizer, newly_initialized: tuple[str, ...] = ()) -> HeadInside:
    """The vector entering the final linear layer, the layer's logits, and their softmax, for one text.

    Args:
        text: one text (truncated to the model maximum).
        model: a sequence-classification model.
        tokenizer: its tokenizer.
        newly_initialized: weights the checkpoint lacked; a random classification head is refused.

    Returns:
        HeadInside; ``logits`` equal weight @ vector + bias (the model's own logits), ``probabilities`` their
        softmax.
    """
    check_classifier(newly_initialized)
    text = check_text(text, "Text")
    limit = model_max_length(tokenizer, model)
    read, _ = _leading(tokenizer, [text], limit)
    encoding = tokenizer(read[0], truncation=True, max_length=limit, return_tensors="pt")
    with torch.inference_mode():
        vector, linear, source = _head_path(model, dict(encoding))
        logits = linear(vector)[0].float()
    vector = vector[0].float()
    return HeadInside(
        source=source, vector_size=vector.numel(), vector_norm=float(vector.norm()), vector_mean=float(vector.mean()),
        vector_min=float(vector.min()), vector_max=float(vector.max()),
        vector_head=tuple(round(v, 4) for v in vector[:8].tolist()),
        weight_shape=(int(linear.weight.shape[0]), int(linear.weight.shape[1])),
        bias=tuple(linear.bias.float().tolist()) if linear.bias is not None else (),
        logits=tuple(logits.tolist()), probabilities=tuple(logits.softmax(-1).tolist()), labels=labels_of(model))
