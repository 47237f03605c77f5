"""Which explanation to trust? Four word explanations of one prediction put to a deletion test (pure compute).

The words each method ranks highest are replaced by [MASK], a few more at a time, and the model is run again on every
version in one batch: the probability of the prediction should fall fastest for the explanation that found the words
the model really uses. AOPC, the area over that curve, scores each method (deletion / "most relevant first": Samek
et al., 2017; comprehensiveness in ERASER: DeYoung et al., 2020); a random order is the floor to beat.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models import anatomy
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of, vocabulary_flops
from bertviz_ui.tasks.fill_mask.masks import KNOWN_MASK_TOKENS, MAX_MASKS, check_mlm_head, mask_logits, normalize_masks
from bertviz_ui.tasks.modeling import model_inputs, model_max_length
from bertviz_ui.tasks.pieces import Groups, groups, merge_scores
from bertviz_ui.tasks.rollout import rollout
from bertviz_ui.tasks.sentiment.attributions import (
    IG_CHUNK,
    MAX_STEPS,
    embedding_attributions,
    integrated_gradients_flops,
)
from bertviz_ui.tasks.sentiment.inputs import check_classifier, labels_of
from bertviz_ui.tasks.validation import check_choice, check_text, check_whole_number

SENTIMENT = "sentiment"
FILL_MASK = "fill_mask"
TASKS = (SENTIMENT, FILL_MASK)
METHODS = ("integrated_gradients", "gradient_x_input", "attention", "rollout")
RANDOM = "random"
DEFAULT_STEPS = 32
# Words that may be deleted at most (about a paragraph), and points on the curve after the unchanged text.
MAX_WORDS = 64
MAX_POINTS = 10
MAX_CHARS = 2_000
# The random baseline: the mean curve of this many random orders, drawn from this seed (the same every run).
RANDOM_ORDERS = 3
SEED = 0


@dataclass(frozen=True)
class CheckRequest:
    """A request that passed every check that needs no model."""

    task: str
    text: str
    mask_number: int
    steps: int


@dataclass(frozen=True)
class Word:
    """One candidate for deletion: its text, its span in the input, and its token positions."""

    text: str
    start: int
    end: int
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class ExplanationCheck:
    """The deletion test of one prediction.

    Attributes:
        target: the predicted class (sentiment) or the predicted word at the mask (fill_mask).
        position: the token position read: 0 ([CLS], sentiment) or the mask's.
        p0: the model's probability of ``target`` on the unchanged text (every curve starts there).
        replacement: the token each deleted word's pieces become.
        words: the candidates (special tokens and masks never are), in reading order.
        scores: per method, one score per word (pieces summed).
        removed: words deleted at each point (0 first, all last); fractions: the same as shares of the words.
        curves: per method and "random" (mean of the random orders), the probability of ``target`` at each point.
        aopc: per method and "random", mean over the points after the first of (p0 - p_k); higher = more faithful.
        ranking: methods and "random" by AOPC, best first.
    """

    task: str
    model: str
    text: str
    target: str
    target_id: int
    position: int
    read_from: str
    p0: float
    replacement: str
    tokens: tuple[str, ...]
    words: tuple[Word, ...]
    methods: tuple[str, ...]
    scores: dict[str, tuple[float, ...]]
    removed: tuple[int, ...]
    fractions: tuple[float, ...]
    curves: dict[str, tuple[float, ...]]
    aopc: dict[str, float]
    ranking: tuple[str, ...]
    steps: int
    random_orders: int
    deleted_versions: int
    forward_passes: int
    seconds: float
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_request(task: Any, text: Any, mask_number: Any = 1, steps: Any = DEFAULT_STEPS) -> CheckRequest:
    """Every check that needs no model, so a bad request is refused before one loads.

    Args:
        task: "sentiment" or "fill_mask" (blank: sentiment).
        text: one text (fill_mask: with at least ``mask_number`` masks).
        mask_number: which mask to explain, 1 = the first (fill_mask only).
        steps: integrated-gradient steps (1-256).
    """
    task = check_choice(task, "Task", TASKS, default=SENTIMENT)
    text = check_text(text, "Text", max_chars=MAX_CHARS)
    steps = check_whole_number(steps, "Steps", low=1, high=MAX_STEPS)
    mask_number = check_whole_number(mask_number, "Mask number", low=1, high=MAX_MASKS)
    if task == FILL_MASK:
        written = sum(text.count(token) for token in KNOWN_MASK_TOKENS if token != "[mask]")
        if written == 0:
            raise BadInput("Put a [MASK] in the text: the check explains the word predicted there.")
        if mask_number > written:
            raise BadInput(f"Mask number {mask_number}: the text has {written} mask(s).")
    return CheckRequest(task=task, text=text, mask_number=mask_number, steps=steps)


class _Target:
    """One prediction as the check needs it: a forward with attentions, a differentiable logit, batched probabilities."""

    def __init__(self, task: str, model: Model, inputs: dict[str, torch.Tensor], position: int):
        self.model, self.inputs, self.position = model, inputs, position
        self.head = anatomy.mlm_head(model) if task == FILL_MASK else None
        self.base = anatomy.encoder(model) if self.head is not None else model
        self.task = task

    def _run(self, batch: dict[str, torch.Tensor], **kwargs: Any) -> tuple[torch.Tensor, Any]:
        """Logits at the read position [batch, classes or vocabulary], and the outputs."""
        if self.task == SENTIMENT:
            outputs = self.model(**batch, **kwargs)
            return outputs.logits, outputs
        if self.head is None:  # an architecture anatomy doesn't know: the whole head, read at the mask
            outputs = self.model(**batch, **kwargs)
            return outputs.logits[:, self.position], outputs
        outputs = self.base(**model_inputs(self.base, batch), **kwargs)
        return self.head(outputs.last_hidden_state[:, self.position]), outputs

    def first(self) -> tuple[torch.Tensor, np.ndarray]:
        """The unchanged text: logits [classes or vocabulary] and every layer's attention [layers, heads, n, n]."""
        with torch.inference_mode():
            logits, outputs = self._run(self.inputs, output_attentions=True)
        attentions = getattr(outputs, "attentions", None)
        if not attentions or any(a is None for a in attentions):
            raise ModelUnavailable("This model returned no attention weights (it must run with eager attention), "
                                   "so attention and rollout can't be checked.")
        return logits[0].float(), torch.stack([a[0] for a in attentions]).double().cpu().numpy()

    def logit(self, index: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """Points in word-embedding space [batch, n, hidden] -> the predicted class's or token's logit [batch]."""
        others = {k: v for k, v in self.inputs.items() if k != "input_ids"}

        def at(points: torch.Tensor) -> torch.Tensor:
            batch = {k: v.expand(points.shape[0], -1) for k, v in others.items()}
            return self._run({**batch, "inputs_embeds": points})[0][:, index]

        return at

    def probabilities(self, ids: torch.Tensor, index: int) -> torch.Tensor:
        """P(prediction) for each row of ``ids`` [rows, n] (same length as the input: no padding), one forward."""
        batch = {k: v.expand(ids.shape[0], -1) for k, v in self.inputs.items() if k != "input_ids"}
        batch["input_ids"] = ids
        with torch.inference_mode():
            if self.task == FILL_MASK:  # the vocabulary head at the mask only
                logits, _ = mask_logits(self.model, batch, [(row, self.position) for row in range(ids.shape[0])])
            else:
                logits = self.model(**batch).logits
        return logits.float().softmax(-1)[:, index].cpu()


def points_of(words: int) -> tuple[int, ...]:
    """How many words are deleted at each point: 0, then up to MAX_POINTS even steps ending with all of them."""
    steps = min(MAX_POINTS, words)
    return tuple(sorted({round(i * words / steps) for i in range(steps + 1)}))


def aopc(p0: float, curve: tuple[float, ...] | list[float]) -> float:
    """Area over the perturbation curve: the mean drop from p0 over the points after the first."""
    return float(np.mean([p0 - p for p in curve[1:]]))


def _candidates(grouping: Groups, word_ids: list[int | None], special: list[int], ids: list[int],
                masks: set[int]) -> list[int]:
    """The units that may be deleted: words, never a special token or a mask."""
    return [unit for unit, members in enumerate(grouping.members)
            if all(word_ids[i] is not None and not special[i] and ids[i] not in masks for i in members)]


def check_explanations(task: Any, text: Any, *, model: Model, tokenizer: Tokenizer, mask_number: Any = 1,
                       steps: Any = DEFAULT_STEPS, label: str = "", newly_initialized: tuple[str, ...] = (),
                       budget: Budget | None = None) -> ExplanationCheck:
    """Score every word of one prediction four ways, then delete the top-ranked words and watch the probability.

    Args:
        task: "sentiment" (the predicted class of a classifier) or "fill_mask" (the top word at a mask).
        text: one text, up to MAX_WORDS words (fill_mask: with [MASK]).
        model: a sequence classifier or masked-LM model, full precision (gradients), eager attention.
        tokenizer: its fast tokenizer.
        mask_number: which mask's prediction to explain (1 = the first).
        steps: integrated-gradient steps.
        label: the model's name, kept with the result.
        newly_initialized: weights the checkpoint lacked; a random head is refused.
        budget: what one request may cost; checked (integration steps and every deleted version) before any forward.

    Returns:
        ExplanationCheck. Raises BadInput (OverBudget) for input it refuses, ModelUnavailable for an unusable model.
    """
    started = time.perf_counter()
    request = check_request(task, text, mask_number, steps)
    budget = budget or Budget()
    text, steps = request.text, request.steps
    if request.task == SENTIMENT:
        check_classifier(newly_initialized)
    else:
        check_mlm_head(newly_initialized)
        text = normalize_masks(text, tokenizer)
    encoding = tokenizer(text, return_tensors="pt", truncation=False, return_offsets_mapping=True,
                         return_special_tokens_mask=True)
    length = int(encoding["input_ids"].shape[1])
    limit = model_max_length(tokenizer, model)
    if length > limit:
        raise BadInput(f"The text is {length} tokens; this model reads at most {limit}. Shorten it.")
    offsets = encoding.pop("offset_mapping")[0].tolist()
    special = encoding.pop("special_tokens_mask")[0].tolist()
    word_ids = list(encoding.word_ids())
    ids = encoding["input_ids"][0].tolist()
    tokens = tuple(str(t) for t in tokenizer.convert_ids_to_tokens(ids))
    mask_id = tokenizer.mask_token_id
    masks = [i for i, token_id in enumerate(ids) if token_id == mask_id]
    if request.task == FILL_MASK:
        if request.mask_number > len(masks):
            raise BadInput(f"Mask number {request.mask_number}: the text has {len(masks)} mask(s).")
        position, read_from = masks[request.mask_number - 1], f"{tokenizer.mask_token} (mask {request.mask_number})"
    else:
        position, read_from = 0, tokens[0]
    replacement_id = mask_id if mask_id is not None else getattr(tokenizer, "unk_token_id", None)
    if replacement_id is None:
        raise ModelUnavailable("This tokenizer has neither a mask nor an unknown token to delete words with.")
    grouping = groups(tokens, [None if special[i] else w for i, w in enumerate(word_ids)])
    units = _candidates(grouping, word_ids, special, ids, {mask_id})
    if not units:
        raise BadInput("Nothing to delete: the text needs at least one word besides the mask.")
    if len(units) > MAX_WORDS:
        raise BadInput(f"The text has {len(units)} words; the check takes up to {MAX_WORDS}. Shorten it.")
    removed = points_of(len(units))
    orders_count = len(METHODS) + RANDOM_ORDERS
    versions = orders_count * (len(removed) - 1)
    shape = shape_of(model)

    def cost(ig_steps: int) -> float:
        # The first forward, gradient x input and the integration steps (forward + backward each), then every
        # deleted version; a masked LM's vocabulary head runs at the mask only.
        work = integrated_gradients_flops(shape, length, ig_steps + 1) + versions * forward_flops(shape, length)
        return work + (vocabulary_flops(shape, versions + 2 * (ig_steps + 2)) if request.task == FILL_MASK else 0)

    def advice() -> str:
        most = budget.most(cost, MAX_STEPS)
        return f"Use at most {most} steps, or a shorter text." if most else "Use a shorter text or a smaller model."

    budget.check(f"The explanation check ({steps} integration steps and {versions} deleted versions of "
                 f"{length} tokens)", cost(steps), advice)

    inputs = model_inputs(model, encoding)
    target = _Target(request.task, model, inputs, position)
    logits, attentions = target.first()
    index = int(logits.argmax())
    p0 = float(logits.softmax(-1)[index])
    passes = 1
    if request.task == SENTIMENT:
        predicted = labels_of(model)[index]
    else:
        predicted = tokenizer.decode([index]).strip()

    token_scores: dict[str, np.ndarray] = {}
    embeddings = model.get_input_embeddings()
    input_ids = inputs["input_ids"]
    keep = torch.tensor([bool(s) or i in masks for i, s in enumerate(special)], device=input_ids.device)
    baseline_ids = torch.where(keep, input_ids[0], torch.tensor(tokenizer.pad_token_id or 0, device=input_ids.device))
    with torch.no_grad():
        x, x0 = embeddings(input_ids)[0].float(), embeddings(baseline_ids[None])[0].float()
    chunk = budget.rows_per_batch(shape, length, mode="inputs", cap=IG_CHUNK)
    for method in ("integrated_gradients", "gradient_x_input"):
        scores, more = embedding_attributions(target.logit(index), x, x0, method=method, steps=steps,
                                              chunk_size=chunk, dtype=embeddings.weight.dtype)
        token_scores[method] = scores.detach().cpu().double().numpy()
        passes += more
    token_scores["attention"] = attentions[-1].mean(axis=0)[position]
    token_scores["rollout"] = rollout(attentions)[-1][position]
    scores = {method: tuple(float(v) for v in merge_scores(token_scores[method], grouping)[units])
              for method in METHODS}

    orders = [np.argsort(-np.asarray(scores[method]), kind="stable") for method in METHODS]
    rng = np.random.default_rng(SEED)
    orders += [rng.permutation(len(units)) for _ in range(RANDOM_ORDERS)]
    rows = []
    for order in orders:
        for count in removed[1:]:
            row = input_ids[0].clone()
            for unit in order[:count]:
                row[list(grouping.members[units[unit]])] = replacement_id
            rows.append(row)
    batch = torch.stack(rows)
    size = budget.rows_per_batch(shape, length, mode="forward")
    probabilities = torch.cat([target.probabilities(part, index) for part in batch.split(size)])
    passes += -(-len(rows) // size)
    table = probabilities.double().numpy().reshape(orders_count, len(removed) - 1)
    curves = {method: (p0, *map(float, table[i])) for i, method in enumerate(METHODS)}
    curves[RANDOM] = (p0, *map(float, table[len(METHODS):].mean(axis=0)))
    areas = {name: aopc(p0, curve) for name, curve in curves.items()}

    words = tuple(Word(text=text[offsets[grouping.members[u][0]][0]:offsets[grouping.members[u][-1]][1]],
                       start=offsets[grouping.members[u][0]][0], end=offsets[grouping.members[u][-1]][1],
                       tokens=grouping.members[u]) for u in units)
    replacement = str(tokenizer.convert_ids_to_tokens([replacement_id])[0])
    notes = [f"Deleting a word replaces each of its pieces by {replacement}: the text keeps its length and positions."]
    if request.task == FILL_MASK:
        notes.append(f"Attention and rollout are read from the row of {read_from}, the position being predicted "
                     f"(not [CLS]); it stays masked, and every point reads P({predicted}) there.")
        if len(masks) > 1:
            notes.append("The other masks stay masked and are never deleted.")
    else:
        notes.append(f"Attention and rollout are read from the row of {read_from}, the token the classifier reads.")
    notes.append(f"Random order: the mean of {RANDOM_ORDERS} orders drawn with seed {SEED}.")
    return ExplanationCheck(
        task=request.task, model=label, text=text, target=predicted, target_id=index, position=position,
        read_from=read_from, p0=p0, replacement=replacement, tokens=tokens, words=words, methods=METHODS,
        scores=scores, removed=removed, fractions=tuple(count / len(units) for count in removed), curves=curves,
        aopc=areas, ranking=tuple(sorted(areas, key=lambda name: -areas[name])), steps=steps,
        random_orders=RANDOM_ORDERS, deleted_versions=len(rows), forward_passes=passes,
        seconds=time.perf_counter() - started, notes=tuple(notes))
