"""Fine-tuning lab rendering: data summary, parameter counts, LR schedule, live loss and accuracy, the report."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from bertviz_ui.render.figures import frame
from bertviz_ui.render.html import esc, model_badge_html, percent, plot_text
from bertviz_ui.tasks.finetune import (
    EpochMetrics,
    FinetuneResult,
    Hyperparameters,
    ParameterCounts,
    SetupPreview,
    StepEvent,
    TrainingData,
)

EXAMPLE_COLUMNS = ["text", "label"]


def examples_table(data: TrainingData) -> pd.DataFrame:
    """The validated examples as the editable table shows them (labels trimmed, blank rows gone)."""
    return pd.DataFrame([list(row) for row in zip(data.texts, data.labels)], columns=EXAMPLE_COLUMNS)


def data_html(data: TrainingData) -> str:
    """How many examples of each class, and the warnings (every label escaped)."""
    counts = "".join(f"<li><b>{esc(name)}</b>: {count}</li>" for name, count in data.counts.items())
    notes = "".join(f"<li>{esc(note)}</li>" for note in data.notes)
    warn = f'<ul class="bv-finetune-notes">{notes}</ul>' if notes else ""
    return (f'<div class="bv-finetune-data" data-testid="finetune-data"><p>{len(data.texts)} examples, '
            f"{len(data.label_names)} labels:</p><ul>{counts}</ul>{warn}</div>")


def setup_html(preview: SetupPreview, *, model: str, untrained: bool) -> str:
    """Which model, the data summary and how the examples will be split (every label and name escaped)."""
    return (model_badge_html(model, untrained=untrained) + data_html(preview.data)
            + f"<p>{esc(preview.split.description)}</p>")


def params_html(counts: ParameterCounts, *, frozen: bool, model: str) -> str:
    """Total and trainable parameter counts, as the seed prints them."""
    share = counts.trainable / counts.total if counts.total else 0.0
    what = ("only the classification head is trained" if frozen
            else "every weight of the encoder and the new head is updated")
    return (f'<div class="bv-finetune-params" data-testid="finetune-params"><b>{esc(model)}</b>: '
            f'total parameters <b data-testid="total-params">{counts.total:,}</b>, trainable '
            f'<b data-testid="trainable-params">{counts.trainable:,}</b> ({share:.2%}; {what}; the new head has '
            f"{counts.head:,}).</div>")


def schedule_figure(schedule: Sequence[float], hp: Hyperparameters, *, title: str = "") -> go.Figure:
    """The learning rate of every optimizer step: linear warmup, then linear decay to 0."""
    steps = list(range(1, len(schedule) + 1))
    figure = go.Figure(go.Scatter(x=steps, y=list(schedule), mode="lines+markers", name="learning rate",
                                  hovertemplate="step %{x}: %{y:.3g}<extra></extra>"))
    warmup = int(len(schedule) * hp.warmup_ratio)
    figure.update_layout(height=260, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         title=title or (f"Learning-rate schedule: {len(schedule)} steps, {warmup} warmup, peak "
                                         f"{hp.learning_rate:g}, then linear decay to 0"),
                         xaxis={"title": "optimizer step"}, yaxis={"title": "learning rate", "exponentformat": "e"})
    return frame(figure)


def loss_figure(steps: Sequence[StepEvent], total_steps: int | None = None) -> go.Figure:
    """Training loss at every step of the kept model (live while training)."""
    figure = go.Figure(go.Scatter(x=[s.step for s in steps], y=[s.loss for s in steps], mode="lines+markers",
                                  name="loss", hovertemplate="step %{x}: loss %{y:.4f}<extra></extra>"))
    figure.update_layout(height=280, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         title="Training loss per step (cross-entropy)",
                         xaxis={"title": "step", "range": [0.5, (total_steps or max(1, len(steps))) + 0.5]},
                         yaxis={"title": "loss", "rangemode": "tozero"})
    return frame(figure)


def accuracy_figure(epochs: Sequence[EpochMetrics], baseline: float | None = None) -> go.Figure:
    """Accuracy on the evaluated examples after each epoch, with the baseline as a dashed line."""
    scored = [e for e in epochs if e.accuracy is not None]
    figure = go.Figure(go.Scatter(x=[e.epoch for e in scored], y=[e.accuracy for e in scored], mode="lines+markers",
                                  name="fine-tuned", hovertemplate="epoch %{x}: %{y:.1%}<extra></extra>"))
    if baseline is not None:
        figure.add_hline(y=baseline, line_dash="dash", annotation_text=f"TF-IDF baseline {baseline:.0%}")
    figure.update_layout(height=280, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         title="Accuracy on examples the model did not train on, per epoch",
                         xaxis={"title": "epoch", "dtick": 1}, yaxis={"tickformat": ".0%", "range": [0, 1.05]})
    return frame(figure)


def confusion_figure(result: FinetuneResult) -> go.Figure:
    """Rows: true class; columns: predicted class; counts of evaluated examples."""
    names = [plot_text(name) for name in result.labels]
    figure = go.Figure(go.Heatmap(z=[list(row) for row in result.confusion], x=names, y=names, colorscale="Blues",
                                  text=[[str(v) for v in row] for row in result.confusion], texttemplate="%{text}",
                                  hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>", showscale=False))
    figure.update_layout(height=160 + 40 * len(names), margin={"l": 10, "r": 10, "t": 50, "b": 10},
                         title="Confusion matrix (evaluated examples)", xaxis={"title": "predicted", "type": "category"},
                         yaxis={"title": "true", "autorange": "reversed", "type": "category"})
    return frame(figure)


def status_html(event: StepEvent, *, phase: str = "") -> str:
    """One line during training: step, epoch, loss, learning rate, time and speed."""
    text = (f"{esc(event.run)}: step {event.step}/{event.total_steps}, epoch {event.epoch}, loss {event.loss:.4f}, "
            f"lr {event.learning_rate:.3g}, {event.elapsed_s:.1f} s, {event.examples_per_s:.1f} examples/s")
    if phase:
        text += f" · {esc(phase)}"
    return f'<p class="bv-finetune-status" role="status" data-testid="finetune-status">{text}</p>'


def message_html(message: str) -> str:
    """A status line with a plain message (queued, cancelled, finished)."""
    return f'<p class="bv-finetune-status" role="status" data-testid="finetune-status">{esc(message)}</p>'


def finished_html(result: FinetuneResult, *, total_s: float | None = None) -> str:
    """The status line once the run is over: how long it took in all, and how much of that was training.

    Args:
        result: the finished run.
        total_s: the whole run as the visitor waited for it, loading the model included (default: the run from
            its first step, ``result.elapsed_s``).

    Returns:
        The status paragraph (plain text, escaped).
    """
    total = result.elapsed_s if total_s is None else total_s
    rest = [("loading the model", total - result.elapsed_s)] if total - result.elapsed_s >= 0.05 else []
    if result.scheme == "cross-validation":
        rest.append(("training the cross-validation folds", None))
    rest += [("the baseline", None), ("predicting before and after training", None)]
    names = [name if seconds is None else f"{name} ({seconds:.1f} s)" for name, seconds in rest]
    return message_html(f"Finished in {total:.1f} s: {result.steps} training steps took {result.train_seconds:.1f} s "
                        f"({result.examples_per_s:.1f} examples/s); the other {max(0.0, total - result.train_seconds):.1f} s "
                        f"went to {', '.join(names[:-1])} and {names[-1]}.")


def report_html(result: FinetuneResult) -> str:
    """The scheme, the fine-tuned model beside the baseline, per-class precision/recall, cost and notes."""
    accuracy = "n/a" if result.accuracy is None else percent(result.accuracy)
    f1 = "n/a" if result.macro_f1 is None else f"{result.macro_f1:.3f}"
    rows = "".join(
        f"<tr><td>{esc(c.label)}</td><td>{c.precision:.2f}</td><td>{c.recall:.2f}</td><td>{c.f1:.2f}</td>"
        f"<td>{c.support}</td></tr>" for c in result.per_class)
    per_class = ('<table class="bv-special-table" data-testid="finetune-per-class"><thead><tr><th>class</th>'
                 "<th>precision</th><th>recall</th><th>F1</th><th>examples</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>") if rows else ""
    notes = "".join(f"<li>{esc(note)}</li>" for note in result.notes)
    hp = result.hyperparameters
    setup = (f"lr {hp.learning_rate:g}, batch {hp.batch_size}, {hp.epochs} epoch(s), warmup {hp.warmup_ratio:g}, "
             f"max length {hp.max_length}, clip {hp.clip_norm:g}, seed {hp.seed}"
             + (", encoder frozen" if hp.freeze_encoder else ""))
    frozen = (f" The frozen encoder ran once per text ({result.encoder_forward_examples} texts), not once per "
              "epoch." if result.encoder_forward_examples else "")
    return (
        '<div class="bv-finetune-report" data-testid="finetune-report">'
        f"<p><b>How it was scored.</b> {esc(result.scheme_description)}</p>"
        '<table class="bv-special-table" data-testid="finetune-compare"><thead><tr><th>model</th><th>accuracy</th>'
        "<th>macro F1</th></tr></thead><tbody>"
        f"<tr><td>fine-tuned {esc(result.model)}</td><td>{accuracy}</td><td>{f1}</td></tr>"
        f"<tr><td>baseline: {esc(result.baseline.name)}</td><td>{percent(result.baseline.accuracy)}</td>"
        f"<td>{result.baseline.macro_f1:.3f}</td></tr></tbody></table>"
        f"{per_class}"
        f"<p><b>Cost.</b> {result.steps} optimizer step(s) in {result.train_seconds:.1f} s of training "
        f"({result.examples_per_s:.1f} examples/s), {result.elapsed_s:.1f} s for the whole run once the model was "
        f"loaded; {result.trainable_params:,} of {result.total_params:,} parameters trained ({setup}).{frozen}</p>"
        + (f'<ul class="bv-finetune-notes">{notes}</ul>' if notes else "")
        + "</div>")


PREDICTION_COLUMNS = ["text", "label", "role", "before", "P(before)", "after", "P(after)", "scored prediction"]
NEW_TEXT_COLUMNS = ["text", "before", "P(before)", "after", "P(after)", "baseline"]


def predictions_table(result: FinetuneResult | None) -> pd.DataFrame:
    """Every example: label, role, prediction before and after training, the prediction that was scored (None: no
    columns, so the page shows no table until there are results)."""
    if result is None:
        return pd.DataFrame()
    rows = [(p.text, p.label, p.role, p.before, round(p.before_score, 3), p.after, round(p.after_score, 3),
             p.evaluated_as or "") for p in result.predictions]
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)


def new_texts_table(result: FinetuneResult | None) -> pd.DataFrame:
    """The new texts: the model before and after training, and the baseline (None: no columns, no table shown)."""
    if result is None:
        return pd.DataFrame()
    rows = [(t.text, t.before, round(t.before_score, 3), t.after, round(t.after_score, 3), t.baseline)
            for t in result.new_texts]
    return pd.DataFrame(rows, columns=NEW_TEXT_COLUMNS)


def try_table(texts: Sequence[str], predictions: Sequence[tuple[str, float, tuple[float, ...]]],
              labels: Sequence[str]) -> pd.DataFrame:
    """The session's fine-tuned model on new texts: label, confidence, every class's probability."""
    rows = [(text, label, round(score, 4), *(round(p, 4) for p in probabilities))
            for text, (label, score, probabilities) in zip(texts, predictions)]
    return pd.DataFrame(rows, columns=["text", "label", "confidence", *(f"P({name})" for name in labels)])
