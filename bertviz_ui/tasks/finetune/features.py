"""What the classifier reads: every text's token ids, padded per batch, or (encoder frozen) the encoder's outputs
computed once; class probabilities from either."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from bertviz_ui.models import anatomy
from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.finetune.limits import EVAL_BATCH
from bertviz_ui.tasks.modeling import model_inputs


class Encoded:
    """Token ids of every example (and new text), padded per batch when used."""

    def __init__(self, tokenizer: Tokenizer, texts: Sequence[str], max_length: int, device: str):
        self.ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.device = device

    def batch(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = [self.ids[i] for i in indices]
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, :len(row)] = torch.tensor(row)
            mask[r, :len(row)] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device),
                "token_type_ids": torch.zeros_like(ids).to(self.device)}


def logits(model: Model, encoded: Encoded, indices: Sequence[int], features: torch.Tensor | None,
           head: Callable | None) -> torch.Tensor:
    """The logits for ``indices``: the head on their stored features when given, else the whole model's."""
    if features is not None and head is not None:
        return head(features[list(indices)])
    return model(**model_inputs(model, encoded.batch(indices))).logits


def predict_ids(model: Model, encoded: Encoded, indices: Sequence[int], features: torch.Tensor | None = None,
                head: Callable | None = None, batch: int = EVAL_BATCH) -> torch.Tensor:
    """Class probabilities [len(indices), classes] in eval mode, in batches of ``batch``."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(indices), batch):
            chunk = indices[start:start + batch]
            out.append(logits(model, encoded, chunk, features, head).float().softmax(-1).cpu())
    return torch.cat(out) if out else torch.zeros((0, model.config.num_labels))


def encoder_features(model: Model, encoded: Encoded, count: int,
                     features_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
                     batch: int = EVAL_BATCH) -> torch.Tensor:
    """What the head reads, for every example, computed once (eval mode: no dropout inside the frozen encoder)."""
    anatomy.encoder(model).eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, count, batch):
            chunks.append(features_fn(encoded.batch(range(start, min(count, start + batch)))))
    return torch.cat(chunks)

