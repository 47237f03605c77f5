"""Checks shared by every task: what text a user or API client may send."""

from __future__ import annotations

from typing import Any

from bertviz_ui.errors import BadInput

# BERT reads at most 512 tokens (about 2,000 words); 20,000 characters leaves room to show truncation.
MAX_TEXT_CHARS = 20_000


def check_text(value: Any, name: str, *, required: bool = True, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Return ``value`` if it is usable text, else raise BadInput naming the field.

    Args:
        value: what arrived from the UI or an API client (None, non-strings included).
        name: the field's name as the user sees it.
        required: whether blank is an error (else blank returns "").
        max_chars: the longest text accepted.

    Returns:
        The text, unchanged (whitespace matters to offsets).
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BadInput(f"{name} must be text.")
    if not value.strip():
        if required:
            raise BadInput(f"{name} is empty: type or paste some text.")
        return ""
    if len(value) > max_chars:
        raise BadInput(f"{name} is {len(value):,} characters; this tab takes up to {max_chars:,}. "
                       "(BERT reads at most 512 tokens, about 2,000 words.)")
    return value
