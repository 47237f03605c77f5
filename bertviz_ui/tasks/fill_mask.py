"""Masked words: BERT's masked-language-model pretraining task, live (pure compute, no UI).

The vocabulary projection (30k+ columns) runs only at [MASK] positions, never over every token:
same numbers as the full forward, a fraction of the work.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.budget import Budget, forward_flops, shape_of, vocabulary_flops
from bertviz_ui.tasks.modeling import model_inputs, model_max_length
from bertviz_ui.tasks.validation import check_text, check_whole_number

CANONICAL_MASK = "[MASK]"
MAX_MASKS = 8
MAX_TOP_K = 50
# Mask tokens of other model families, to recognise a mask written for the wrong model.
KNOWN_MASK_TOKENS = ("[MASK]", "<mask>", "[mask]")


@dataclass(frozen=True)
class Prediction:
    """One candidate for a masked position.

    Attributes:
        token: the candidate as text (what `pipeline("fill-mask")` calls token_str).
        piece: the vocabulary entry (WordPiece "##ing", BPE "Ġparis").
        token_id: its id.
        score: softmax probability over the whole vocabulary.
    """

    token: str
    piece: str
    token_id: int
    score: float


@dataclass(frozen=True)
class MaskPrediction:
    """The predictions for one mask: its token position and top-k candidates, best first."""

    position: int
    predictions: tuple[Prediction, ...]


@dataclass(frozen=True)
class FillMaskResult:
    """Top-k predictions for every mask of a text, each predicted independently."""

    model: str
    text: str
    mask_token: str
    tokens: tuple[str, ...]
    masks: tuple[MaskPrediction, ...]
    completed: str
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FillStep:
    """One step of iterative filling: the mask filled (by its position) and the token chosen."""

    position: int
    prediction: Prediction
    text_after: str


@dataclass(frozen=True)
class IterativeFill:
    """Masks filled one at a time, most confident first, re-running the model after each."""

    steps: tuple[FillStep, ...]
    completed: str


@dataclass(frozen=True)
class ContextComparison:
    """One mask predicted with both sides of its context and with the left side only."""

    mask_index: int
    both_sides: MaskPrediction
    left_only: MaskPrediction
    left_text: str


@dataclass(frozen=True)
class LayerStep:
    """The masked-LM head applied to one layer's hidden state at the mask (layer 0 = embeddings)."""

    layer: int
    top: tuple[Prediction, ...]
    final_token_score: float
    final_token_rank: int


@dataclass(frozen=True)
class LayerPredictions:
    """How the guesses at one mask evolve through the layers; ``final_token`` is the last layer's top-1."""

    mask_index: int
    final_token: str
    layers: tuple[LayerStep, ...]


@dataclass(frozen=True)
class Word:
    """A word of a plain sentence that can be masked: its index and character span."""

    index: int
    text: str
    start: int
    end: int


# --- Model plumbing --------------------------------------------------------------------------------

