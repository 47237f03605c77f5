"""Permalinks: a view's settings as a URL query string and back; what a link says is checked like typed input."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlencode

from bertviz_ui.errors import BadInput
from bertviz_ui.tasks.validation import MAX_TEXT_CHARS, check_number, check_text

TAB = "tab"
# Parameters Gradio itself reads from the page's URL (the colour theme, the API page): kept, never reported.
GRADIO_PARAMS = frozenset({"__theme", "view"})
MAX_ITEMS = 64
MAX_MODEL_CHARS = 500
# A link with many bad parameters gets a few notes and a count, not a wall of text.
MAX_NOTES = 5
_SHOWN_NAME_CHARS = 40
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


class Kind(str, Enum):
    """How a parameter's text is read."""

    TEXT = "text"
    MODEL = "model"
    NUMBER = "number"
    FLAG = "flag"
    CHOICE = "choice"
    INTEGERS = "integers"


@dataclass(frozen=True)
class Field:
    """One setting of a view as a query parameter.

    Attributes:
        name: the parameter's name in the URL.
        label: the setting's name as the tab shows it (for notes).
        kind: how the text is read.
        low: smallest number allowed (NUMBER, INTEGERS).
        high: largest number allowed (NUMBER, INTEGERS).
        whole: NUMBER must be a whole number (read as int).
        choices: the values a CHOICE may take (compared as text, returned as given here).
        max_chars: the longest TEXT or MODEL accepted.
    """

    name: str
    label: str
    kind: Kind
    low: float = -math.inf
    high: float = math.inf
    whole: bool = False
    choices: tuple[Any, ...] = ()
    max_chars: int = MAX_TEXT_CHARS

    def read(self, raw: str) -> Any:
        """The value ``raw`` stands for, checked as the tab checks typed input.

        Raises:
            BadInput naming the setting and what it accepts.
        """
        if self.kind is Kind.TEXT:
            return check_text(raw, self.label, required=False, max_chars=self.max_chars)
        if self.kind is Kind.MODEL:
            if not raw.strip():
                raise BadInput(f"{self.label}: the link names no model.")
            if len(raw) > MAX_MODEL_CHARS or any(ch in raw for ch in "\x00\r\n\t"):
                raise BadInput(f"{self.label}: that model name is too long or contains control characters.")
            return raw.strip()
        if self.kind is Kind.NUMBER:
            value = check_number(raw, self.label, low=self.low, high=self.high, whole=self.whole)
            return int(value) if self.whole else value
        if self.kind is Kind.FLAG:
            lowered = raw.strip().lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            raise BadInput(f"{self.label} must be true or false.")
        if self.kind is Kind.CHOICE:
            for choice in self.choices:
                if str(choice) == raw:
                    return choice
            shown = ", ".join(str(choice) for choice in self.choices)
            raise BadInput(f"{self.label} must be one of: {shown}.")
        return self._integers(raw)

    def _integers(self, raw: str) -> list[int]:
        parts = [part for part in raw.split(",") if part.strip()]
        if len(parts) > MAX_ITEMS:
            raise BadInput(f"{self.label}: at most {MAX_ITEMS} values.")
        values = [int(check_number(part, self.label, low=self.low, high=self.high, whole=True)) for part in parts]
        return list(dict.fromkeys(values))

    def write(self, value: Any) -> str | None:
        """``value`` as the URL's text; None when the value is blank (the link leaves it out)."""
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (list, tuple)):
            return ",".join(str(item) for item in value) or None
        if isinstance(value, (int, float)):
            number = float(value)
            return str(int(number)) if number.is_integer() else repr(number)
        text = str(value)
        return text if text.strip() else None


def text(name: str, label: str, *, max_chars: int = MAX_TEXT_CHARS) -> Field:
    return Field(name, label, Kind.TEXT, max_chars=max_chars)


def model(name: str, label: str) -> Field:
    return Field(name, label, Kind.MODEL)


def number(name: str, label: str, *, low: float = -math.inf, high: float = math.inf, whole: bool = False) -> Field:
    return Field(name, label, Kind.NUMBER, low=low, high=high, whole=whole)


def flag(name: str, label: str) -> Field:
    return Field(name, label, Kind.FLAG)


def choice(name: str, label: str, choices: Iterable[Any]) -> Field:
    return Field(name, label, Kind.CHOICE, choices=tuple(choices))


def integers(name: str, label: str, *, low: int = 0, high: int = 1023) -> Field:
    return Field(name, label, Kind.INTEGERS, low=low, high=high)


@dataclass(frozen=True)
class Restored:
    """What a link asks for, after checking.

    Attributes:
        tab: the tab it opens (None: the link names no known tab).
        values: each accepted parameter's value by name (a subset of the tab's fields).
        notes: what was ignored and why, for the page.
    """

    tab: str | None
    values: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _shown(name: str) -> str:
    return repr(name if len(name) <= _SHOWN_NAME_CHARS else name[:_SHOWN_NAME_CHARS] + "…")


def read(items: Iterable[tuple[str, str]], tabs: Mapping[str, tuple[str, Sequence[Field]]]) -> Restored:
    """Read a page's query string.

    Args:
        items: the query's (name, value) pairs in order (repeated names included).
        tabs: each tab's id -> (its title, its fields).

    Returns:
        Restored: the tab, the values that passed their checks, and one note per parameter ignored. A repeated
        parameter keeps its first value.
    """
    pairs = [(name, value) for name, value in items if name not in GRADIO_PARAMS]
    if not pairs:
        return Restored(None)
    tab_values = [value for name, value in pairs if name == TAB]
    if not tab_values:
        return Restored(None, notes=("This link names no tab (tab=…), so its settings were ignored.",))
    tab = tab_values[0]
    if tab not in tabs:
        known = ", ".join(tabs)
        note = f"This link's tab {_shown(tab)} is not one of this app's tabs ({known}); its settings were ignored."
        return Restored(None, notes=(note,))
    title, fields = tabs[tab]
    by_name = {f.name: f for f in fields}
    values: dict[str, Any] = {}
    notes: list[str] = []
    seen: set[str] = {TAB}
    if len(tab_values) > 1:
        notes.append("tab was given more than once; the first was used.")
    for name, raw in pairs:
        if name == TAB:
            continue
        if name in seen:
            notes.append(f"{_shown(name)} was given more than once; the first was used.")
            continue
        seen.add(name)
        spec = by_name.get(name)
        if spec is None:
            notes.append(f"{_shown(name)} is not a setting of {title}; ignored.")
            continue
        try:
            values[name] = spec.read(raw)
        except BadInput as error:
            notes.append(f"{error} (from the link; ignored)")
    if len(notes) > MAX_NOTES:
        notes = [*notes[:MAX_NOTES], f"… and {len(notes) - MAX_NOTES} more parameters ignored."]
    return Restored(tab, values, tuple(notes))


def query(tab: str, fields: Sequence[Field], values: Mapping[str, Any]) -> str:
    """The query string (without "?") of a view: its tab, then each field with a value, in the fields' order."""
    pairs = [(TAB, tab)]
    for spec in fields:
        written = spec.write(values.get(spec.name))
        if written is not None:
            pairs.append((spec.name, written))
    return urlencode(pairs)
