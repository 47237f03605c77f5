"""Parameter counts per module, and the seed's classifier figures checked."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.building import one_build_at_a_time
from bertviz_ui.errors import BadInput
from bertviz_ui.models import anatomy
from bertviz_ui.models.types import Config
from bertviz_ui.registry import Head
from bertviz_ui.tasks.validation import check_choice, check_whole_number

# Heads a chosen encoder can be counted with; each is built from the encoder's config on the meta device.
# The heads the parameter view can add to an encoder, by the name the view shows; models/anatomy.py has the classes.
HEADS = {
    "none": None,
    "sequence classification": anatomy.auto_class(Head.SEQUENCE_CLASSIFICATION),
    "token classification": anatomy.auto_class(Head.TOKEN_CLASSIFICATION),
    "question answering": anatomy.auto_class(Head.QUESTION_ANSWERING),
    "masked LM": anatomy.auto_class(Head.MASKED_LM),
}
MAX_LABELS = 1000

# What the seed text prints for its BertClassifier (BertModel bert-base-uncased + Linear(768, 2)).
TUTORIAL_TOTAL = 109_484_546
TUTORIAL_TRAINABLE = 109_484_546
TUTORIAL_HEAD_ONLY = 1_538


@dataclass(frozen=True)
class ModuleCount:
    """Parameters of one module: its dotted name, class, total and trainable counts."""

    name: str
    kind: str
    parameters: int
    trainable: int


@dataclass(frozen=True)
class ParameterCount:
    """Parameters of a model, per module, measured with sum(p.numel()); shared tensors counted once.

    Attributes:
        model: the model's label.
        architecture: its class name.
        head: the task head counted ("none" for the encoder alone).
        modules: the rows, in the model's order; they add up to ``total``.
        total: sum(p.numel() for p in model.parameters()).
        trainable: those with requires_grad.
        encoder: the base model's share (everything but the task head).
        notes: how the count was made and what is shared.
    """

    model: str
    architecture: str
    head: str
    modules: tuple[ModuleCount, ...]
    total: int
    trainable: int
    encoder: int
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SeedCheck:
    """The seed's BertClassifier (bert-base-uncased + Linear(768, 2)) counted on the meta device, beside its figures."""

    bert_model: int
    classifier: int
    total: int
    trainable: int
    frozen_trainable: int
    for_sequence_classification: int
    seed_total: int
    seed_trainable: int
    seed_head_only: int
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- Counting ------------------------------------------------------------------------------------------


def _count(parameters: Sequence[torch.nn.Parameter], seen: set[int]) -> tuple[int, int]:
    total = trainable = 0
    for parameter in parameters:
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return total, trainable


def _rows(module: torch.nn.Module, prefix: str, seen: set[int], *, split_layers: bool) -> list[ModuleCount]:
    """A row per child; with ``split_layers``, a child holding a list of layers gets a row per layer and one for
    the rest (encoder.layer.0, ..., for BERT; transformer.layer.N for DistilBERT; ALBERT's shared layer group)."""
    rows = []
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        lists = [(n, c) for n, c in child.named_children() if isinstance(c, torch.nn.ModuleList)]
        if split_layers and lists:
            list_name, layers = lists[0]
            for index, layer in enumerate(layers):
                total, trainable = _count(list(layer.parameters()), seen)
                rows.append(ModuleCount(f"{full}.{list_name}.{index}", type(layer).__name__, total, trainable))
            total, trainable = _count(list(child.parameters()), seen)
            if total:
                rows.append(ModuleCount(f"{full} (outside {list_name})", type(child).__name__, total, trainable))
            continue
        total, trainable = _count(list(child.parameters()), seen)
        if total:
            rows.append(ModuleCount(full, type(child).__name__, total, trainable))
    return rows


def count_parameters(model: torch.nn.Module, *, label: str = "", head: str = "none",
                     notes: Sequence[str] = ()) -> ParameterCount:
    """Count a model's parameters per module: embeddings, each encoder layer, pooler, task head.

    Args:
        model: any torch module (weights may live on the meta device: only shapes are read).
        label: the model's label.
        head: which task head the model carries ("none" for a bare encoder).
        notes: extra notes to show.

    Returns:
        ParameterCount whose rows add up to sum(p.numel() for p in model.parameters()).
    """
    base = anatomy.encoder(model)
    seen: set[int] = set()
    if base is model:
        rows = _rows(model, "", seen, split_layers=True)
    else:
        prefix = next((f"{n}." for n, c in model.named_children() if c is base), "")
        rows = _rows(base, prefix, seen, split_layers=True)
        rows += _rows(model, "", seen, split_layers=False)  # the task head: what the base didn't hold
    remaining, remaining_trainable = _count(list(model.parameters()), seen)
    if remaining:
        rows.append(ModuleCount("(parameters held directly)", type(model).__name__, remaining, remaining_trainable))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    encoder = sum(p.numel() for p in base.parameters())
    all_notes = list(notes)
    if sum(r.parameters for r in rows) != total:  # pragma: no cover - the rows are built from the same tensors
        all_notes.append("The rows don't add up to the total.")
    groups = getattr(getattr(base, "config", None), "num_hidden_groups", None)
    layers = getattr(getattr(base, "config", None), "num_hidden_layers", None)
    if isinstance(groups, int) and isinstance(layers, int) and groups < layers:
        all_notes.append(f"ALBERT-style sharing: {layers} layers reuse {groups} layer group(s), so one row holds the "
                         "weights every layer runs.")
    tied = _tied_names(model)
    if tied:
        all_notes.append(f"Shared with the embeddings, counted once: {', '.join(tied)}.")
    return ParameterCount(model=label, architecture=type(model).__name__, head=head, modules=tuple(rows),
                          total=total, trainable=trainable, encoder=encoder, notes=tuple(all_notes))


