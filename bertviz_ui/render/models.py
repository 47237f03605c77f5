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
         f"{e.source}, {e.origin}" if e.origin else e.source)
        for e in report.entries
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def cache_summary_html(report: CacheReport, *, public: bool = False) -> str:
    """Device, precision, how much of the memory budget is in use, and whether the server runs in public mode."""
    used, budget = report.used_bytes / 2**30, report.budget_bytes / 2**30
    mode = ("<b>Public mode</b>: models come from the Hub's allow-list; models are shared by every visitor and freed "
            "by the server when memory runs short." if public else
            "<b>Local mode</b>: any Hub id or local directory can be loaded.")
    return (f'<div class="bv-cache-summary" data-testid="cache-summary">Models run on <b>{esc(report.device)}</b> '
            f"in <b>{esc(report.dtype)}</b>. {len(report.entries)} loaded, using {used:.2f} GiB of a "
            f"{budget:.1f} GiB budget (least recently used models are dropped past it). "
            f"Hits count the requests served from memory after the first load. {mode}</div>")
