"""Fine-tuning lab rendering moved out of the tab: the setup header, the finished line, the examples table."""

from __future__ import annotations

from bertviz_ui.render.finetune import EXAMPLE_COLUMNS, examples_table, finished_html, setup_html
from bertviz_ui.tasks.finetune import (
    BaselineResult,
    FinetuneResult,
    Hyperparameters,
    ParameterCounts,
    SetupPreview,
    Split,
    validate,
)

XSS = '<img src=x onerror="window.__xss=1">'


def _preview(description: str) -> SetupPreview:
    data = validate([(XSS, XSS), ("b", XSS), ("c", "ok"), ("d", "ok")])
    split = Split("cross-validation", (0, 1, 2, 3), (((0, 2), (1, 3)), ((1, 3), (0, 2))), description)
    return SetupPreview(data=data, split=split, counts=ParameterCounts(10, 2, 2), schedule=(1e-4, 5e-5))


def test_setup_header_is_badge_data_and_split_all_escaped():
    html = setup_html(_preview(f"2-fold cross-validation of {XSS}"), model=XSS, untrained=True)
    assert "<img" not in html and html.count("&lt;img") >= 3  # the model, a label, the description
    assert 'data-testid="finetune-data"' in html and "4 examples, 2 labels" in html
    assert html.endswith("<p>2-fold cross-validation of &lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;</p>")


def _finished(scheme: str) -> FinetuneResult:
    return FinetuneResult(
        model="m", labels=("a", "b"), label_counts={"a": 2, "b": 2}, hyperparameters=Hyperparameters(),
        scheme=scheme, scheme_description="", n_train=2, n_evaluated=2, losses=(), learning_rates=(),
        schedule=(), epoch_metrics=(), accuracy=None, macro_f1=None, per_class=(), confusion=(),
        baseline=BaselineResult("b", 0.5, 0.5, (), ()), predictions=(), new_texts=(), total_params=10,
        trainable_params=2, encoder_forward_examples=0, elapsed_s=4.0, train_seconds=3.04, examples_per_s=31.55,
        steps=12, stopped_early=False, notes=())


def test_finished_line_counts_steps_time_and_speed():
    assert finished_html(_finished("holdout")) == (
        '<p class="bv-finetune-status" role="status" data-testid="finetune-status">Finished in 4.0 s: 12 training '
        "steps took 3.0 s (31.6 examples/s); the other 1.0 s went to the baseline and predicting before and after "
        "training.</p>")


def test_finished_line_counts_the_whole_run_not_only_training():
    # Issue 15: "6 steps in 13.0 s" while the click took 75 s; the folds, baseline and loading took the rest.
    html = finished_html(_finished("cross-validation"), total_s=75.25)
    assert "Finished in 75.2 s: 12 training steps took 3.0 s (31.6 examples/s); the other 72.2 s went to loading " \
           "the model (71.2 s), training the cross-validation folds, the baseline and predicting before and after " \
           "training." in html


def test_examples_table_shows_the_validated_rows():
    table = examples_table(validate([("good", " pos "), ("", ""), ("bad", "neg"), ("fine", "pos"), ("poor", "neg")]))
    assert list(table.columns) == EXAMPLE_COLUMNS == ["text", "label"]
    assert table.values.tolist() == [["good", "pos"], ["bad", "neg"], ["fine", "pos"], ["poor", "neg"]]
