"""Models panel rendering: what the cache holds, where, in which precision, and how often it was used."""

from __future__ import annotations

import pandas as pd

from bertviz_ui.models.cache import CacheReport
from bertviz_ui.render.html import esc

COLUMNS = ("model", "loaded as", "device", "dtype", "size (MB)", "load (s)", "hits", "source")


def cache_table(report: CacheReport) -> pd.DataFrame:
    """One row per loaded model, most recently used first."""
    rows = [
        (e.ref, e.head, e.device, e.dtype or "—",
         round(e.size_bytes / 2**20, 1) if e.size_bytes else "tokenizer only", round(e.load_seconds, 2), e.hits,
         e.source)
        for e in report.entries
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def cache_summary_html(report: CacheReport) -> str:
    """Device, precision and how much of the memory budget is in use."""
    used, budget = report.used_bytes / 2**30, report.budget_bytes / 2**30
    return (f'<div class="bv-cache-summary" data-testid="cache-summary">Models run on <b>{esc(report.device)}</b> '
            f"in <b>{esc(report.dtype)}</b>. {len(report.entries)} loaded, using {used:.2f} GiB of a "
            f"{budget:.1f} GiB budget (least recently used models are dropped past it). "
            "Hits count the requests served from memory after the first load.</div>")
