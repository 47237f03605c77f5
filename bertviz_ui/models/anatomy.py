"""Where things are in each encoder architecture (BERT and MiniLM, DistilBERT, RoBERTa, ALBERT, ELECTRA).

The one module that names a model's submodules: the Auto class per head, the encoder, the masked-LM head, the
classification head and what it reads, the embedding tables, how many tokens fit and whether token types exist.
Tasks ask here instead of reaching into a model; a new architecture is taught here once (tests/unit/test_anatomy.py
holds one row per architecture).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bertviz_ui.models.types import Config, Model, Tokenizer
from bertviz_ui.registry import Head

# The transformers Auto class that loads each head (NLI models are sequence classifiers with entailment labels).
AUTO_CLASSES: dict[Head, str] = {
    Head.ENCODER: "AutoModel",
    Head.MASKED_LM: "AutoModelForMaskedLM",
    Head.NEXT_SENTENCE: "AutoModelForNextSentencePrediction",
    Head.SEQUENCE_CLASSIFICATION: "AutoModelForSequenceClassification",
    Head.TOKEN_CLASSIFICATION: "AutoModelForTokenClassification",
    Head.QUESTION_ANSWERING: "AutoModelForQuestionAnswering",
    Head.NLI: "AutoModelForSequenceClassification",
}

# Tokenizers without a real limit report a huge model_max_length; no encoder here reads more than this.
LENGTH_CAP = 4096


def auto_class(head: Head) -> str:
    """The transformers Auto class name that loads ``head`` (KeyError for Head.TOKENIZER: no model)."""
    return AUTO_CLASSES[head]


def encoder(model: Model) -> Any:
    """The bare encoder of a model with a task head (``base_model``), or the model itself when it is one."""
    return getattr(model, "base_model", model)


def family(model: Model) -> str:
    """A short architecture name for messages: "BERT", "DistilBERT", "RoBERTa", "ALBERT", "ELECTRA", or the class's."""
    model_type = str(getattr(getattr(model, "config", None), "model_type", ""))
    return {"bert": "BERT", "distilbert": "DistilBERT", "roberta": "RoBERTa", "albert": "ALBERT",
            "electra": "ELECTRA"}.get(model_type, type(model).__name__)


def layer_stack(model: Model) -> Any:
    """The stack of transformer layers (BERT, RoBERTa, ELECTRA, ALBERT: ``encoder``; DistilBERT: ``transformer``),
    where nearly all of a forward's multiply-adds are; None for an architecture not listed here.

    Embeddings, poolers and task heads are outside it: what int8 quantization leaves alone (the classification
    head's arithmetic is shown with its real weights; the vocabulary projection shares the embedding table).
    """
    base = encoder(model)
    stack = getattr(base, "encoder", None) if type(base).__name__ != "DistilBertModel" else None
    stack = stack if stack is not None else getattr(base, "transformer", None)
    return stack if isinstance(stack, torch.nn.Module) else None


# --- How many tokens, which inputs -----------------------------------------------------------------------------

def position_limit(config: Config) -> int | None:
    """How many tokens the position table holds, or None when the config doesn't say.

    RoBERTa-family models number positions from padding_idx + 1, so 514 positions hold 512 tokens.
    """
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int) or positions <= 0:
        return None
    model_type = str(getattr(config, "model_type", ""))
    if "roberta" in model_type or "camembert" in model_type:
        positions -= (getattr(config, "pad_token_id", 1) or 1) + 1
    return positions


def max_length(tokenizer: Tokenizer, model: Model | None = None) -> int:
    """How many tokens the model reads: the tokenizer's limit, capped by the model's position table.

    A tokenizer saved without a limit reports 1e30; the model's config then decides.
    """
    limit = int(min(getattr(tokenizer, "model_max_length", LENGTH_CAP) or LENGTH_CAP, LENGTH_CAP))
    positions = position_limit(getattr(model, "config", None))
    return min(limit, positions) if positions is not None else limit