def _tied_names(model: torch.nn.Module) -> list[str]:
    owners: dict[int, str] = {}
    tied = []
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if id(parameter) in owners:
            tied.append(f"{name} = {owners[id(parameter)]}")
        else:
            owners[id(parameter)] = name
    return tied


def check_head(value: Any) -> str:
    """One of HEADS, else BadInput."""
    return check_choice(value, "Head", tuple(HEADS), default="none")


@one_build_at_a_time
def build_on_meta(config: Config, auto_class: str = "AutoModel") -> torch.nn.Module:
    """The architecture ``config`` describes, built on the meta device: shapes only, no memory, no download."""
    import transformers

    with torch.device("meta"):
        return getattr(transformers, auto_class).from_config(config)


def count_with_head(model: torch.nn.Module, *, label: str, head: Any = "none", num_labels: Any = 2) -> ParameterCount:
    """Count a loaded encoder's parameters, or those of the same encoder with a task head (built on meta).

    Args:
        model: the loaded encoder (its config shapes the head).
        label: the model's label.
        head: one of HEADS.
        num_labels: labels of a classification head.

    Returns:
        ParameterCount. For a head, the encoder part of the meta-built model must equal the loaded encoder's count.
    """

    head = check_head(head)
    base = anatomy.encoder(model)
    if HEADS[head] is None:
        return count_parameters(base, label=label, head="none",
                                notes=("Counted on the loaded model: sum(p.numel()) of each module.",))
    labels = check_whole_number(num_labels, "Number of labels", low=1, high=MAX_LABELS)
    fields = {k: v for k, v in base.config.to_dict().items() if k not in ("id2label", "label2id")}
    config = base.config.__class__.from_dict({**fields, "num_labels": labels})
    try:
        built = build_on_meta(config, HEADS[head])
    except ValueError as error:
        raise BadInput(f"{type(base).__name__} has no {head} head in transformers ({str(error).splitlines()[0]}).") \
            from None
    loaded_total = sum(p.numel() for p in base.parameters())
    notes = [(f"The {head} head was built from the loaded model's config on the meta device (shapes only) and "
             "counted with sum(p.numel()).")]
    built_base = anatomy.encoder(built)
    built_encoder = sum(p.numel() for p in built_base.parameters())
    if built_encoder != loaded_total:
        notes.append(f"The {type(built).__name__} encoder has {built_encoder:,} parameters against {loaded_total:,} "
                     "loaded (it builds the encoder without its pooler, or with different parts).")
    return count_parameters(built, label=label, head=head, notes=notes)


@one_build_at_a_time
def seed_check() -> SeedCheck:
    """Count the seed's BertClassifier as it defines it, on the meta device, beside what the seed prints.

    BertConfig() holds bert-base-uncased's shape (vocabulary 30522, 12 layers, hidden 768, 12 heads).
    """
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    with torch.device("meta"):
        bert = BertModel(BertConfig())
        classifier = torch.nn.Linear(768, 2)
        for_sequence = BertForSequenceClassification(BertConfig(num_labels=2))
    bert_count = sum(p.numel() for p in bert.parameters())
    head_count = sum(p.numel() for p in classifier.parameters())
    for parameter in bert.parameters():
        parameter.requires_grad = False
    frozen = sum(p.numel() for p in (*bert.parameters(), *classifier.parameters()) if p.requires_grad)
    total = bert_count + head_count
    notes = [
        (f"Measured: BertModel {bert_count:,} + Linear(768, 2) {head_count:,} = {total:,}; the seed prints "
        f"{TUTORIAL_TOTAL:,}, {TUTORIAL_TOTAL - total:,} more than this architecture has with current transformers."),
        (f"BertForSequenceClassification(num_labels=2) has the same {sum(p.numel() for p in for_sequence.parameters()):,}"
        " (BertModel with its pooler, dropout, then the same linear layer)."),
        (f"With the encoder frozen, {frozen:,} parameters train: one Linear(768, 2), 768 x 2 weights + 2 biases. "
        "The seed calls it a \"2-layer classifier\"; it is a single linear layer."),
    ]
    return SeedCheck(bert_model=bert_count, classifier=head_count, total=total, trainable=total, frozen_trainable=frozen,
                     for_sequence_classification=sum(p.numel() for p in for_sequence.parameters()),
                     seed_total=TUTORIAL_TOTAL, seed_trainable=TUTORIAL_TRAINABLE, seed_head_only=TUTORIAL_HEAD_ONLY,
                     notes=tuple(notes))
