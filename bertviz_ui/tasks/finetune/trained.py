"""The fine-tuned classifier a session keeps: its predictions on new texts, and a save_pretrained zip to download."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertviz_ui.models.types import Model, Tokenizer
from bertviz_ui.tasks.finetune.features import Encoded, predict_ids


@dataclass
class TrainedModel:
    """A fine-tuned classifier owned by one session (mutable holder; the model is freed with the session)."""

    model: Model
    tokenizer: Tokenizer
    labels: tuple[str, ...]
    max_length: int
    base: str
    # What the cache loads the base encoder from again (the lab's before-vs-after comparison), and the examples the
    # model was trained on (their labels by name), for its neighbours.
    base_ref: str = ""
    examples: tuple[str, ...] = ()
    example_labels: tuple[str, ...] = ()

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float, tuple[float, ...]]]:
        """(label, probability, every class's probability) per text."""
        encoded = Encoded(self.tokenizer, texts, self.max_length, str(next(self.model.parameters()).device))
        probabilities = predict_ids(self.model, encoded, list(range(len(texts))))
        return [(self.labels[int(row.argmax())], float(row.max()), tuple(row.tolist())) for row in probabilities]

    def save_zip(self, directory: Path) -> Path:
        """save_pretrained of the model and tokenizer (config with the user's labels), zipped; returns the zip."""
        folder = directory / "finetuned-model"
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        tokenizer = getattr(self.tokenizer, "unwrapped", self.tokenizer)
        tokenizer.save_pretrained(folder)
        target = directory / "finetuned-model.zip"
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(directory))
        return target


    def classify(self, texts: Sequence[str]) -> Classification:
        """predict() as a result: the texts, each one's label and probabilities, the class names."""
        return Classification(labels=self.labels, texts=tuple(texts), predictions=tuple(self.predict(texts)))


@dataclass(frozen=True)
class Classification:
    """The fine-tuned model on new texts: per text, (label, its probability, every class's probability)."""

    labels: tuple[str, ...]
    texts: tuple[str, ...]
    predictions: tuple[tuple[str, float, tuple[float, ...]], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels),
                "rows": [{"text": text, "label": label, "score": score,
                          "scores": dict(zip(self.labels, probabilities))}
                         for text, (label, score, probabilities) in zip(self.texts, self.predictions)]}
