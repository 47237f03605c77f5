"""Tokenizer: what BERT's input looks like for a text or a sentence pair (pure compute, no UI)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bertviz_ui.errors import BadInput
from bertviz_ui.models.types import Tokenizer
from bertviz_ui.tasks.validation import check_text, check_whole_number

TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")
# Tokenizers that report an effectively infinite model_max_length get this cap on max_length.
MAX_LENGTH_CAP = 8192

SPECIAL_TOKEN_MEANINGS = {
    "cls_token": "Classification token. Always first; its final hidden state stands for the whole input "
                 "in sentence-level tasks.",
    "sep_token": "Separator. Ends a sentence and separates the two sentences of a pair.",
    "pad_token": "Padding. Fills shorter inputs to a common length; its attention mask is 0, so the model "
                 "ignores it.",
    "mask_token": "Mask. Hides a word for masked-language-model pretraining and fill-in-the-blank prediction.",
    "unk_token": "Unknown. Stands for anything the vocabulary cannot spell (many emoji, rare scripts).",
    "bos_token": "Beginning of sequence (RoBERTa's <s> plays the role of [CLS]).",
    "eos_token": "End of sequence (RoBERTa's </s> plays the role of [SEP]).",
}


@dataclass(frozen=True)
class SpecialToken:
    """A special token of the vocabulary and what it is for."""

    role: str
    token: str
    id: int
    meaning: str


@dataclass(frozen=True)
class WordGroup:
    """One word of the input and the WordPiece tokens it became."""

    segment: int
    word_id: int
    text: str
    token_indices: tuple[int, ...]


@dataclass(frozen=True)
class Tokenization:
    """The encoder's input for one text or pair, and how it came about.

    Offsets are character positions into the segment's own text (``text`` for segment 0,
    ``text_pair`` for segment 1); special and padding tokens have ``None`` there and in
    ``word_ids``/``sequence_ids``.
    """

    model: str
    text: str
    text_pair: str | None
    tokens: tuple[str, ...]
    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...]
    attention_mask: tuple[int, ...]
    offsets: tuple[tuple[int, int] | None, ...]
    word_ids: tuple[int | None, ...]
    sequence_ids: tuple[int | None, ...]
    special_tokens_mask: tuple[int, ...]
    words: tuple[WordGroup, ...]
    special_tokens: tuple[SpecialToken, ...]
    num_tokens: int
    num_padding: int
    truncated_tokens: tuple[str, ...]
    untruncated_length: int
    model_max_length: int
    max_length: int | None
    padding: bool
    truncation: str
    split_special_tokens: bool
    typed_special_tokens: tuple[str, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form shown as "Raw output (JSON)"."""
        return dataclasses.asdict(self)


def tokenize(
    text: str,
    text_pair: str | None = None,
    *,
    tokenizer: Tokenizer,
    model: str = "",
    max_length: int | None = None,
    padding: bool = False,
    truncation: str = "longest_first",
    split_special_tokens: bool = False,
) -> Tokenization:
    """Encode a text (or a pair) the way BERT sees it.

    Args:
        text: the first sentence (segment A).
        text_pair: optional second sentence (segment B); blank means none.
        tokenizer: a Hugging Face tokenizer (fast tokenizers give offsets and word ids).
        model: label of the model the tokenizer belongs to, shown with the result.
        max_length: truncate and/or pad to this many tokens; None or 0 for no limit.
        padding: pad with [PAD] up to ``max_length``.
        truncation: which segment gives up tokens first when ``max_length`` is exceeded.
        split_special_tokens: read "[SEP]" typed in the text as plain characters rather than the
            special token.

    Returns:
        Tokenization. Raises BadInput for empty or over-long text and impossible settings.
    """
    text = check_text(text, "Text")
    text_pair = check_text(text_pair, "Second sentence", required=False) or None
    if truncation not in TRUNCATION_STRATEGIES:
        raise BadInput(f"Truncation must be one of {', '.join(TRUNCATION_STRATEGIES)}.")
    if truncation == "only_second" and text_pair is None:
        raise BadInput("Truncation 'only_second' needs a second sentence.")
    model_max = int(min(getattr(tokenizer, "model_max_length", MAX_LENGTH_CAP) or MAX_LENGTH_CAP, MAX_LENGTH_CAP))
    max_length = _check_max_length(max_length, tokenizer, text_pair is not None, model_max)
    if padding and max_length is None:
        raise BadInput("Padding needs a max length: set one, or turn padding off.")

    fast = bool(getattr(tokenizer, "is_fast", False))
    common = {"split_special_tokens": split_special_tokens} if split_special_tokens else {}
    try:
        encoding = tokenizer(
            text,
            text_pair,
            max_length=max_length,
            truncation=truncation if max_length else False,
            padding="max_length" if padding else False,
            return_offsets_mapping=fast,
            return_special_tokens_mask=True,
            return_token_type_ids=True,
            **common,
        )
    except Exception as error:  # the Rust tokenizer raises a bare Exception for impossible truncation
        raise BadInput(f"These settings can't be met: {str(error).splitlines()[0]}. Raise the max length "
                       "or choose another truncation strategy.") from error

    # Without a max length the encoding is the untruncated one; only truncation/padding needs a second pass.
    untruncated = encoding if max_length is None else tokenizer(text, text_pair, truncation=False, **common)
    input_ids = tuple(int(i) for i in encoding["input_ids"])
    tokens = tuple(tokenizer.convert_ids_to_tokens(list(input_ids)))
    count = len(input_ids)
    attention_mask = tuple(int(m) for m in encoding.get("attention_mask", [1] * count))
    type_ids = encoding.get("token_type_ids")
    notes: list[str] = []
    if type_ids is None:
        type_ids = [0] * count
        notes.append("This tokenizer produces no token type (segment) ids; all are shown as 0.")
    special_mask = tuple(int(m) for m in encoding["special_tokens_mask"])
    if fast:
        offsets = tuple(
            None if special_mask[i] else (int(start), int(end))
            for i, (start, end) in enumerate(encoding["offset_mapping"])
        )
        word_ids = tuple(encoding.word_ids())
        sequence_ids = tuple(encoding.sequence_ids())
        untruncated_sequence_ids = untruncated.sequence_ids()
    else:
        offsets = tuple(None for _ in range(count))
        word_ids = tuple(None for _ in range(count))
        sequence_ids = tuple(None for _ in range(count))
        untruncated_sequence_ids = []
        notes.append("This is a slow (Python) tokenizer: it gives no character offsets or word ids.")

    pad_id = getattr(tokenizer, "pad_token_id", None)
    num_padding = sum(1 for i, m in zip(input_ids, attention_mask) if m == 0 and i == pad_id)
    truncated = _truncated_tokens(tokenizer, untruncated, untruncated_sequence_ids, sequence_ids)
    typed = _typed_special_tokens(tokenizer, (text, text_pair or ""))

    untruncated_length = len(untruncated["input_ids"])
    if truncated:
        notes.append(f"Truncation to {max_length} tokens removed {len(truncated)} token(s) "
                     f"({truncation.replace('_', ' ')}).")
    if num_padding:
        notes.append(f"Padding added {num_padding} [PAD] token(s) with attention mask 0.")
    if max_length is None and untruncated_length > model_max:
        notes.append(f"{untruncated_length} tokens is more than this model reads ({model_max}); "
                     "set a max length to see what truncation keeps.")
    if typed and not split_special_tokens:
        notes.append(f"The text contains {', '.join(typed)} typed literally; the tokenizer read it as the special "
                     "token. Tick 'Typed special tokens are text' to treat it as ordinary characters.")

    return Tokenization(
        model=model,
        text=text,
        text_pair=text_pair,
        tokens=tokens,
        input_ids=input_ids,
        token_type_ids=tuple(int(t) for t in type_ids),
        attention_mask=attention_mask,
        offsets=offsets,
        word_ids=word_ids,
        sequence_ids=sequence_ids,
        special_tokens_mask=special_mask,
        words=_group_words(text, text_pair, offsets, word_ids, sequence_ids),
        special_tokens=_special_tokens(tokenizer),
        num_tokens=count - num_padding,
        num_padding=num_padding,
        truncated_tokens=truncated,
        untruncated_length=untruncated_length,
        model_max_length=model_max,
        max_length=max_length,
        padding=padding,
        truncation=truncation,
        split_special_tokens=split_special_tokens,
        typed_special_tokens=typed,
        notes=tuple(notes),
    )


