"""Zero-shot classification: every label becomes an NLI hypothesis, scored in one batched forward (pure compute).

Also the offline alternative: cosine similarity of mean-pooled sentence embeddings (all-MiniLM-L6-v2),
a different method, labelled as such.
"""

from __future__ import annotations

import dataclasses
import re
import string
import time
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.batching import MicroBatcher, forward
from bertviz_ui.tasks.budget import Budget, forward_flops, leading_tokens, shape_of
from bertviz_ui.tasks.modeling import model_inputs, model_max_length
from bertviz_ui.tasks.similarity import sentence_embeddings
from bertviz_ui.tasks.validation import check_text

DEFAULT_TEMPLATE = "This example is {}."
MAX_LABELS = 50
MAX_LABEL_CHARS = 100
MAX_TEMPLATE_CHARS = 200
METHOD_NLI = "nli"
METHOD_EMBEDDING = "embedding similarity"
# The text is tokenized from a prefix of this many characters per token the model reads (whole when that prefix
# holds too few tokens): every hypothesis pairs with the text, which is never tokenized whole 50 times.
CHARS_PER_TOKEN = 16


@dataclass(frozen=True)
class LabelScore:
    """One candidate label: the hypothesis fed to the model, its raw logits, and the score shown."""

    label: str
    hypothesis: str
    score: float
    logits: tuple[float, ...]


@dataclass(frozen=True)
class ZeroShotResult:
    """Candidate labels ranked by score (``labels`` and ``scores`` in the same order, best first)."""

    model: str
    method: str
    text: str
    template: str
    multi_label: bool
    labels: tuple[str, ...]
    scores: tuple[float, ...]
    hypotheses: tuple[str, ...]
    logits: tuple[tuple[float, ...], ...]
    logit_names: tuple[str, ...]
    details: tuple[LabelScore, ...]
    forward_passes: int
    seconds: float
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_labels(raw: Any) -> tuple[list[str], list[str]]:
    """Candidate labels from comma- or newline-separated text (or a list, each item one whole label):
    trimmed, blanks dropped, duplicates merged.

    Returns:
        (labels in first-seen order, notes about what was dropped).
    """
    if raw is None:
        raw = ""
    if isinstance(raw, str):
        parts = [part.strip() for part in re.split(r"[,\n]", raw)]
    elif isinstance(raw, (list, tuple)) and all(isinstance(item, str) for item in raw):
        parts = [item.strip() for item in raw]
    else:
        raise BadInput("Labels must be text (comma-separated or one per line) or a list of strings.")
    labels: list[str] = []
    notes = []
    for part in parts:
        if not part:
            continue
        if len(part) > MAX_LABEL_CHARS:
            raise BadInput(f"A label is {len(part)} characters; labels may have up to {MAX_LABEL_CHARS}.")
        if part.lower() in (label.lower() for label in labels):
            notes.append(f"Duplicate label {part!r} ignored.")
            continue
        labels.append(part)
    if not labels:
        raise BadInput("Give at least one candidate label (comma-separated or one per line).")
    if len(labels) > MAX_LABELS:
        raise BadInput(f"{len(labels)} labels: this tab scores at most {MAX_LABELS} (one NLI pair each).")
    return labels, notes


def check_template(template: Any) -> str:
    """A hypothesis template with exactly one ``{}`` and no other braces."""
    if not isinstance(template, str) or not template.strip():
        raise BadInput(f"The hypothesis template is empty; use one like {DEFAULT_TEMPLATE!r}.")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise BadInput(f"The template is {len(template)} characters; it may have up to {MAX_TEMPLATE_CHARS}.")
    try:
        fields = [(field, spec, conversion) for _, field, spec, conversion in string.Formatter().parse(template)
                  if field is not None]
    except ValueError:
        raise BadInput("The template has unbalanced braces: write {} once where the label goes.") from None
    # Exactly one bare {}: a format spec or conversion ({:>12}, {!r}) would change or break the hypothesis.
    if fields != [("", "", None)]:
        raise BadInput("The template must contain {} exactly once (where the label goes) and no other braces, "
                       f"e.g. {DEFAULT_TEMPLATE!r}.")
    return template


