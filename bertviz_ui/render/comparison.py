"""Model comparison rendering: the seed's table beside what was measured, and how it was made."""

from __future__ import annotations

import pandas as pd

from bertviz_ui.render.html import notes_html
from bertviz_ui.tasks.comparison import Comparison


def comparison_table(comparison: Comparison) -> pd.DataFrame:
    """The seed's comparison, measured: layers, hidden, heads, parameters, latency and speed, the seed's figures."""
    rows = []
    for row in comparison.rows:
        rows.append((row.name, row.layers, row.hidden, row.heads, f"{row.parameters:,}", row.seed_parameters or "-",
                     round(row.latency_ms, 1) if row.latency_ms else None,
                     f"{row.speed:.2f}x" if row.speed else "not measured", row.seed_speed or "-",
                     row.latency_source or "-", row.config_source))
    return pd.DataFrame(rows, columns=["model", "layers", "hidden", "heads", "parameters", "seed says",
                                       "latency ms", "speed (x baseline)", "seed's speed", "timed on", "config"])


def comparison_html(comparison: Comparison) -> str:
    """How the table was made (escaped notes)."""
    return notes_html(comparison.notes)
