"""Which model references a visitor may load: Hub ids from an allow-list in public mode, never a writable folder."""

from __future__ import annotations

import fnmatch
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bertviz_ui.errors import BadInput, ModelUnavailable

# What a public server says to any typed path, whether or not it exists (no file-existence oracle, no server path).
PUBLIC_PATH_REFUSED = ("This server loads models from the Hugging Face Hub only: type a Hub id such as "
                       "google-bert/bert-base-uncased. Local directories come from the server's own settings "
                       "(BERTVIZ_UI_MODEL_<TASK>).")
# The same answer for every path under a refused folder, existing or not.
WRITABLE_FOLDER_REFUSED = ("Models are never loaded from the server's temporary or upload folders: anyone can write "
                           "there. Save the model elsewhere and name that directory.")


def writable_roots() -> tuple[Path, ...]:
    """Folders a visitor can write to (Gradio's uploads and cache, the system temp dir) or that aren't files at all."""
    roots = {Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp"), Path("/dev"), Path("/proc"), Path("/sys")}
    gradio_temp = os.environ.get("GRADIO_TEMP_DIR")
    if gradio_temp:
        roots.add(Path(gradio_temp))
    return tuple(sorted({_real(root) for root in roots}, key=str))


def _real(path: Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(str(path))))


@dataclass(frozen=True)
class ModelPolicy:
    """Rules for the model references a request may name.

    Attributes:
        public: no typed local paths, Hub ids only from ``allowed`` (a public deployment).
        allowed: Hub ids or glob patterns (fnmatch, case-insensitive) allowed in public mode.
        configured: references named by the server's own settings; trusted in every mode.
        refused_roots: folders never loaded from unless the server's settings name them.
    """

    public: bool = False
    allowed: tuple[str, ...] = ()
    configured: frozenset[str] = frozenset()
    refused_roots: tuple[Path, ...] = field(default_factory=writable_roots)

    def is_configured(self, ref: str) -> bool:
        return ref in self.configured

    def check_local(self, ref: str) -> None:
        """Refuse a local path before the filesystem is asked anything about it.

        Raises:
            BadInput in public mode (the same words for every path); ModelUnavailable for a path under a
            refused folder (the same words whether it exists or not).
        """
        if self.is_configured(ref):
            return
        if self.public:
            raise BadInput(PUBLIC_PATH_REFUSED)
        real = _real(Path(ref))
        if any(real == root or root in real.parents for root in self.refused_roots):
            raise ModelUnavailable(WRITABLE_FOLDER_REFUSED)

    def check_hub_id(self, ref: str) -> None:
        """In public mode, refuse a Hub id that no allow-list entry matches (the message names the setting)."""
        if not self.public or self.is_configured(ref):
            return
        lowered = ref.lower()
        if any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in self.allowed):
            return
        raise BadInput(f"{ref} is not among the models this public server offers. Pick one from the list; the "
                       "server's operator can allow more with BERTVIZ_UI_ALLOW_MODELS (glob patterns such as "
                       "google-bert/*).")


def build_policy(*, public: bool, patterns: Iterable[str], curated: Iterable[str],
                 configured: Iterable[str]) -> ModelPolicy:
    """The policy for a server: curated and configured models plus the operator's patterns are allowed."""
    configured = frozenset(ref.strip() for ref in configured if ref and ref.strip())
    allowed = tuple(dict.fromkeys((*curated, *configured, *patterns)))
    return ModelPolicy(public=public, allowed=allowed, configured=configured)


# --- tokenizer_config.json values that name files ------------------------------------------------------------------

# transformers 5 opens "vocab" and "merges" given as strings as files, relative to the process's working directory,
# not the model's (checked: "vocab": "/etc/passwd" loads that file as a vocabulary; "/dev/zero" exhausts memory).
_OPENED_AS_FILES = frozenset({"vocab", "merges"})
# Keys that old save_pretrained runs filled with the saving machine's paths; transformers 5 ignores them (checked).
_IGNORED_PATH_KEYS = frozenset({"name_or_path", "special_tokens_map_file", "tokenizer_file", "vocab_file"})
_PATH_SUFFIXES = ("_file", "_files", "_path", "_dir")


def check_tokenizer_config(config_path: Path, ref: str) -> None:
    """Refuse a tokenizer whose tokenizer_config.json points to a file outside its own directory.

    Args:
        config_path: the tokenizer_config.json about to be read by transformers.
        ref: the model's name, for the message.

    Raises:
        ModelUnavailable naming the key; nothing about the file named is looked up.
    """
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelUnavailable(f"{ref}: its tokenizer_config.json can't be read as JSON.") from error
    key = _outside_reference(config)
    if key is not None:
        raise ModelUnavailable(f"{ref} is refused: its tokenizer_config.json names a file outside the model's own "
                               f"directory ({key!r}).")


def _outside_reference(value: object, key: str = "") -> str | None:
    """The first key whose value names a file outside the model directory, searching nested dicts and lists."""
    if isinstance(value, dict):
        for child_key, child in value.items():
            found = _outside_reference(child, str(child_key))
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        for child in value:  # items of an inline list ("merges": ["a b", ...]) are data, not file names
            found = _outside_reference(child, f"{key}[]")
            if found is not None:
                return found
        return None
    if not isinstance(value, str) or key in _IGNORED_PATH_KEYS:
        return None
    if key in _OPENED_AS_FILES:
        return key
    if key.removesuffix("[]").endswith(_PATH_SUFFIXES) and _leaves_directory(value):
        return key
    return None


def _leaves_directory(value: str) -> bool:
    text = value.replace("\\", "/")
    return (os.path.isabs(text) or text.startswith("~") or ".." in text.split("/")
            or (len(text) > 1 and text[1] == ":"))