def entailment_index(model: Model) -> int:
    """The id of the model's entailment label (a label starting with "entail"); refuses models without one."""
    for label, index in (model.config.label2id or {}).items():
        if str(label).lower().startswith("entail"):
            return int(index)
    labels = ", ".join(str(label) for label in (model.config.label2id or {}))
    raise ModelUnavailable(f"This model's labels ({labels}) name no entailment label, so it is not an NLI model "
                           "zero-shot classification can use. Choose one trained on MNLI, e.g. facebook/bart-large-mnli.")


def check_nli_model(model: Model, newly_initialized: tuple[str, ...]) -> int:
    """Refuse a random NLI head or a model with no entailment label; return the entailment label's id."""
    if any("classifier" in key or "classification_head" in key for key in newly_initialized):
        raise ModelUnavailable("This checkpoint has no trained NLI classification head (it would be random).")
    return entailment_index(model)


def _leading_text(text: str, tokenizer: Tokenizer, limit: int) -> str:
    """The part of ``text`` the model can read: a prefix holding more than ``limit`` tokens (cut at whitespace, so
    its tokens are the text's first ones), or the whole text."""
    return leading_tokens(tokenizer, text, limit, chars_per_token=CHARS_PER_TOKEN, truncation=False)[0]


def classify_zero_shot(text: str, labels: Any, *, model: Model, tokenizer: Tokenizer, template: str = DEFAULT_TEMPLATE,
                       multi_label: bool = False, label: str = "", newly_initialized: tuple[str, ...] = (),
                       budget: Budget | None = None, batcher: MicroBatcher | None = None) -> ZeroShotResult:
    """Score each candidate label as the hypothesis "template.format(label)" against ``text``, batched (one forward
    when the pairs' activations fit the budget's memory).

    Single-label: softmax of the entailment logits across labels (scores sum to 1). Multi-label: for each
    label independently, softmax of [contradiction, entailment] — the same rules as
    `pipeline("zero-shot-classification")`.

    Args:
        text: the text to classify (premise).
        labels: candidate labels, comma- or newline-separated text or a list.
        model: an NLI sequence-classification model.
        tokenizer: its tokenizer.
        template: hypothesis template with one {}.
        multi_label: score labels independently.
        label: the model's label, shown with the result.
        newly_initialized: weights the checkpoint lacked; a random head is refused.
        budget: what one request may cost (default: the default budget); more labels than it allows for this
            text are refused up front (OverBudget, naming how many fit).
        batcher: runs the forwards together with concurrent requests on the same model (same numbers).

    Returns:
        ZeroShotResult, best label first.
    """
    entail = check_nli_model(model, newly_initialized)
    text = check_text(text, "Text")
    names, notes = parse_labels(labels)
    template = check_template(template)
    hypotheses = [template.format(name) for name in names]
    budget = budget or Budget()
    started = time.perf_counter()
    limit = model_max_length(tokenizer, model)
    premise = _leading_text(text, tokenizer, limit)
    try:
        encoding = tokenizer([premise] * len(names), hypotheses, padding=True, truncation="only_first",
                             max_length=limit, return_tensors="pt")
    except Exception as error:  # the Rust tokenizer raises a bare Exception when a hypothesis can't fit
        raise BadInput("A hypothesis is too long for the model to read beside the text; shorten the template "
                       "or the labels.") from error
    shape = shape_of(model)
    width = int(encoding["input_ids"].shape[1])
    cost = forward_flops(shape, width, len(names))
    if not budget.fits(cost):
        most = budget.most(lambda count: forward_flops(shape, width, count), len(names))
        raise budget.refuse(f"Scoring {len(names)} labels against a text of {width} tokens", cost,
                            f"At most {most} labels for this text, or shorten the text." if most
                            else "Shorten the text.")
    rows = budget.rows_per_batch(shape, width)
    inputs = model_inputs(model, encoding)
    logits = torch.cat([forward(model, {k: v[start:start + rows] for k, v in inputs.items()}, batcher=batcher)[0]
                        for start in range(0, len(names), rows)])
    passes = -(-len(names) // rows)
    contradiction = -1 if entail == 0 else 0
    multi = bool(multi_label) or len(names) == 1
    if multi:
        scores = logits[:, [contradiction, entail]].softmax(-1)[:, 1]
    else:
        scores = logits[:, entail].softmax(0)
    if multi and not multi_label:
        notes.append("With one label, the score is entailment vs. contradiction for that label alone.")
    id2label = model.config.id2label
    logit_names = tuple(str(id2label[i]) for i in range(logits.shape[1]))
    details = [LabelScore(name, hypothesis, float(score), tuple(row.tolist()))
               for name, hypothesis, score, row in zip(names, hypotheses, scores.tolist(), logits)]
    ranked = sorted(details, key=lambda d: -d.score)
    return ZeroShotResult(
        model=label, method=METHOD_NLI, text=text, template=template, multi_label=multi,
        labels=tuple(d.label for d in ranked), scores=tuple(d.score for d in ranked),
        hypotheses=tuple(d.hypothesis for d in ranked), logits=tuple(d.logits for d in ranked),
        logit_names=logit_names, details=tuple(ranked), forward_passes=passes,
        seconds=time.perf_counter() - started, notes=tuple(notes))


def classify_by_similarity(text: str, labels: Any, *, model: Model, tokenizer: Tokenizer, template: str = DEFAULT_TEMPLATE,
                           label: str = "", budget: Budget | None = None) -> ZeroShotResult:
    """Offline alternative: cosine similarity between the text's and each label description's mean-pooled
    embedding (all-MiniLM-L6-v2 is trained for exactly this), softmaxed with temperature 0.05 for display.

    Not NLI: scores say how close the meanings are, not whether the text entails the hypothesis. The text and the
    hypotheses are two batches: short hypotheses are not padded to a long text's length.
    """
    text = check_text(text, "Text")
    names, notes = parse_labels(labels)
    template = check_template(template)
    hypotheses = [template.format(name) for name in names]
    budget = budget or Budget()
    started = time.perf_counter()
    limit = model_max_length(tokenizer, model)
    premise = _leading_text(text, tokenizer, limit)
    shape = shape_of(model)
    widths = [min(len(ids), limit) for ids in tokenizer([premise, *hypotheses], truncation=False)["input_ids"]]
    budget.check(f"Embedding {len(names)} labels and a text of {widths[0]} tokens",
                 forward_flops(shape, widths[0]) + forward_flops(shape, max(widths[1:]), len(names)),
                 "Use fewer labels or a shorter text.")
    text_vector = sentence_embeddings([premise], model=model, tokenizer=tokenizer, limit=limit)[0]
    rows = budget.rows_per_batch(shape, max(widths[1:]))
    vectors = torch.cat([sentence_embeddings(hypotheses[start:start + rows], model=model, tokenizer=tokenizer,
                                             limit=limit) for start in range(0, len(hypotheses), rows)])
    cosines = vectors @ text_vector
    scores = (cosines / 0.05).softmax(0)
    details = [LabelScore(name, hypothesis, float(score), (float(cosine),))
               for name, hypothesis, score, cosine in zip(names, hypotheses, scores.tolist(), cosines.tolist())]
    ranked = sorted(details, key=lambda d: -d.score)
    notes.insert(0, "Embedding similarity, not NLI: the cosine between the text's and each hypothesis's sentence "
                    "embedding, softmaxed (temperature 0.05). A different method, for when no NLI model can be had.")
    return ZeroShotResult(
        model=label, method=METHOD_EMBEDDING, text=text, template=template, multi_label=False,
        labels=tuple(d.label for d in ranked), scores=tuple(d.score for d in ranked),
        hypotheses=tuple(d.hypothesis for d in ranked), logits=tuple(d.logits for d in ranked),
        logit_names=("cosine",), details=tuple(ranked), forward_passes=1 + -(-len(hypotheses) // rows),
        seconds=time.perf_counter() - started, notes=tuple(notes))