def _mlm_head(model: Model) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The vocabulary head of a masked-LM model, applicable to any hidden states; None if unknown."""
    if hasattr(model, "cls") and hasattr(model.cls, "predictions"):  # BERT
        return model.cls
    if hasattr(model, "lm_head"):  # RoBERTa and relatives
        return model.lm_head
    if hasattr(model, "vocab_projector"):  # DistilBERT
        return lambda h: model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(h))))
    return None


def mask_logits(model: Model, encoding: Any, positions: list[tuple[int, int]], *,
                hidden_states: bool = False) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
    """Vocabulary logits at the given (row, position) pairs only.

    Args:
        model: a masked-LM model.
        encoding: tokenizer output with tensors (a batch).
        positions: (batch row, token index) of each mask.
        hidden_states: also return the head's logits at those positions for every layer.

    Returns:
        (logits [n, vocab] in float32, per-layer logits or None).
    """
    device = next(model.parameters()).device
    head = _mlm_head(model)
    rows = torch.tensor([r for r, _ in positions], dtype=torch.long)
    cols = torch.tensor([c for _, c in positions], dtype=torch.long)
    with torch.inference_mode():
        if head is None:  # unknown architecture: the full forward is correct, just slower
            outputs = model(**model_inputs(model, encoding), output_hidden_states=hidden_states)
            logits = outputs.logits[rows, cols].float()
            layers = None
            if hidden_states:
                raise ModelUnavailable("This architecture's masked-LM head can't be applied layer by layer.")
            return logits, layers
        base = model.base_model
        if not hidden_states:
            at_masks = _bert_last_layer_at(base, encoding, positions, device)
            if at_masks is not None:
                return head(at_masks).float(), None
        outputs = base(**model_inputs(base, encoding), output_hidden_states=hidden_states)
        logits = head(outputs.last_hidden_state[rows, cols]).float()
        layers = None
        if hidden_states:
            layers = tuple(head(h[rows, cols]).float() for h in outputs.hidden_states)
        return logits, layers


def _bert_last_layer_at(base: Any, encoding: Any, positions: list[tuple[int, int]],
                        device: Any) -> torch.Tensor | None:
    """BERT's final hidden states at ``positions`` only, or None where this shortcut does not apply.

    The last layer's output at a mask depends on every position's keys and values but only on the mask's
    own query, attention output and feed-forward; computing those for the mask rows alone skips most of
    the last layer. Used for one unpadded sequence of a plain BERT encoder; anything else takes the
    ordinary forward. Same numbers as the full forward (tests pin this).
    """
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    config = getattr(base, "config", None)
    if (type(base).__name__ != "BertModel" or not layers or config is None or config.is_decoder
            or getattr(config, "position_embedding_type", "absolute") != "absolute"
            or encoding["input_ids"].shape[0] != 1 or any(row != 0 for row, _ in positions)
            or ("attention_mask" in encoding and not bool(encoding["attention_mask"].all()))):
        return None
    cols = torch.tensor([col for _, col in positions], dtype=torch.long, device=device)
    hidden = base.embeddings(input_ids=encoding["input_ids"].to(device),
                             token_type_ids=encoding["token_type_ids"].to(device)
                             if "token_type_ids" in encoding else None)
    for layer in layers[:-1]:
        hidden = layer(hidden, None)  # no padding: no attention mask needed
    last = layers[-1]
    attention = last.attention.self

    def heads(x: torch.Tensor) -> torch.Tensor:
        return x.view(1, x.shape[1], -1, attention.attention_head_size).transpose(1, 2)

    query = heads(attention.query(hidden[:, cols]))
    key, value = heads(attention.key(hidden)), heads(attention.value(hidden))
    context = torch.nn.functional.scaled_dot_product_attention(query, key, value, scale=attention.scaling)
    context = context.transpose(1, 2).reshape(1, len(positions), -1)
    attended = last.attention.output(context, hidden[:, cols])
    return last.output(last.intermediate(attended), attended)[0]


def _predictions(tokenizer: Tokenizer, logits: torch.Tensor, top_k: int) -> tuple[Prediction, ...]:
    probs = logits.softmax(dim=-1)
    scores, ids = probs.topk(top_k)
    ids_list = ids.tolist()
    pieces = tokenizer.convert_ids_to_tokens(ids_list)
    return tuple(
        Prediction(token=tokenizer.decode([i]).strip(), piece=str(p), token_id=int(i), score=float(s))
        for i, p, s in zip(ids_list, pieces, scores.tolist())
    )


# --- Input handling ----------------------------------------------------------------------------------

def _check_top_k(top_k: Any) -> int:
    return check_whole_number(top_k, "Top-k", low=1, high=MAX_TOP_K)


def normalize_masks(text: str, tokenizer: Tokenizer) -> str:
    """Accept [MASK] for any model (rewritten to the model's own mask token) and the model's own token.

    Raises BadInput for another family's mask token (``<mask>`` given to BERT) and for text without a mask.
    """
    own = str(tokenizer.mask_token)
    for foreign in KNOWN_MASK_TOKENS:
        if foreign != own and foreign != CANONICAL_MASK and foreign in text:
            raise BadInput(f"{foreign} is not this model's mask token: this model uses {own} "
                           f"(or write {CANONICAL_MASK}, which works with every model).")
    if own != CANONICAL_MASK:
        text = text.replace(CANONICAL_MASK, own)
    if own not in text:
        raise BadInput(f"Put at least one {CANONICAL_MASK} in the text (this model's mask token is {own}).")
    return text


def _encode_masked(text: str, tokenizer: Tokenizer, model: Model, budget: Budget | None = None, *,
                   forwards: int | None = 1, heads: int = 1,
                   what: str = "Predicting the masks") -> tuple[Any, list[int]]:
    """The encoded text and its mask positions; refused up front when ``forwards`` passes (None: one per mask)
    and the vocabulary head at ``heads`` positions per mask cost more than the budget."""
    encoding = tokenizer(text, return_tensors="pt", truncation=False)
    length = encoding["input_ids"].shape[1]
    limit = model_max_length(tokenizer, model)
    if length > limit:
        raise BadInput(f"The text is {length} tokens; this model reads at most {limit}. Shorten it.")
    positions = (encoding["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten().tolist()
    if len(positions) > MAX_MASKS:
        raise BadInput(f"{len(positions)} masks: this tab predicts at most {MAX_MASKS} at once.")
    check_budget(model, int(length), forwards=len(positions) if forwards is None else forwards,
                 heads=heads * max(1, len(positions)), what=what, budget=budget)
    return encoding, positions


def check_budget(model: Model, tokens: int, *, forwards: int, heads: int, what: str, budget: Budget | None) -> None:
    """Refuse up front (OverBudget) ``forwards`` forward passes over ``tokens`` tokens plus the vocabulary head at
    ``heads`` positions when that costs more than one request may use."""
    shape = shape_of(model)
    (budget or Budget()).check(f"{what} ({forwards} forward pass(es) over {tokens} tokens with this model)",
                               forwards * forward_flops(shape, tokens) + vocabulary_flops(shape, heads),
                               "Use a shorter text, fewer masks or a smaller model.")


def _fill(tokenizer: Tokenizer, input_ids: list[int], choices: dict[int, int]) -> str:
    ids = [choices.get(i, token_id) for i, token_id in enumerate(input_ids)]
    return tokenizer.decode(ids, skip_special_tokens=True)


def check_mlm_head(loaded_new: tuple[str, ...]) -> None:
    """Refuse a checkpoint whose masked-LM head was missing (it would be randomly initialized)."""
    untrained = [k for k in loaded_new if not k.startswith(("bert.pooler", "pooler"))]
    if untrained:
        raise ModelUnavailable("This checkpoint has no trained masked-language-model head (its weights would be "
                               "random). Choose a pretrained base model such as google-bert/bert-base-uncased.")


# --- Tasks --------------------------------------------------------------------------------------------

def predict_masks(text: str, *, model: Model, tokenizer: Tokenizer, top_k: int = 5, label: str = "",
                  newly_initialized: tuple[str, ...] = (), budget: Budget | None = None) -> FillMaskResult:
    """Top-k predictions for each mask in ``text``, each mask predicted independently in one forward.

    Args:
        text: text with one or more [MASK] (or the model's own mask token).
        model: a masked-LM model in eval mode.
        tokenizer: its tokenizer.
        top_k: candidates per mask (1-50).
        label: the model's label, shown with the result.
        newly_initialized: weights the checkpoint lacked; a random MLM head is refused.
        budget: what one request may cost (default: the default budget); more is refused up front (OverBudget).

    Returns:
        FillMaskResult. Raises BadInput for missing, foreign or too many masks and over-long text.
    """
    check_mlm_head(newly_initialized)
    text = normalize_masks(check_text(text, "Text"), tokenizer)
    top_k = _check_top_k(top_k)
    encoding, positions = _encode_masked(text, tokenizer, model, budget)
    logits, _ = mask_logits(model, encoding, [(0, p) for p in positions])
    masks = tuple(MaskPrediction(position=p, predictions=_predictions(tokenizer, logits[i], top_k))
                  for i, p in enumerate(positions))
    input_ids = encoding["input_ids"][0].tolist()
    completed = _fill(tokenizer, input_ids, {m.position: m.predictions[0].token_id for m in masks})
    notes = []
    if len(masks) > 1:
        notes.append(f"{len(masks)} masks: each is predicted independently, as if the others stayed masked. "
                     "Compare with the iterative fill, which fills the most confident mask and re-runs.")
    if str(tokenizer.mask_token) != CANONICAL_MASK:
        notes.append(f"This model's mask token is {tokenizer.mask_token}; [MASK] was rewritten to it.")
    return FillMaskResult(model=label, text=text, mask_token=str(tokenizer.mask_token),
                          tokens=tuple(tokenizer.convert_ids_to_tokens(input_ids)), masks=masks,
                          completed=completed, notes=tuple(notes))


def iterative_fill(text: str, *, model: Model, tokenizer: Tokenizer, budget: Budget | None = None) -> IterativeFill:
    """Fill masks one at a time: the most confident prediction first, then run the model again.

    Args:
        text: text with one or more masks (as for predict_masks).
        model: a masked-LM model.
        tokenizer: its tokenizer.

    Returns:
        IterativeFill with one step per mask.
    """
    text = normalize_masks(check_text(text, "Text"), tokenizer)
    encoding, positions = _encode_masked(text, tokenizer, model, budget, forwards=None,
                                         what="Filling the masks one at a time")
    input_ids = encoding["input_ids"][0].tolist()
    steps = []
    while positions:
        logits, _ = mask_logits(model, encoding, [(0, p) for p in positions])
        best = [_predictions(tokenizer, logits[i], 1)[0] for i in range(len(positions))]
        pick = max(range(len(positions)), key=lambda i: best[i].score)
        position = positions.pop(pick)
        input_ids[position] = best[pick].token_id
        encoding["input_ids"][0, position] = best[pick].token_id
        steps.append(FillStep(position=position, prediction=best[pick],
                              text_after=tokenizer.decode(input_ids, skip_special_tokens=False)))
    return IterativeFill(steps=tuple(steps), completed=tokenizer.decode(input_ids, skip_special_tokens=True))


def _mask_char_spans(text: str, mask: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(re.escape(mask), text)]


def compare_context(text: str, *, model: Model, tokenizer: Tokenizer, mask_index: int = 0,
                    top_k: int = 5, budget: Budget | None = None) -> ContextComparison:
    """Predict one mask with its full context and with everything right of it removed.

    Args:
        text: text with masks.
        model: a masked-LM model.
        tokenizer: its tokenizer.
        mask_index: which mask (0 = first).
        top_k: candidates per side.

    Returns:
        ContextComparison (the left-only input keeps [CLS] ... [MASK] [SEP]).
    """
    text = normalize_masks(check_text(text, "Text"), tokenizer)
    top_k = _check_top_k(top_k)
    spans = _mask_char_spans(text, str(tokenizer.mask_token))
    mask_index = check_whole_number(mask_index, "Mask index", low=0, high=MAX_MASKS - 1)
    if not 0 <= mask_index < len(spans):
        raise BadInput(f"There is no mask number {mask_index + 1}; the text has {len(spans)}.")
    _encode_masked(text, tokenizer, model, budget, forwards=2, heads=2,
                   what="Predicting a mask with both sides and the left side only")
    full = predict_masks(text, model=model, tokenizer=tokenizer, top_k=top_k).masks[mask_index]
    left_text = text[:spans[mask_index][1]]
    left = predict_masks(left_text, model=model, tokenizer=tokenizer, top_k=top_k).masks[mask_index]
    return ContextComparison(mask_index=mask_index, both_sides=full, left_only=left, left_text=left_text)


def predictions_through_layers(text: str, *, model: Model, tokenizer: Tokenizer, mask_index: int = 0,
                               top_k: int = 3, budget: Budget | None = None) -> LayerPredictions:
    """Apply the masked-LM head to every layer's hidden state at one mask ("logit lens").

    Args:
        text: text with masks.
        model: a masked-LM model.
        tokenizer: its tokenizer.
        mask_index: which mask (0 = first).
        top_k: guesses kept per layer.

    Returns:
        LayerPredictions: per layer its top guesses and the score and rank of the final answer.
    """
    text = normalize_masks(check_text(text, "Text"), tokenizer)
    top_k = _check_top_k(top_k)
    encoding, positions = _encode_masked(text, tokenizer, model, budget, heads=int(shape_of(model).layers) + 1,
                                         what="Applying the head to every layer")
    mask_index = check_whole_number(mask_index, "Mask index", low=0, high=MAX_MASKS - 1)
    if not 0 <= mask_index < len(positions):
        raise BadInput(f"There is no mask number {mask_index + 1}; the text has {len(positions)}.")
    _, layers = mask_logits(model, encoding, [(0, positions[mask_index])], hidden_states=True)
    final_id = int(layers[-1][0].argmax())
    steps = []
    for number, layer_logits in enumerate(layers):
        probs = layer_logits[0].softmax(-1)
        rank = int((probs > probs[final_id]).sum()) + 1
        steps.append(LayerStep(layer=number, top=_predictions(tokenizer, layer_logits[0], top_k),
                               final_token_score=float(probs[final_id]), final_token_rank=rank))
    return LayerPredictions(mask_index=mask_index, final_token=tokenizer.decode([final_id]).strip(),
                            layers=tuple(steps))


def sentence_words(sentence: str, *, tokenizer: Tokenizer) -> tuple[Word, ...]:
    """The words of a plain sentence as the tokenizer splits them (punctuation is its own word)."""
    sentence = check_text(sentence, "Sentence")
    encoding = tokenizer(sentence, return_offsets_mapping=True, truncation=True)
    words: dict[int, list[int]] = {}
    for word_id, (start, end) in zip(encoding.word_ids(), encoding["offset_mapping"]):
        if word_id is None:
            continue
        span = words.setdefault(word_id, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    return tuple(Word(index=i, text=sentence[s:e], start=s, end=e) for i, (s, e) in enumerate(words.values()))


def mask_word(sentence: str, word_index: int, *, tokenizer: Tokenizer) -> str:
    """The sentence with one word replaced by a single mask token (BERT predicts one token per mask)."""
    words = sentence_words(sentence, tokenizer=tokenizer)
    try:
        index = int(word_index)
    except (TypeError, ValueError):
        raise BadInput("Pick a word to mask.") from None
    if not 0 <= index < len(words):
        raise BadInput(f"Pick a word between 1 and {len(words)}.")
    word = words[index]
    return sentence[:word.start] + str(tokenizer.mask_token) + sentence[word.end:]


# --- Masking lab: the 15% selection and 80/10/10 corruption of pretraining ------------------------------

ROLE_MASKED, ROLE_RANDOM, ROLE_UNCHANGED, ROLE_NOT_SELECTED, ROLE_SPECIAL = (
    "masked", "random", "unchanged", "not selected", "special")


@dataclass(frozen=True)
class LabToken:
    """One position of the masking lab.

    Attributes:
        index: token position.
        original: the token in the sentence.
        corrupted: what the model is given instead (same as original unless masked or randomized).
        role: "masked" ([MASK], 80%), "random" (random token, 10%), "unchanged" (selected but kept, 10%),
            "not selected" or "special".
        prediction: the model's top guess at a selected position (None elsewhere).
        prediction_score: its probability.
        original_score: probability the model gives the original token there (selected positions).
        loss: cross-entropy at this position, -log(original_score) (selected positions only).
    """

    index: int
    original: str
    corrupted: str
    role: str
    prediction: str | None = None
    prediction_score: float | None = None
    original_score: float | None = None
    loss: float | None = None


@dataclass(frozen=True)
class MaskingLabResult:
    """The corruption BERT's pretraining applies to a sentence, and the model's loss on it."""

    model: str
    sentence: str
    seed: int
    probability: float
    tokens: tuple[LabToken, ...]
    counts: dict[str, int]
    mean_loss: float | None
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def corrupt(input_ids: torch.Tensor, special_tokens_mask: torch.Tensor, *, tokenizer: Tokenizer, seed: int,
            probability: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """Select and corrupt tokens exactly as transformers' DataCollatorForLanguageModeling does in pretraining.

    Args:
        input_ids: [batch, length] token ids.
        special_tokens_mask: 1 where a token may not be selected.
        tokenizer: supplies the mask token and the vocabulary size for random replacements.
        seed: the collator's random seed; the same seed gives the same corruption.
        probability: share of tokens selected (0.15 in BERT).

    Returns:
        (corrupted ids, labels with -100 where no loss is computed).
    """
    from transformers import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(getattr(tokenizer, "unwrapped", tokenizer), mlm=True,
                                               mlm_probability=probability, mask_replace_prob=0.8,
                                               random_replace_prob=0.1, seed=seed)
    # Called like a training DataLoader calls it: that is where the collator seeds its own generator
    # (torch_mask_tokens alone would draw from torch's global RNG and ignore the seed).
    batch = collator([{"input_ids": ids, "special_tokens_mask": special}
                      for ids, special in zip(input_ids.tolist(), special_tokens_mask.tolist())])
    return batch["input_ids"], batch["labels"]


def masking_lab(sentence: str, *, model: Model, tokenizer: Tokenizer, seed: int = 0, probability: float = 0.15,
                label: str = "", budget: Budget | None = None) -> MaskingLabResult:
    """Draw BERT's masking for a sentence and score the model where the loss is computed.

    Args:
        sentence: plain text.
        model: a masked-LM model.
        tokenizer: its tokenizer.
        seed: random seed of the draw (0-2**31).
        probability: selection rate, 0.05-0.5 (BERT: 0.15).
        label: the model's label, shown with the result.
        budget: what one request may cost (default: the default budget); more is refused up front (OverBudget).

    Returns:
        MaskingLabResult; ``mean_loss`` equals the model's own MLM loss on the corrupted input.
    """
    sentence = check_text(sentence, "Sentence")
    seed = check_whole_number(seed, "Seed", low=0, high=2**31 - 1)
    try:
        probability = float(probability)
    except (TypeError, ValueError):
        raise BadInput("The selection rate must be a number between 0.05 and 0.5.") from None
    if not 0.05 <= probability <= 0.5:
        raise BadInput("The selection rate must be between 0.05 and 0.5 (BERT uses 0.15).")
    # The lab draws its own masks: "[MASK]" or "[SEP]" typed in the sentence is read as plain text.
    encoding = tokenizer(sentence, return_tensors="pt", truncation=False, return_special_tokens_mask=True,
                         split_special_tokens=True)
    length = encoding["input_ids"].shape[1]
    limit = model_max_length(tokenizer, model)
    if length > limit:
        raise BadInput(f"The sentence is {length} tokens; this model reads at most {limit}. Shorten it.")
    check_budget(model, int(length), forwards=1, heads=int(length), what="Scoring the masked sentence",
                 budget=budget)
    special = encoding.pop("special_tokens_mask")
    original = encoding["input_ids"]
    corrupted, labels = corrupt(original, special, tokenizer=tokenizer, seed=seed, probability=probability)
    selected = (labels[0] != -100).nonzero().flatten().tolist()

    scored: dict[int, tuple[Prediction, float]] = {}
    if selected:
        corrupted_encoding = {**encoding, "input_ids": corrupted}
        logits, _ = mask_logits(model, corrupted_encoding, [(0, p) for p in selected])
        log_probs = logits.log_softmax(-1)
        for row, position in enumerate(selected):
            top = _predictions(tokenizer, logits[row], 1)[0]
            scored[position] = (top, float(log_probs[row, original[0, position]]))

    original_tokens = tokenizer.convert_ids_to_tokens(original[0].tolist())
    corrupted_tokens = tokenizer.convert_ids_to_tokens(corrupted[0].tolist())
    tokens = []
    counts = {ROLE_MASKED: 0, ROLE_RANDOM: 0, ROLE_UNCHANGED: 0}
    for i in range(length):
        if special[0, i]:
            role = ROLE_SPECIAL
        elif i not in scored:
            role = ROLE_NOT_SELECTED
        elif corrupted[0, i] == tokenizer.mask_token_id and original[0, i] != tokenizer.mask_token_id:
            role = ROLE_MASKED
        elif corrupted[0, i] != original[0, i]:
            role = ROLE_RANDOM
        else:
            role = ROLE_UNCHANGED
        if role in counts:
            counts[role] += 1
        extra = {}
        if i in scored:
            top, log_prob = scored[i]
            extra = {"prediction": top.token, "prediction_score": top.score,
                     "original_score": float(torch.tensor(log_prob).exp()), "loss": -log_prob}
        tokens.append(LabToken(index=i, original=original_tokens[i], corrupted=corrupted_tokens[i], role=role,
                               **extra))
    losses = [t.loss for t in tokens if t.loss is not None]
    notes = []
    if not selected:
        notes.append(f"No token was selected with seed {seed} at rate {probability:g}: short sentences often "
                     "get none. Try another seed or a higher rate.")
    return MaskingLabResult(model=label, sentence=sentence, seed=seed, probability=probability,
                            tokens=tuple(tokens), counts=counts,
                            mean_loss=sum(losses) / len(losses) if losses else None, notes=tuple(notes))