def token_type_rows(model: Model) -> int:
    """Rows of the segment (token type) table: 2 for BERT, 1 for RoBERTa (all tokens alike), 0 when there is none
    (DistilBERT: sentence B is told apart by its separator only)."""
    table = getattr(getattr(encoder(model), "embeddings", None), "token_type_embeddings", None)
    return int(table.num_embeddings) if table is not None else 0


def plain_positions(model: Model) -> bool:
    """Whether positions are numbered 0, 1, 2... and the encoder takes ``position_ids``: then several texts can
    share one sequence (positions restarting per text) with the same arithmetic as separate forwards. True for BERT
    and DistilBERT; RoBERTa numbers positions after its padding index."""
    return type(encoder(model)).__name__ in ("BertModel", "DistilBertModel")


# --- Embeddings ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EmbeddingTables:
    """The lookup tables whose rows add up (then LayerNorm) to a token's input vector.

    Attributes:
        word: token embedding table.
        position: learned position table, or None.
        segment: token type table, or None.
        norm: the LayerNorm applied to the sum.
        padding_idx: RoBERTa-style position numbering starts after this index; None for 0, 1, 2...
        projected: a linear projection follows (ALBERT, small ELECTRA: embeddings narrower than the layers).
    """

    word: torch.nn.Embedding
    position: torch.nn.Embedding | None
    segment: torch.nn.Embedding | None
    norm: torch.nn.LayerNorm
    padding_idx: int | None
    projected: bool


def embedding_tables(model: Model) -> EmbeddingTables | None:
    """The model's embedding tables, or None when it has no word table and LayerNorm to split."""
    base = encoder(model)
    embeddings = getattr(base, "embeddings", None)
    word = getattr(embeddings, "word_embeddings", None)
    norm = getattr(embeddings, "LayerNorm", None)
    if word is None or norm is None:
        return None
    position = getattr(embeddings, "position_embeddings", None)
    padding_idx = getattr(embeddings, "padding_idx", None) if position is not None else None
    projected = (getattr(base, "embeddings_project", None) is not None
                 or getattr(getattr(base, "encoder", None), "embedding_hidden_mapping_in", None) is not None)
    return EmbeddingTables(word=word, position=position, segment=getattr(embeddings, "token_type_embeddings", None),
                           norm=norm, padding_idx=padding_idx, projected=projected)


# --- Heads -----------------------------------------------------------------------------------------------------

def mlm_head(model: Model) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The vocabulary head of a masked-LM model, applicable to any hidden states ([..., hidden] -> [..., vocab]);
    None for an architecture not listed here (callers then run the full forward)."""
    if hasattr(model, "cls") and hasattr(model.cls, "predictions"):  # BERT, MiniLM
        return model.cls
    if hasattr(model, "lm_head"):  # RoBERTa and relatives
        return model.lm_head
    if hasattr(model, "vocab_projector"):  # DistilBERT
        return lambda h: model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(h))))
    if hasattr(model, "generator_lm_head"):  # ELECTRA's generator
        return lambda h: model.generator_lm_head(model.generator_predictions(h))
    if hasattr(model, "predictions") and hasattr(model.predictions, "decoder"):  # ALBERT
        return model.predictions
    return None


def untrained_mlm_weights(newly_initialized: tuple[str, ...]) -> list[str]:
    """The weights a masked-LM checkpoint lacked that matter: BERT's pooler is unused by the MLM head."""
    return [key for key in newly_initialized if not key.startswith(("bert.pooler", "pooler"))]


def untrained_classifier_weights(newly_initialized: tuple[str, ...]) -> list[str]:
    """The classification-head weights among those a checkpoint lacked (a head that would start random)."""
    return [key for key in newly_initialized if "classifier" in key or key.startswith(("score", "pre_classifier"))]