def _check_max_length(max_length: Any, tokenizer: Tokenizer, is_pair: bool, model_max: int) -> int | None:
    if max_length in (None, "", 0):
        return None
    minimum = tokenizer.num_special_tokens_to_add(pair=is_pair) + (2 if is_pair else 1)
    return check_whole_number(max_length, "Max length", low=minimum, high=model_max,
                              hint="for this model and input (or 0 for no limit)")


def _truncated_tokens(tokenizer: Tokenizer, untruncated: Any, untruncated_seq: list, final_seq: tuple) -> tuple[str, ...]:
    """Tokens present before truncation but not after: truncation cuts the end of each segment."""
    if not untruncated_seq:
        return ()
    ids = untruncated["input_ids"]
    removed: list[int] = []
    for segment in (0, 1):
        before = [ids[i] for i, s in enumerate(untruncated_seq) if s == segment]
        kept = sum(1 for s in final_seq if s == segment)
        removed.extend(before[kept:])
    return tuple(tokenizer.convert_ids_to_tokens(removed))


def _typed_special_tokens(tokenizer: Tokenizer, texts: tuple[str, ...]) -> tuple[str, ...]:
    specials = sorted(set(getattr(tokenizer, "all_special_tokens", ())))
    return tuple(token for token in specials if any(token in text for text in texts))


def _special_tokens(tokenizer: Tokenizer) -> tuple[SpecialToken, ...]:
    found = []
    for role, meaning in SPECIAL_TOKEN_MEANINGS.items():
        token = getattr(tokenizer, role, None)
        token_id = getattr(tokenizer, f"{role}_id", None)
        if token is None or token_id is None:
            continue
        if any(s.token == str(token) for s in found):
            continue  # RoBERTa's bos and cls are one token
        found.append(SpecialToken(role=role, token=str(token), id=int(token_id), meaning=meaning))
    return tuple(found)


def _group_words(
    text: str,
    text_pair: str | None,
    offsets: tuple[tuple[int, int] | None, ...],
    word_ids: tuple[int | None, ...],
    sequence_ids: tuple[int | None, ...],
) -> tuple[WordGroup, ...]:
    groups: list[WordGroup] = []
    for index, (word_id, segment) in enumerate(zip(word_ids, sequence_ids)):
        if word_id is None or segment is None or offsets[index] is None:
            continue
        last = groups[-1] if groups else None
        if last is not None and last.word_id == word_id and last.segment == segment:
            groups[-1] = dataclasses.replace(last, token_indices=(*last.token_indices, index))
        else:
            groups.append(WordGroup(segment=segment, word_id=word_id, text="", token_indices=(index,)))
    sources = (text, text_pair or "")
    finished = []
    for group in groups:
        spans = [offsets[i] for i in group.token_indices]
        start, end = min(s for s, _ in spans), max(e for _, e in spans)
        finished.append(dataclasses.replace(group, text=sources[group.segment][start:end]))
    return tuple(finished)
