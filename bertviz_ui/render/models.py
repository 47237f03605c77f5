"""Models panel rendering: what the cache holds, where, in which precision, and how often it was used."""

from __future__ import annotations

import pandas as pd

from bertviz_ui.models.cache import CacheReport
from bertviz_ui.render.html import esc

COLUMNS = ("model", "loaded as", "device", "dtype", "size (MB)", "fp32 size (MB)", "load (s)", "hits", "source")


def cache_table(report: CacheReport) -> pd.DataFrame:
    """One row per loaded model, most recently used first; an int8 model shows both its size and its fp32 size."""
    rows = [
        (e.ref, e.head, e.device, e.quantization or e.dtype or "—",
         round(e.size_bytes / 2**20, 1) if e.size_bytes else "tokenizer only",
         round(e.fp32_size_bytes / 2**20, 1) if e.quantization else "—", round(e.load_seconds, 2), e.hits,
         f"{e.source}, {e.origin}" if e.origin else e.source)
        for e in report.entries
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _quantization_html(report: CacheReport) -> str:
    """What BERTVIZ_UI_QUANTIZE does on this server ("" when it is off)."""
    if report.quantize != "int8":
        return ""
    if report.precision != "int8":
        return (f" <b>int8 applies to CPU only</b>: BERTVIZ_UI_QUANTIZE=int8 is ignored on {esc(report.device)}, "
                f"where models load in {esc(report.dtype)}.")
    return (" Inference uses <b>int8 (dynamic)</b> models (BERTVIZ_UI_QUANTIZE=int8): the transformer layers' Linear "
            "weights in int8 (a quarter of their fp32 memory; embeddings stay fp32), each input quantized as it "
            "arrives; several times faster on CPU, predictions slightly changed. Fine-tuning, gradient attributions "
            "and parameter counts load the fp32 model (its own row).")


def cache_summary_html(report: CacheReport, *, public: bool = False) -> str:
    """Device, precision, how much of the memory budget is in use, and whether the server runs in public mode."""
    used, budget = report.used_bytes / 2**30, report.budget_bytes / 2**30
    mode = ("<b>Public mode</b>: models come from the Hub's allow-list; models are shared by every visitor and freed "
            "by the server when memory runs short." if public else
            "<b>Local mode</b>: any Hub id or local directory can be loaded.")
    return (f'<div class="bv-cache-summary" data-testid="cache-summary">Models run on <b>{esc(report.device)}</b> '
            f"in <b>{esc(report.dtype)}</b>. {len(report.entries)} loaded, using {used:.2f} GiB of a "
            f"{budget:.1f} GiB budget (least recently used models are dropped past it). "
            f"Hits count the requests served from memory after the first load.{_quantization_html(report)} "
            f"{mode}</div>")
