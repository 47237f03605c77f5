"""The architecture knowledge fill-mask needs, kept in this one module (models/anatomy.py is to hold it later):
where each model family keeps its vocabulary head, and BERT's last layer computed at the mask rows only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from bertviz_ui.models.types import Model


def _mlm_head(model: Model) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The vocabulary head of a masked-LM model, applicable to any hidden states; None if unknown."""
    if hasattr(model, "cls") and hasattr(model.cls, "predictions"):  # BERT
        return model.cls
    if hasattr(model, "lm_head"):  # RoBERTa and relatives
        return model.lm_head
    if hasattr(model, "vocab_projector"):  # DistilBERT
        return lambda h: model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(h))))
    return None


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
