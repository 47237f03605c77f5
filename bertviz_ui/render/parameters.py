"""Parameter rendering: counts per module, the seed's figures beside measured ones."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from bertviz_ui.render.figures import frame
from bertviz_ui.render.html import esc, notes_html, plot_text
from bertviz_ui.tasks.parameters import ParameterCount, SeedCheck


def module_table(count: ParameterCount) -> pd.DataFrame:
    """One row per module: name, class, parameters, share of the total, trainable."""
    rows = [(m.name, m.kind, f"{m.parameters:,}", round(m.parameters / count.total * 100, 2) if count.total else 0.0,
             f"{m.trainable:,}") for m in count.modules]
    rows.append(("total", count.architecture, f"{count.total:,}", 100.0, f"{count.trainable:,}"))
    return pd.DataFrame(rows, columns=["module", "class", "parameters", "% of total", "trainable"])


def module_figure(count: ParameterCount) -> go.Figure:
    """Horizontal bars: parameters per module, in the model's order from the top."""
    names = [plot_text(m.name) for m in count.modules]
    figure = go.Figure(go.Bar(x=[m.parameters for m in count.modules], y=list(range(len(names))), orientation="h",
                              marker_color="#4a7bd0", customdata=names,
                              hovertemplate="%{customdata}: %{x:,}<extra></extra>"))
    figure.update_layout(height=max(260, 22 * len(names) + 90), margin={"l": 10, "r": 20, "t": 50, "b": 10},
                         title=f"{plot_text(count.architecture)}: {count.total:,} parameters",
                         xaxis={"tickformat": "~s", "title": {"text": "parameters"}},
                         yaxis={"tickvals": list(range(len(names))), "ticktext": names, "autorange": "reversed",
                                "tickfont": {"size": 10}})
    return frame(figure)


def count_summary_html(count: ParameterCount) -> str:
    """Total, trainable, encoder and head counts in words, and the notes."""
    head = count.total - count.encoder
    head_text = (f' <span class="bv-stat">task head ({esc(count.head)}): <b>{head:,}</b></span>'
                 if count.head != "none" else "")
    return (f'<div class="bv-stats" data-testid="parameters-total"><span class="bv-stat">total <b>{count.total:,}</b>'
            f'</span> <span class="bv-stat">trainable <b>{count.trainable:,}</b></span> <span class="bv-stat">'
            f"encoder <b>{count.encoder:,}</b></span>{head_text}</div>{notes_html(count.notes)}")


def seed_check_html(check: SeedCheck) -> str:
    """The seed's printed figures beside the measured ones, with the differences."""
    rows = (
        ("Total parameters", check.total, check.seed_total),
        ("Trainable (everything)", check.trainable, check.seed_trainable),
        ("Trainable (encoder frozen)", check.frozen_trainable, check.seed_head_only),
    )
    body = "".join(
        f"<tr><td>{esc(name)}</td><td>{measured:,}</td><td>{seed:,}</td>"
        f"<td>{'same' if measured == seed else f'{measured - seed:+,}'}</td></tr>" for name, measured, seed in rows)
    return (f'<div class="bv-summary" data-testid="parameters-seed"><p><b>The seed\'s classifier, measured</b> '
            f"(BertModel bert-base-uncased {check.bert_model:,} + Linear(768, 2) {check.classifier:,}, built on the "
            f"meta device):</p><table class=\"bv-special-table\"><thead><tr><th></th><th>measured here</th>"
            f"<th>the seed prints</th><th>difference</th></tr></thead><tbody>{body}</tbody></table></div>"
            f"{notes_html(check.notes)}")
