"""Named entities: token classification, merged into entity spans by each aggregation strategy (pure compute).

Token predictions come from one forward per window; merging reuses transformers' own token-classification
post-processing, so every strategy gives exactly the pipeline's entities, while the raw per-token
predictions from the same forward are shown beside them.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.batching import MicroBatcher, forward, pad_id_of, pad_together
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of
from bertviz_ui.tasks.modeling import model_max_length
from bertviz_ui.tasks.validation import check_text

STRATEGIES = ("none", "simple", "first", "average", "max")
IGNORED = "IGN"
# transformers merges B-/I- tags only; BIOES (E-, S-) would be split silently, so it counts as not BIO here.
_BIO = re.compile(r"^(O|[BI]-.+)$")


@dataclass(frozen=True)
class Entity:
    """One entity (or, with strategy "none", one token's prediction): ``text == input[start:end]``."""

    label: str
    text: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class TokenPrediction:
    """The model's label for one token, before any merging."""

    index: int
    token: str
    label: str
    score: float
    start: int
    end: int


@dataclass(frozen=True)
class NerResult:
    """Entities by one aggregation strategy, the raw token predictions, and how the text was windowed."""

    model: str
    text: str
    strategy: str
    entities: tuple[Entity, ...]
    tokens: tuple[TokenPrediction, ...]
    labels: tuple[str, ...]
    windows: int
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AlignedToken:
    """One token of the alignment view and the label it is trained with (IGN = -100, no loss)."""

    token: str
    word_id: int | None
    word: str
    label: str
    label_id: int


@dataclass(frozen=True)
class Alignment:
    """How word-level BIO labels become token-level training labels."""

    words: tuple[str, ...]
    word_labels: tuple[str, ...]
    label_all_subwords: bool
    tokens: tuple[AlignedToken, ...]


def check_token_classifier(model: Model, newly_initialized: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse a random token-classification head; return the model's labels in id order."""
    if any("classifier" in key for key in newly_initialized):
        raise ModelUnavailable("This checkpoint has no trained token-classification head (it would be random). "
                               "Choose a NER model such as dslim/bert-base-NER.")
    id2label = model.config.id2label
    return tuple(str(id2label[i]) for i in range(len(id2label)))


def labels_are_bio(labels: tuple[str, ...]) -> bool:
    """True when every label is O or a B-/I- tag, which entity merging relies on."""
    return all(_BIO.match(label) for label in labels)


def _pipeline(model: Model, tokenizer: Tokenizer) -> Any:
    from transformers import TokenClassificationPipeline

    # Built around the already-loaded model: nothing is loaded, and the model stays on its own device.
    return TokenClassificationPipeline(model=model, tokenizer=tokenizer, device=next(model.parameters()).device)


def _stride(limit: int) -> int:
    return max(1, min(128, limit // 4))


def recognize(text: str, *, model: Model, tokenizer: Tokenizer, strategy: str = "simple", label: str = "",
              newly_initialized: tuple[str, ...] = (), budget: Budget | None = None,
              batcher: MicroBatcher | None = None) -> NerResult:
    """Entities in ``text`` merged by ``strategy``, plus every token's own prediction.

    Args:
        text: up to 20,000 characters; beyond the model maximum it is read in overlapping windows.
        model: a token-classification model in eval mode.
        tokenizer: its (fast) tokenizer.
        strategy: "none", "simple", "first", "average" or "max" (transformers' aggregation strategies).
        label: the model's label, shown with the result.
        newly_initialized: weights the checkpoint lacked; a random head is refused.
        budget: what one request may cost (default: the default budget); more is refused up front (OverBudget).
        batcher: runs each window's forward together with concurrent requests on the same model.

    Returns:
        NerResult; entity spans come from character offsets, so ``text[start:end]`` is what was found.
    """
    labels = check_token_classifier(model, newly_initialized)
    text = check_text(text, "Text")
    if strategy not in STRATEGIES:
        raise BadInput(f"Aggregation must be one of {', '.join(STRATEGIES)}.")
    if not getattr(tokenizer, "is_fast", False):
        raise ModelUnavailable("This model has only a slow tokenizer; NER needs character offsets (a fast one).")
    notes = []
    bio = labels_are_bio(labels)
    if strategy != "none" and not bio:
        shown = ", ".join(labels[:6]) + ("…" if len(labels) > 6 else "")
        notes.append(f"This model's labels ({shown}) are not BIO tags, so tokens can't be merged "
                     "into entities: showing each token's prediction (strategy none).")
        strategy = "none"

    from transformers.pipelines.token_classification import AggregationStrategy

    pipe = _pipeline(model, tokenizer)
    limit = model_max_length(tokenizer, model)
    length = len(tokenizer(text, truncation=False)["input_ids"])
    windowed = length > limit
    # The pipeline's own preprocess/forward/postprocess, given the parameters its constructor would derive from
    # aggregation_strategy and stride (written out: its parameter sorting is private).
    aggregation = strategy if strategy != "none" or not windowed else "simple"
    tokenizer_params: dict[str, Any] = {"max_length": limit}  # windows as long as the model reads
    stride = _stride(limit)
    if windowed:
        tokenizer_params |= {"return_overflowing_tokens": True, "padding": True, "stride": stride}
    preprocess = {"is_split_into_words": False, "tokenizer_params": tokenizer_params}
    postprocess = {"aggregation_strategy": AggregationStrategy[aggregation.upper()]}
    chunks = list(pipe.preprocess(text, **preprocess))
    budget = budget or Budget()
    shape = shape_of(model)
    cost = sum(forward_flops(shape, int(chunk["input_ids"].shape[-1])) for chunk in chunks)
    if not budget.fits(cost):
        fitting = int(len(text) * budget.flops / cost)
        raise budget.refuse(f"Reading {length:,} tokens in {len(chunks)} windows with this model", cost,
                            f"At most about {fitting:,} characters of this text fit one request: split it.")
    rows = budget.rows_per_batch(shape, max(int(chunk["input_ids"].shape[-1]) for chunk in chunks))
    outputs = [output for start in range(0, len(chunks), rows)
               for output in _windows_forward(model, chunks[start:start + rows], batcher)]
    if windowed:
        notes.append(f"The text is {length} tokens, more than the model's {limit}: it was read in {len(outputs)} "
                     f"overlapping windows ({stride} tokens of overlap) and entities were merged "
                     "across window boundaries.")
    raw = pipe.postprocess(outputs, **{**postprocess, "aggregation_strategy": AggregationStrategy.NONE,
                                       "ignore_labels": []})
    tokens = _unique_tokens(raw)
    if strategy == "none":
        entities = tuple(Entity(t.label, text[t.start:t.end], t.start, t.end, t.score)
                         for t in tokens if t.label != "O")
    else:
        merged = pipe.postprocess(outputs, **postprocess)
        entities = tuple(Entity(label=str(e["entity_group"]), text=text[e["start"]:e["end"]], start=int(e["start"]),
                                end=int(e["end"]), score=float(e["score"])) for e in merged)
    if strategy == "simple" and any(t.token.startswith("##") for t in tokens):
        fragments = [e.text for e in entities if _cuts_a_word(text, e.start, e.end)]
        if fragments:
            notes.append(f"'simple' merges by label only, so a word can be split into fragments: "
                         f"{', '.join(repr(f) for f in fragments[:5])}. 'first', 'average' and 'max' decide per word.")
    return NerResult(model=label, text=text, strategy=strategy, entities=entities, tokens=tokens, labels=labels,
                     windows=len(outputs), notes=tuple(notes))


def _windows_forward(model: Model, chunks: list[dict[str, Any]], batcher: MicroBatcher | None) -> list[dict[str, Any]]:
    """The token-classification pipeline's ``_forward`` for each window (the same dict: its logits beside the
    window's own fields), the windows in one padded forward, batched with concurrent requests."""
    encoding = pad_together([{name: chunk[name] for name in ("input_ids", "attention_mask", "token_type_ids")
                              if name in chunk} for chunk in chunks], pad_id_of(model))
    (logits,) = forward(model, encoding, per_token=True, batcher=batcher)
    return [{"offset_mapping": None, "word_ids": None, "word_to_chars_map": None, **chunk,
             "logits": logits[row:row + 1, :int(chunk["input_ids"].shape[-1])]} for row, chunk in enumerate(chunks)]


def _cuts_a_word(text: str, start: int, end: int) -> bool:
    """True when a span starts or ends in the middle of a word (a '##' fragment)."""
    starts_inside = start > 0 and text[start - 1].isalnum() and text[start].isalnum()
    ends_inside = 0 < end < len(text) and text[end - 1].isalnum() and text[end].isalnum()
    return starts_inside or ends_inside


def _unique_tokens(raw: list[dict]) -> tuple[TokenPrediction, ...]:
    """Per-token predictions, each character span once (overlapping windows predict some tokens twice)."""
    seen: dict[tuple[int, int], dict] = {}
    for item in raw:
        seen.setdefault((int(item["start"]), int(item["end"])), item)
    # Numbered through the whole text (the pipeline's index restarts in every window).
    return tuple(TokenPrediction(index=number, token=str(item["word"]), label=str(item["entity"]),
                                 score=float(item["score"]), start=start, end=end)
                 for number, ((start, end), item) in enumerate(sorted(seen.items()), start=1))


def filter_entities(entities: tuple[Entity, ...], *, labels: Any = None, min_score: float = 0.0) -> tuple[Entity, ...]:
    """Entities of the chosen types (all when none are chosen) at or above a confidence."""
    chosen = set(labels or ())
    return tuple(e for e in entities if (not chosen or e.label in chosen) and e.score >= min_score)


def entity_type(label: str) -> str:
    """PER from B-PER / I-PER / PER."""
    return label.split("-", 1)[1] if _BIO.match(label) and label != "O" else label


def split_words(sentence: str, tokenizer: Tokenizer) -> tuple[str, ...]:
    """Words as the model's own pre-tokenizer splits them: on spaces and punctuation ("California" and "."),
    unlike str.split(), which keeps "California." whole."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    pre_tokenizer = getattr(backend, "pre_tokenizer", None)
    if pre_tokenizer is None:
        return tuple(sentence.split())
    return tuple(word for word, _ in pre_tokenizer.pre_tokenize_str(sentence))


def align_labels(sentence: str, word_labels: str, *, tokenizer: Tokenizer, label_all_subwords: bool = False,
                 label2id: dict[str, int] | None = None) -> Alignment:
    """Map word-level BIO labels onto tokens the way NER training does.

    The first piece of each word carries the word's label; the other pieces and the special tokens get
    -100 (shown as IGN) so the loss ignores them, unless ``label_all_subwords``: then every piece gets the
    word's label (I- for the pieces of a B- word).

    Args:
        sentence: a sentence; words are split as the model's pre-tokenizer splits them (punctuation apart).
        word_labels: one label per word, separated by spaces.
        tokenizer: a fast tokenizer (for word ids).
        label_all_subwords: label every piece instead of the first only.
        label2id: label ids (e.g. the model's); labels it lacks get the next free ids.

    Returns:
        Alignment. Raises BadInput when the counts differ or a label is not BIO.
    """
    sentence = check_text(sentence, "Words")
    words = split_words(sentence, tokenizer)
    labels = tuple(check_text(word_labels, "Word labels").split())
    if len(words) != len(labels):
        raise BadInput(f"{len(words)} words but {len(labels)} labels: give exactly one label per word.")
    if not labels_are_bio(labels):
        bad = [label for label in labels if not _BIO.match(label)]
        raise BadInput(f"Labels must be O or B-/I- tags (e.g. B-PER I-PER O); got {', '.join(bad[:3])}.")
    label2id = dict(label2id or {})  # a copy: the caller's mapping (perhaps a model config's) stays as it was
    for tag in ("O", *labels):
        label2id.setdefault(tag, len(label2id))
    encoding = tokenizer(list(words), is_split_into_words=True, truncation=True)
    pieces = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    rows, previous = [], None
    for piece, word_id in zip(pieces, encoding.word_ids()):
        if word_id is None:
            rows.append(AlignedToken(piece, None, "", IGNORED, -100))
        elif word_id != previous:
            rows.append(AlignedToken(piece, word_id, words[word_id], labels[word_id], label2id[labels[word_id]]))
        elif label_all_subwords:
            tag = labels[word_id]
            tag = "I-" + tag[2:] if tag.startswith("B-") else tag
            rows.append(AlignedToken(piece, word_id, words[word_id], tag, label2id.setdefault(tag, len(label2id))))
        else:
            rows.append(AlignedToken(piece, word_id, words[word_id], IGNORED, -100))
        previous = word_id
    return Alignment(words=words, word_labels=labels, label_all_subwords=label_all_subwords, tokens=tuple(rows))


def spacy_entities(text: str, nlp: Any) -> tuple[Entity, ...]:
    """Entities a spaCy pipeline finds in ``text``, for comparison (score 1.0: spaCy gives none)."""
    return tuple(Entity(label=ent.label_, text=ent.text, start=ent.start_char, end=ent.end_char, score=1.0)
                 for ent in nlp(text).ents)
