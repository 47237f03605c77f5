"""NER rendering: colour-coded entity spans with a legend, entity and token tables, the alignment table."""

from __future__ import annotations

import hashlib

import pandas as pd

from bertviz_ui.render.html import esc, percent
from bertviz_ui.tasks.ner import Alignment, Entity, TokenPrediction, entity_type
from bertviz_ui.tasks.pieces import PIECES, groups_by_offsets

# displaCy's palette for the CoNLL types; other types get a stable colour from their name.
COLOURS = {"PER": "#ddd6fe", "ORG": "#7aecec", "LOC": "#ff9561", "MISC": "#feca74", "GPE": "#feca74",
           "DATE": "#bfe1d9", "NORP": "#c887fb"}
_FALLBACK = ("#aa9cfc", "#9cc9cc", "#e4e7d2", "#bfeeb7", "#f0d0ff", "#ffeb80", "#c5e8ff", "#ffd3d3")


def colour_of(label: str) -> str:
    """The highlight colour of an entity type (B-PER and PER share PER's)."""
    kind = entity_type(label)
    if kind in COLOURS:
        return COLOURS[kind]
    return _FALLBACK[int(hashlib.sha1(kind.encode()).hexdigest(), 16) % len(_FALLBACK)]


def entities_html(text: str, entities: tuple[Entity, ...], *, title: str = "") -> str:
    """The text with each entity highlighted by type, its label beside it and its confidence on hover.

    Args:
        text: the input text.
        entities: spans into ``text`` (overlaps are skipped; they do not occur in merged output).
        title: optional heading.

    Returns:
        HTML; the text, labels and title are escaped.
    """
    parts, cursor = [], 0
    for entity in sorted(entities, key=lambda e: (e.start, -e.end)):
        if entity.start < cursor:
            continue
        parts.append(esc(text[cursor:entity.start]))
        parts.append(f'<mark class="bv-ent" style="background:{colour_of(entity.label)}" '
                     f'title="{esc(entity.label)}: {percent(entity.score)}">{esc(text[entity.start:entity.end])}'
                     f'<span class="bv-ent-label">{esc(entity_type(entity.label))}</span></mark>')
        cursor = entity.end
    parts.append(esc(text[cursor:]))
    kinds = sorted({entity_type(e.label) for e in entities})
    legend = "".join(f'<span class="bv-ent-key" style="background:{colour_of(k)}">{esc(k)}</span>' for k in kinds)
    heading = f"<h3>{esc(title)}</h3>" if title else ""
    empty = "" if entities else '<p class="bv-more">No entities at these settings.</p>'
    return (f'<div class="bv-entities" data-testid="ner-entities">{heading}<div class="bv-legend">{legend}</div>'
            f'<p class="bv-ent-text">{"".join(parts)}</p>{empty}</div>')


def entity_table(entities: tuple[Entity, ...]) -> pd.DataFrame:
    """One row per entity: type, text, character span, confidence."""
    return pd.DataFrame([(entity_type(e.label), e.text, e.start, e.end, round(e.score, 4)) for e in entities],
                        columns=["type", "text", "start", "end", "confidence"])


def token_table(tokens: tuple[TokenPrediction, ...], unit: str = PIECES, text: str = "") -> pd.DataFrame:
    """One row per token: the piece, the label the model gave it, its score and span. By words: one row per word
    of ``text`` with its pieces, labelled by its first piece (as training labels words)."""
    if unit == PIECES:
        return pd.DataFrame([(t.index, t.token, t.label, round(t.score, 4), t.start, t.end) for t in tokens],
                            columns=["#", "token", "label", "score", "start", "end"])
    grouping = groups_by_offsets(text, [(t.start, t.end) for t in tokens])
    rows = []
    for word, members in zip(grouping.labels, grouping.members):
        first, last = tokens[members[0]], tokens[members[-1]]
        rows.append((first.index, word, " ".join(tokens[i].token for i in members), first.label,
                     round(first.score, 4), " ".join(tokens[i].label for i in members), first.start, last.end))
    return pd.DataFrame(rows, columns=["#", "word", "pieces", "label", "score", "pieces' labels", "start", "end"])


def alignment_table(alignment: Alignment) -> pd.DataFrame:
    """One row per token: its word id, the word, the training label and label id (-100 = ignored by the loss)."""
    return pd.DataFrame([(t.token, "" if t.word_id is None else t.word_id, t.word, t.label, t.label_id)
                         for t in alignment.tokens], columns=["token", "word id", "word", "label", "label id"])


def spacy_missing_html() -> str:
    """What the spaCy comparison shows when no English pipeline is installed: how to install one, online or not."""
    # spaCy's pipelines are pip packages hosted with spaCy's model releases (GitHub, the Hugging Face Hub), not on
    # PyPI, so `spacy download` needs the internet; a wheel copied over installs offline.
    return ('<div class="bv-notes" data-testid="spacy-missing"><p>No spaCy English pipeline is installed on this '
            "server, so there is nothing to compare with. spaCy's pipelines are pip packages that are not on PyPI: "
            "<code>python -m spacy download en_core_web_sm</code> downloads the package <code>en_core_web_sm</code> "
            "(about 13 MB) from spaCy's model releases, so it needs internet access.</p><p>Offline, copy that "
            "package's wheel from a machine with internet, in the version matching the installed spaCy, and install "
            "it with <code>pip install en_core_web_sm-VERSION-py3-none-any.whl</code> (with conda: "
            "<code>spacy-model-en_core_web_sm</code> from conda-forge). Restart the app afterwards; the rest of this "
            "tab works without it.</p></div>")
