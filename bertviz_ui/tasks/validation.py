"""Checks shared by every task: what text a user or API client may send."""

from __future__ import annotations

import math
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


def _shown(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def check_number(value: Any, name: str, *, low: float, high: float, hint: str = "", whole: bool = False) -> float:
    """Return ``value`` as a finite float within [low, high] (accepts 3, 3.5 and "3.5"), else raise BadInput.

    Args:
        value: what arrived.
        name: the field's name as the user sees it.
        low: smallest allowed.
        high: largest allowed (math.inf: no upper bound).
        hint: appended to the message, e.g. "(0 for no limit)".
        whole: also require a whole number (the message says so).
    """
    kind = "a whole number" if whole else "a number"
    bounds = f"between {_shown(low)} and {_shown(high)}" if math.isfinite(high) else f"of {_shown(low)} or more"
    message = f"{name} must be {kind} {bounds}{(' ' + hint) if hint else ''}."
    if isinstance(value, bool):
        raise BadInput(message)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInput(message) from None
    if not math.isfinite(number) or not low <= number <= high or (whole and not number.is_integer()):
        raise BadInput(message)
    return number


def check_whole_number(value: Any, name: str, *, low: int, high: float, hint: str = "") -> int:
    """Return ``value`` as an int within [low, high] (accepts 3, 3.0 and "3"), else raise BadInput (see check_number)."""
    return int(check_number(value, name, low=low, high=high, hint=hint, whole=True))


def check_choice(value: Any, name: str, choices: tuple[str, ...], *, default: str) -> str:
    """Return ``value`` if it is one of ``choices`` (blank: ``default``), else raise BadInput listing them."""
    if value is None or value == "":
        return default
    if value not in choices:
        raise BadInput(f"{name} must be one of: {', '.join(choices)}.")
    return value