@dataclass(frozen=True)
class ClassifierHead:
    """A sequence classifier's head, opened up from the first token's final hidden state.

    Attributes:
        to_final: first-token hidden states [n, hidden] -> the vectors entering the final linear layer (eval: no
            dropout); ``final(to_final(first))`` are the model's logits.
        final: the final linear layer.
        forward: first-token hidden states -> logits through the model's own modules, dropout included in train
            mode (what training a head on frozen features runs).
        description: how the vector is made, in one sentence.
    """

    to_final: Callable[[torch.Tensor], torch.Tensor]
    final: torch.nn.Linear
    forward: Callable[[torch.Tensor], torch.Tensor]
    description: str


def classifier_head(model: Model) -> ClassifierHead | None:
    """The classification head of ``model`` (BERT, MiniLM, DistilBERT, RoBERTa, ALBERT, ELECTRA), or None.

    Written out per architecture rather than with forward hooks: hooks on a model shared by concurrent requests
    would capture other requests' tensors.
    """
    classifier = getattr(model, "classifier", None)
    base = encoder(model)
    dropout = getattr(model, "dropout", None) or torch.nn.Identity()
    if isinstance(classifier, torch.nn.Linear) and hasattr(model, "pre_classifier"):
        def distil(first):
            return torch.relu(model.pre_classifier(first))

        return ClassifierHead(distil, classifier, lambda first: classifier(dropout(distil(first))),
                              "DistilBERT: the [CLS] hidden state through pre_classifier (linear + ReLU), then the "
                              "final linear layer")
    pooler = getattr(base, "pooler", None)
    activation = getattr(base, "pooler_activation", None)
    if isinstance(classifier, torch.nn.Linear) and isinstance(pooler, torch.nn.Linear) and activation is not None:
        def albert(first):
            return activation(pooler(first))

        return ClassifierHead(albert, classifier, lambda first: classifier(dropout(albert(first))),
                              "ALBERT: the pooled output (the [CLS] hidden state through a linear layer + tanh), "
                              "then the final linear layer")
    if isinstance(classifier, torch.nn.Linear) and pooler is not None:
        def bert(first):
            return pooler(first[:, None])

        return ClassifierHead(bert, classifier, lambda first: classifier(dropout(bert(first))),
                              "BERT: the pooled output (the [CLS] hidden state through a linear layer + tanh), then "
                              "the final linear layer")
    if isinstance(getattr(classifier, "out_proj", None), torch.nn.Linear) and hasattr(classifier, "dense"):
        # RoBERTa's head applies tanh; ELECTRA's (and others') name their activation.
        own = getattr(classifier, "activation", None)

        def dense(first):
            return (own or torch.tanh)(classifier.dense(first))

        name = type(own).__name__ if own is not None else "tanh"
        return ClassifierHead(dense, classifier.out_proj, lambda first: classifier(first[:, None, :]),
                              f"{type(model).__name__}: the first token's hidden state through a linear layer + "
                              f"{name}, then the final linear layer")
    return None


# --- BERT's last layer at a few positions ---------------------------------------------------------------------

def bert_last_layer_at(model: Model, encoding: Any, positions: list[tuple[int, int]]) -> torch.Tensor | None:
    """A plain BERT encoder's final hidden states at ``positions`` only, or None where this shortcut does not apply.

    The last layer's output at a mask depends on every position's keys and values but only on the mask's own query,
    attention output and feed-forward; computing those for the mask rows alone skips most of the last layer. Used
    for one unpadded sequence; anything else takes the ordinary forward. Same numbers as the full forward (tests pin
    this). It opens BertLayer up, so it lives here, with the other knowledge of BERT's insides.

    Args:
        model: a masked-LM model or its encoder.
        encoding: tokenizer output with tensors, one row.
        positions: (row, token index) of each position wanted; rows must be 0.
    """
    base = encoder(model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    config = getattr(base, "config", None)
    if (type(base).__name__ != "BertModel" or not layers or config is None or config.is_decoder
            or getattr(config, "position_embedding_type", "absolute") != "absolute"
            or encoding["input_ids"].shape[0] != 1 or any(row != 0 for row, _ in positions)
            or ("attention_mask" in encoding and not bool(encoding["attention_mask"].all()))):
        return None
    device = next(base.parameters()).device
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
