"""An installed spaCy English pipeline, for comparing entities (optional: the NER tab works without one)."""

from __future__ import annotations

import functools
from typing import Any

ENGLISH_PIPELINES = ("en_core_web_sm", "en_core_web_md", "en_core_web_lg", "en_core_web_trf")


@functools.cache
def english_pipeline() -> tuple[str, Any] | tuple[None, None]:
    """(name, nlp) of the first installed spaCy English pipeline, loaded once; (None, None) if none is."""
    import spacy

    for name in ENGLISH_PIPELINES:
        if spacy.util.is_package(name):
            return name, spacy.load(name)
    return None, None
