"""bert-base-sized random-weight checkpoints on disk, for a launched app (it can't load bench's in-memory random:*).

One directory per head the light tabs need, each with bert-base-uncased's tokenizer (shipped with the offline
all-MiniLM-L6-v2), built once under a cache directory and reused. The app is pointed at them with its own settings,
``BERTVIZ_UI_MODEL_<TASK>``, so even a public-mode server accepts them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bertviz_ui.models.sources import NER_LABELS, NLI_LABELS, SENTIMENT_LABELS, offline_model_dir, save_with_vocabulary

CHECKPOINTS_VERSION = "v1"
DEFAULT_CHECKPOINTS_DIR = Path("~/.cache/bertviz_ui_bench/classroom").expanduser()
SEED = 0


@dataclass(frozen=True)
class Checkpoint:
    """One random-weight checkpoint.

    Attributes:
        name: its directory's name.
        architecture: the transformers class it is saved from.
        labels: id2label in order (empty: the head has no labels).
    """

    name: str
    architecture: str
    labels: tuple[str, ...] = ()


# BertForPreTraining holds both the masked-LM and the NSP heads, as google-bert/bert-base-uncased does: one
# checkpoint serves the Tokenizer, Masked words and Next sentence tabs (AutoModelForMaskedLM and
# AutoModelForNextSentencePrediction each find every weight they need in it: nothing is newly initialized).
PRETRAINING = Checkpoint("pretraining", "BertForPreTraining")
CHECKPOINTS: tuple[Checkpoint, ...] = (
    PRETRAINING,
    Checkpoint("sentiment", "BertForSequenceClassification", SENTIMENT_LABELS),  # SST-2's NEGATIVE/POSITIVE
    Checkpoint("ner", "BertForTokenClassification", NER_LABELS),  # CoNLL-2003 BIO, dslim/bert-base-NER's order
    # Zero-shot finds the entailment id from label2id; NLI_LABELS holds "entailment".
    Checkpoint("nli", "BertForSequenceClassification", NLI_LABELS),
    Checkpoint("qa", "BertForQuestionAnswering"),
)

# Which checkpoint each light endpoint uses, and the app setting (task id) that names it.
ENDPOINT_CHECKPOINT: Mapping[str, tuple[str, str]] = {
    "tokenize": ("tokenizer", "pretraining"),
    "fill_mask": ("fill_mask", "pretraining"),
    "nsp": ("nsp", "pretraining"),
    "sentiment": ("sentiment", "sentiment"),
    "ner": ("ner", "ner"),
    "zero_shot": ("zero_shot", "nli"),
    "qa": ("qa", "qa"),
}


def bert_base_config(labels: tuple[str, ...] = ()):
    """bert-base: 12 layers, hidden 768, 12 heads, intermediate 3072, 512 positions, vocabulary 30522."""
    import transformers

    extra = {}
    if labels:
        extra = {"id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}
    return transformers.BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                   intermediate_size=3072, max_position_embeddings=512, **extra)


def build_checkpoint(checkpoint: Checkpoint, target: Path, vocabulary: Path, *, seed: int = SEED,
                     config_for: Callable = bert_base_config) -> Path:
    """Build ``checkpoint`` with random weights from torch.manual_seed(seed) and save it at ``target``.

    Args:
        checkpoint: what to build.
        target: the directory to create (built beside it, then renamed: a crash leaves no half checkpoint).
        vocabulary: a directory holding bert-base-uncased's tokenizer files.
        seed: the weights' seed (in a forked RNG: the caller's random state is left alone).
        config_for: labels -> BertConfig (tests pass a tiny one).

    Returns:
        ``target``.
    """
    import torch
    import transformers

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = getattr(transformers, checkpoint.architecture)(config_for(checkpoint.labels))
    return save_with_vocabulary(model, target, vocabulary)


def ensure_checkpoints(root: Path = DEFAULT_CHECKPOINTS_DIR, *, app_cache_dir: Path | None = None,
                       log: Callable[[str], None] = print) -> dict[str, Path]:
    """Every checkpoint of CHECKPOINTS under ``root``/CHECKPOINTS_VERSION, built where missing (about 440 MB each).

    Args:
        root: the cache directory.
        app_cache_dir: where the offline all-MiniLM-L6-v2 is (or is extracted to): its tokenizer is copied.
        log: where a line per built checkpoint goes.

    Returns:
        {checkpoint name: directory}.
    """
    base = root.expanduser() / CHECKPOINTS_VERSION
    vocabulary = offline_model_dir(app_cache_dir or Path("~/.cache/bertviz_ui").expanduser())
    paths = {}
    for checkpoint in CHECKPOINTS:
        target = base / checkpoint.name
        if not (target / "config.json").is_file():
            started = time.perf_counter()
            build_checkpoint(checkpoint, target, vocabulary)
            log(f"built {target} ({checkpoint.architecture}, random weights, seed {SEED}) "
                f"in {time.perf_counter() - started:.0f} s")
        paths[checkpoint.name] = target
    return paths


def app_env(paths: Mapping[str, Path], endpoints: tuple[str, ...]) -> dict[str, str]:
    """The app settings that point each endpoint's tab at its checkpoint: {BERTVIZ_UI_MODEL_<TASK>: directory}."""
    return {f"BERTVIZ_UI_MODEL_{ENDPOINT_CHECKPOINT[e][0].upper()}": str(paths[ENDPOINT_CHECKPOINT[e][1]])
            for e in endpoints if e in ENDPOINT_CHECKPOINT}


def endpoint_models(paths: Mapping[str, Path], endpoints: tuple[str, ...]) -> dict[str, str]:
    """{endpoint: the model name a request sends}: the same directory the setting names."""
    return {e: str(paths[ENDPOINT_CHECKPOINT[e][1]]) for e in endpoints if e in ENDPOINT_CHECKPOINT}
