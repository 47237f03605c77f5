"""Labelled examples in: table rows or CSV/TSV text, validated into numbered classes; the texts to predict."""

from __future__ import annotations

import csv
import io
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertviz_ui.errors import BadInput
from bertviz_ui.tasks.finetune.limits import (
    IMBALANCE_RATIO,
    MAX_CSV_BYTES,
    MAX_EXAMPLES,
    MAX_LABEL_CHARS,
    MAX_LABELS,
    MAX_NEW_TEXTS,
    MAX_TEXT_CHARS,
    MIN_PER_LABEL,
)


@dataclass(frozen=True)
class TrainingData:
    """Validated examples.

    Attributes:
        texts: one per example, as typed.
        labels: each example's label name (trimmed).
        label_names: the classes in id order (numeric order when every label is a number, else alphabetical).
        label_ids: each example's class id.
        skipped_blank: blank rows ignored.
        notes: warnings for the user (imbalance, duplicates).
    """

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    label_names: tuple[str, ...]
    label_ids: tuple[int, ...]
    skipped_blank: int
    notes: tuple[str, ...]

    @property
    def counts(self) -> dict[str, int]:
        """Examples per class, in id order."""
        counter = Counter(self.labels)
        return {name: counter[name] for name in self.label_names}


def _cell(value: Any) -> str:
    """A table cell as text: None and NaN are blank; 1.0 (a number a spreadsheet typed) is "1"."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise BadInput("Each cell must be text or a number.")


def table_rows(table: Any) -> list[tuple[str, str]]:
    """The (text, label) rows of what the table sent: a pandas DataFrame, {"data": [...]} or a list of rows.

    Raises BadInput for anything else, for a row without two cells, and for more than 10x MAX_EXAMPLES rows
    (checked before any work).
    """
    if table is None:
        return []
    if hasattr(table, "values") and hasattr(table, "columns"):  # pandas DataFrame
        rows = table.values.tolist()
    elif isinstance(table, dict):
        rows = table.get("data")
        if rows is None:
            raise BadInput("The table must have a 'data' list of [text, label] rows.")
    else:
        rows = table
    if not isinstance(rows, (list, tuple)):
        raise BadInput("The table must be a list of [text, label] rows.")
    if len(rows) > 10 * MAX_EXAMPLES:
        raise BadInput(f"{len(rows):,} rows: this lab trains on at most {MAX_EXAMPLES:,} examples.")
    result = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, (list, tuple)):
            raise BadInput(f"Row {number} must be a [text, label] pair.")
        cells = [_cell(value) for value in row]
        if len(cells) < 2:
            cells += [""] * (2 - len(cells))
        if len(cells) > 2 and any(c.strip() for c in cells[2:]):
            raise BadInput(f"Row {number} has {len(cells)} cells; each row is a text and a label.")
        result.append((cells[0], cells[1]))
    return result


def parse_csv(raw: Any) -> list[tuple[str, str]]:
    """Rows of pasted or uploaded CSV/TSV text: two columns, text then label, an optional header row.

    The delimiter is a tab if the first line has one, else a comma (semicolons too, when the first line has one
    and no comma). Quotes follow the CSV rules, so texts may contain the delimiter.

    Args:
        raw: str, or bytes (decoded as UTF-8).

    Returns:
        The (text, label) rows, blanks included (validate() counts them). Raises BadInput naming the line.
    """
    if isinstance(raw, bytes):
        if len(raw) > MAX_CSV_BYTES:
            raise BadInput(f"The file is {len(raw):,} bytes; the lab reads CSV files of up to {MAX_CSV_BYTES:,}.")
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadInput("The file is not UTF-8 text: save it as a UTF-8 CSV.") from None
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise BadInput("CSV must be text.")
    if len(raw) > MAX_CSV_BYTES:
        raise BadInput(f"The CSV text is {len(raw):,} characters; the lab reads up to {MAX_CSV_BYTES:,}.")
    if not raw.strip():
        raise BadInput("The CSV is empty: paste rows of text,label.")
    if "\x00" in raw:
        raise BadInput("The CSV contains NUL bytes: it looks like a binary file, not text.")
    first = raw.lstrip("\ufeff").splitlines()[0]
    delimiter = "\t" if "\t" in first else ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(raw.lstrip("\ufeff")), delimiter=delimiter, strict=True)
    rows = []
    try:
        for record in reader:
            if len(rows) > 10 * MAX_EXAMPLES:
                raise BadInput(f"More than {10 * MAX_EXAMPLES:,} rows: this lab trains on at most "
                               f"{MAX_EXAMPLES:,} examples.")
            if not record or not any(cell.strip() for cell in record):
                rows.append(("", ""))
                continue
            if len(record) == 1:
                raise BadInput(f"Line {reader.line_num} has one column; each row needs a text, then "
                               f"{'a tab' if delimiter == chr(9) else repr(delimiter)}, then a label.")
            if len(record) > 2 and any(cell.strip() for cell in record[2:]):
                raise BadInput(f"Line {reader.line_num} has {len(record)} columns; each row is a text and a label "
                               "(quote texts that contain the delimiter).")
            rows.append((record[0], record[1]))
    except csv.Error as error:
        raise BadInput(f"The CSV is malformed near line {reader.line_num}: {error}.") from None
    if rows and rows[0][0].strip().lower() in ("text", "texts", "sentence", "review") and \
            rows[0][1].strip().lower() in ("label", "labels", "class", "category"):
        rows = rows[1:]
    return rows


def _label_order(names: set[str]) -> tuple[str, ...]:
    def number(name: str) -> float | None:
        try:
            return float(name)
        except ValueError:
            return None

    if all(number(name) is not None for name in names):
        return tuple(sorted(names, key=lambda name: (number(name), name)))
    return tuple(sorted(names, key=lambda name: (name.casefold(), name)))


def validate(rows: Sequence[tuple[str, str]]) -> TrainingData:
    """Check the examples and number the classes.

    Rules: blank rows are ignored and counted; a row needs both a text and a label; labels are trimmed; texts
    of at most MAX_TEXT_CHARS characters, labels of at most MAX_LABEL_CHARS; at most MAX_EXAMPLES examples and
    MAX_LABELS classes; at least 2 classes and MIN_PER_LABEL examples of each.

    Args:
        rows: (text, label) pairs, from table_rows or parse_csv.

    Returns:
        TrainingData. Raises BadInput with a message that names the row or the class.
    """
    texts, labels, skipped = [], [], 0
    for number, (text, label) in enumerate(rows, start=1):
        label = label.strip()
        if not text.strip() and not label:
            skipped += 1
            continue
        if not text.strip():
            raise BadInput(f"Row {number} has the label {label!r} but no text.")
        if not label:
            raise BadInput(f"Row {number} has a text but no label.")
        if len(text) > MAX_TEXT_CHARS:
            raise BadInput(f"Row {number}'s text is {len(text):,} characters; each may have up to "
                           f"{MAX_TEXT_CHARS:,}.")
        if len(label) > MAX_LABEL_CHARS:
            raise BadInput(f"Row {number}'s label is {len(label):,} characters; labels may have up to "
                           f"{MAX_LABEL_CHARS}.")
        if any(ord(ch) < 32 for ch in label):
            raise BadInput(f"Row {number}'s label contains control characters (a line break or a tab?).")
        texts.append(text)
        labels.append(label)
    if not texts:
        raise BadInput("No examples: fill the table with texts and their labels (at least 2 labels, "
                       f"{MIN_PER_LABEL} examples each).")
    if len(texts) > MAX_EXAMPLES:
        raise BadInput(f"{len(texts):,} examples: this lab trains on at most {MAX_EXAMPLES:,}.")
    counts = Counter(labels)
    if len(counts) > MAX_LABELS:
        raise BadInput(f"{len(counts)} labels: this lab trains classifiers of at most {MAX_LABELS} classes.")
    if len(counts) < 2:
        raise BadInput(f"Only one label ({labels[0]!r}): a classifier needs at least 2 labels, with "
                       f"{MIN_PER_LABEL} examples or more each.")
    few = [name for name in _label_order(set(counts)) if counts[name] < MIN_PER_LABEL]
    if few:
        listed = ", ".join(f"{name!r} has {counts[name]}" for name in few[:5])
        raise BadInput(f"Every label needs at least {MIN_PER_LABEL} examples (one to learn from, one to test on): "
                       f"{listed}.")
    names = _label_order(set(counts))
    ids = {name: index for index, name in enumerate(names)}
    notes = []
    largest, smallest = max(counts.values()), min(counts.values())
    if largest >= IMBALANCE_RATIO * smallest:
        big = max(names, key=lambda name: counts[name])
        small = min(names, key=lambda name: counts[name])
        notes.append(f"Imbalanced classes: {big!r} has {largest} examples, {small!r} {smallest}. Always answering "
                     f"{big!r} would already score {largest / len(texts):.0%}: read per-class recall, not only "
                     "accuracy.")
    if skipped:
        notes.append(f"{skipped} blank row(s) ignored.")
    duplicates = len(texts) - len(set(texts))
    if duplicates:
        notes.append(f"{duplicates} duplicate text(s): a duplicate on both sides of the split inflates accuracy.")
    return TrainingData(texts=tuple(texts), labels=tuple(labels), label_names=names,
                        label_ids=tuple(ids[label] for label in labels), skipped_blank=skipped, notes=tuple(notes))


def parse_new_texts(raw: Any) -> tuple[str, ...]:
    """The texts to predict, one per non-empty line (at most MAX_NEW_TEXTS, MAX_TEXT_CHARS each); may be empty."""
    if raw is None:
        return ()
    if not isinstance(raw, str):
        raise BadInput("New texts must be text, one per line.")
    lines = tuple(line for line in raw.splitlines() if line.strip())
    if len(lines) > MAX_NEW_TEXTS:
        raise BadInput(f"{len(lines)} new texts: type at most {MAX_NEW_TEXTS}, one per line.")
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_TEXT_CHARS:
            raise BadInput(f"New text {number} is {len(line):,} characters; each may have up to {MAX_TEXT_CHARS:,}.")
    return lines


def read_csv_file(path: Any) -> list[tuple[str, str]]:
    """The rows of an uploaded CSV/TSV file, its size checked before it is read (parse_csv does the rest)."""
    if not path:
        raise BadInput("No file was uploaded.")
    size = os.path.getsize(str(path))
    if size > MAX_CSV_BYTES:
        raise BadInput(f"The file is {size:,} bytes; the lab reads CSV files of up to {MAX_CSV_BYTES:,}.")
    return parse_csv(Path(str(path)).read_bytes())
