"""Fine-tuning lab compute: data validation, CSV, bounds, split, schedule, the setup preview, parameter counts,
frozen-encoder caching, cancellation and memory, the save_pretrained round trip, and the seed's recipe on MiniLM.
The tab's handlers are in test_finetune_ui.py, the session store in test_lab.py."""

from __future__ import annotations

import gc
import threading
import weakref
import zipfile

import pandas as pd
import pytest
import torch
import transformers

from bertviz_ui import examples
from bertviz_ui.errors import BadInput
from bertviz_ui.registry import OFFLINE_MODEL_ID, Head
from bertviz_ui.tasks import finetune as ft
from bertviz_ui.tasks.budget import ACTIVATION_SHARE, Budget, OverBudget, activation_bytes, shape_of
from bertviz_ui.tasks.finetune import (
    Cancelled,
    EpochMetrics,
    Finished,
    Hyperparameters,
    PhaseEvent,
    StepEvent,
    check_hyperparameters,
    count_parameters,
    finetune,
    head_on_features,
    parameter_counts,
    parse_csv,
    plan_split,
    planned_schedule,
    table_rows,
    validate,
)
from bertviz_ui.tasks.finetune import plan as ft_plan
from bertviz_ui.tasks.finetune import run as ft_run
from bertviz_ui.tasks.finetune import training as ft_training

pytestmark = pytest.mark.usefixtures("one_thread")

SEED_ROWS = [(text, str(label)) for text, label in zip(examples.TUTORIAL_REVIEWS, examples.TUTORIAL_REVIEW_LABELS)]
XSS = '<img src=x onerror="window.__xss=1">'


def run(*args, **kwargs):
    """Every event of a finetune() run; the last is Finished."""
    return list(finetune(*args, **kwargs))


def _patch_build(monkeypatch, build):
    """finetune() builds the kept model and every fold's through run.build_classifier."""
    monkeypatch.setattr(ft_run, "build_classifier", build)


def _patch_scheduler(monkeypatch, make):
    """fit() (training) and planned_schedule() (plan) each look make_scheduler up in their own module."""
    for module in (ft_training, ft_plan):
        monkeypatch.setattr(module, "make_scheduler", make)


@pytest.fixture(scope="module")
def tiny(cache):
    return cache.load("tiny:encoder", Head.ENCODER)


# --- Data -----------------------------------------------------------------------------------------------------

def test_seed_rows_validate_with_numeric_label_order():
    data = validate(SEED_ROWS)
    assert data.label_names == ("0", "1") and data.counts == {"0": 4, "1": 4}
    assert data.label_ids == tuple(examples.TUTORIAL_REVIEW_LABELS) and data.notes == () and data.skipped_blank == 0


def test_labels_are_trimmed_and_blank_rows_counted():
    data = validate([("good", " pos "), ("", ""), ("  ", " "), ("bad", "neg"), ("fine", "pos\t"), ("awful", "neg")])
    assert data.labels == ("pos", "neg", "pos", "neg") and data.label_names == ("neg", "pos")
    assert data.skipped_blank == 2 and "2 blank row(s) ignored." in data.notes


def test_numbers_sort_as_numbers_and_spreadsheet_floats_become_whole():
    rows = table_rows(pd.DataFrame([["a", 10.0], ["b", 2], ["c", 10], ["d", 2.0], [None, float("nan")]],
                                   columns=["text", "label"]))
    assert rows == [("a", "10"), ("b", "2"), ("c", "10"), ("d", "2"), ("", "")]
    assert validate(rows).label_names == ("2", "10")
    assert table_rows({"headers": ["text", "label"], "data": [["x", "y"]]}) == [("x", "y")]


@pytest.mark.parametrize("rows, message", [
    ([("a", "x"), ("b", "x"), ("c", "x")], "Only one label ('x'): a classifier needs at least 2 labels"),
    ([("only one", "x")], "Only one label"),
    ([("a", "x"), ("b", "x"), ("c", "y")], ("Every label needs at least 2 examples (one to learn from, one to test "
                                           "on): 'y' has 1.")),
    ([(f"text {i}", str(i % 50)) for i in range(100)], "50 labels: this lab trains classifiers of at most 20"),
    ([(f"text {i}", str(i % 2)) for i in range(1001)], "1,001 examples: this lab trains on at most 1,000."),
    ([("a", "x"), ("", "y")], "Row 2 has the label 'y' but no text."),
    ([("a", "x"), ("b", "  ")], "Row 2 has a text but no label."),
    ([("a" * 1001, "x")], "Row 1's text is 1,001 characters; each may have up to 1,000."),
    ([("a", "x" * 51)], "Row 1's label is 51 characters"),
    ([("a", "x\ny")], "control characters"),
    ([("", ""), (" ", "")], "No examples"),
])
def test_bad_data_gets_a_specific_message(rows, message):
    with pytest.raises(BadInput) as caught:
        validate(rows)
    assert message in str(caught.value)


def test_ten_thousand_rows_are_refused_before_any_work():
    with pytest.raises(BadInput, match="10,001 rows: this lab trains on at most 1,000 examples"):
        table_rows([["t", "l"]] * 10_001)
    with pytest.raises(BadInput, match="at most 1,000"):
        validate(table_rows([["t", str(i % 2)] for i in range(10_000)]))


def test_imbalance_is_warned_about_with_the_majority_share():
    data = validate([("p", "pos")] * 9 + [("n", "neg")] * 3)
    (note, duplicates) = data.notes
    assert note.startswith("Imbalanced classes: 'pos' has 9 examples, 'neg' 3.") and "75%" in note
    assert "10 duplicate text(s)" in duplicates


def test_html_in_texts_and_labels_is_kept_verbatim_for_the_renderers_to_escape():
    data = validate([(XSS, XSS), ("b", XSS), ("c", "ok"), ("d", "ok")])
    assert data.label_names == ("ok", XSS) or data.label_names == (XSS, "ok")
    assert data.texts[0] == XSS


# --- CSV ------------------------------------------------------------------------------------------------------

def test_csv_with_header_quotes_and_tsv():
    assert parse_csv('text,label\n"Great, really great",pos\nBad,neg\n') == [("Great, really great", "pos"),
                                                                           ("Bad", "neg")]
    assert parse_csv("Great\tpos\nBad, awful\tneg") == [("Great", "pos"), ("Bad, awful", "neg")]
    assert parse_csv("Great;pos\nBad;neg") == [("Great", "pos"), ("Bad", "neg")]
    assert parse_csv("\ufeffa,x\n\nb,y".encode()) == [("a", "x"), ("", ""), ("b", "y")]


@pytest.mark.parametrize("raw, message", [
    ("", "The CSV is empty"),
    ("just a text without label\n", "Line 1 has one column"),
    ("a,b,c\n", "Line 1 has 3 columns"),
    ('a,"unclosed\n', "malformed"),
    ('a,"b"x\n', "malformed near line 1"),
    ("a,b\x00\n", "NUL bytes"),
    (b"\xff\xfe\x00a", "not UTF-8"),
    ("a,b\n" * 300_000, "the lab reads up to 1,000,000"),
    (b"a,b\n" * 300_000, "the lab reads CSV files of up to 1,000,000"),
    (12, "CSV must be text"),
])
def test_malformed_or_huge_csv_is_refused(raw, message):
    with pytest.raises(BadInput) as caught:
        parse_csv(raw)
    assert message in str(caught.value)


# --- Hyperparameters --------------------------------------------------------------------------------------------

GOOD = {"learning_rate": 2e-5, "batch_size": 4, "epochs": 3, "warmup_ratio": 0.1, "max_length": 64, "clip_norm": 1.0, "seed": 0,
            "freeze_encoder": False}


def test_defaults_are_the_seeds():
    assert check_hyperparameters(**GOOD) == Hyperparameters()
    hp = Hyperparameters()
    assert (hp.learning_rate, hp.batch_size, hp.epochs, hp.warmup_ratio, hp.max_length, hp.clip_norm) == (
        2e-5, 4, 3, 0.1, 64, 1.0)


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 10**6, "Epochs must be a whole number between 1 and 20."),
    ("epochs", 2.5, "Epochs must be a whole number between 1 and 20."),
    ("learning_rate", 1.0, "Learning rate must be a number between 1e-06 and 0.001."),
    ("learning_rate", float("nan"), "Learning rate must be a number"),
    ("batch_size", 0, "Batch size must be a whole number between 1 and 64."),
    ("max_length", 100_000, "Max length must be a whole number between 8 and 512."),
    ("warmup_ratio", 0.9, "Warmup ratio must be a number between 0 and 0.5."),
    ("clip_norm", -1, "Gradient clipping must be a number between 0 and 10 (0 turns clipping off)."),
    ("seed", "x", "Seed must be a whole number"),
    ("epochs", True, "Epochs must be a whole number"),
    ("freeze_encoder", "yes", "Freeze encoder must be true or false."),
])
def test_bounds_are_enforced_with_the_range_in_the_message(field, value, message):
    with pytest.raises(BadInput) as caught:
        check_hyperparameters(**{**GOOD, field: value})
    assert str(caught.value) == message or message in str(caught.value)


# --- Split and schedule ----------------------------------------------------------------------------------------

def test_small_sets_are_cross_validated_and_every_example_predicted_once():
    split = plan_split(examples.TUTORIAL_REVIEW_LABELS, seed=0)
    assert split.scheme == "cross-validation" and len(split.folds) == 4
    assert split.final_train == tuple(range(8))
    held = sorted(i for _, fold in split.folds for i in fold)
    assert held == list(range(8))
    for train, fold in split.folds:
        assert not set(train) & set(fold)
        assert sorted(examples.TUTORIAL_REVIEW_LABELS[i] for i in fold) == [0, 1]  # stratified
    assert "4-fold cross-validation" in split.description


def test_larger_sets_hold_out_a_stratified_fifth():
    labels = [0] * 30 + [1] * 10
    split = plan_split(labels, seed=1)
    ((train, held),) = split.folds
    assert split.scheme == "holdout" and len(held) == 8 and split.final_train == train
    assert sorted(labels[i] for i in held) == [0] * 6 + [1] * 2
    assert not set(train) & set(held) and len(train) + len(held) == 40


def test_schedule_is_warmup_then_linear_decay():
    hp = Hyperparameters(batch_size=2, epochs=3, warmup_ratio=0.25, learning_rate=1e-4)
    schedule = planned_schedule(8, hp)  # 4 steps per epoch, 12 steps, 3 warmup
    assert len(schedule) == 12
    assert schedule[:4] == pytest.approx([0.0, 1e-4 / 3, 2e-4 / 3, 1e-4])
    assert schedule[4:] == pytest.approx([1e-4 * (12 - s) / 9 for s in range(4, 12)])


def test_the_setup_preview_is_the_split_counts_and_schedule_training_would_use(tiny):
    data = validate(SEED_ROWS)
    hp = Hyperparameters(batch_size=2, epochs=2, freeze_encoder=True)
    preview = ft.preview_setup(data, hp, tiny.model)
    assert preview.split == plan_split(data.label_ids, hp.seed) and preview.split.scheme == "cross-validation"
    assert preview.counts == parameter_counts(tiny.model, 2, True) and preview.counts.trainable == 32 * 2 + 2
    assert preview.schedule == planned_schedule(8, hp) and len(preview.schedule) == 8  # 4 steps per epoch
    assert preview.to_dict() == {"labels": ["0", "1"], "label_counts": {"0": 4, "1": 4}, "notes": [],
                                 "scheme": "cross-validation", "total_params": preview.counts.total,
                                 "trainable_params": 66, "schedule": list(preview.schedule)}


# --- Parameters and the frozen head -------------------------------------------------------------------------

def test_parameter_counts_equal_sum_of_numel(tiny):
    model = ft.build_classifier(tiny.model, ["a", "b", "c"], 0, "cpu")
    total = sum(p.numel() for p in model.parameters())
    full = count_parameters(model)
    assert full.total == full.trainable == total == parameter_counts(tiny.model, 3, False).total
    ft.freeze(model, True)
    frozen = count_parameters(model)
    assert frozen.trainable == sum(p.numel() for p in model.parameters() if p.requires_grad) == 32 * 3 + 3
    assert parameter_counts(tiny.model, 3, True) == frozen


def test_minilm_counts_match_the_seeds_arithmetic(cache):
    encoder = cache.load(OFFLINE_MODEL_ID, Head.ENCODER).model
    counts = parameter_counts(encoder, 2, True)
    # The seed's head on bert-base has 768 * 2 + 2 = 1,538 weights; on MiniLM's 384-wide pooled vector, 770.
    assert counts.trainable == counts.head == 384 * 2 + 2
    assert counts.total == sum(p.numel() for p in encoder.parameters()) + 770


def _tiny_configs():
    common = {"vocab_size": 200, "max_position_embeddings": 64}
    return [
        transformers.BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                **common),
        transformers.DistilBertConfig(dim=16, n_layers=1, n_heads=2, hidden_dim=32, **common),
        transformers.RobertaConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                   vocab_size=200, max_position_embeddings=70),
    ]


@pytest.mark.parametrize("config", _tiny_configs(), ids=["bert", "distilbert", "roberta"])
def test_head_on_stored_features_gives_the_models_own_logits(config):
    torch.manual_seed(0)
    config.num_labels = 3
    model = transformers.AutoModelForSequenceClassification.from_config(config).eval()
    features_fn, head = head_on_features(model)
    ids = torch.tensor([[5, 6, 7, 8, 9], [5, 10, 11, 3, 3]])
    inputs = {"input_ids": ids, "attention_mask": torch.tensor([[1] * 5, [1, 1, 1, 0, 0]])}
    with torch.no_grad():
        expected = model(**inputs).logits
        assert torch.allclose(head(features_fn(inputs)), expected, atol=1e-6)


# --- Training on the tiny encoder (fast: mechanics) ---------------------------------------------------------

def _tiny_run(tiny, rows=SEED_ROWS, **hp):
    data = validate(rows)
    events = run(data, Hyperparameters(**hp), encoder=tiny.model, tokenizer=tiny.tokenizer, label="tiny",
                 new_texts=examples.TUTORIAL_TEST_TEXTS)
    assert isinstance(events[-1], Finished)
    return events


def test_optimizer_lr_per_step_equals_the_plotted_schedule(tiny):
    events = _tiny_run(tiny, learning_rate=1e-4, batch_size=2, epochs=3, warmup_ratio=0.25)
    result = events[-1].result
    final_steps = [e for e in events if isinstance(e, StepEvent) and e.run == "final"]
    assert len(result.losses) == len(final_steps) == result.steps == 12
    assert result.learning_rates == result.schedule == planned_schedule(8, result.hyperparameters)
    assert result.learning_rates[3] == 1e-4  # the peak after 3 warmup steps
    # The cross-validation folds trained too (6 of 8 examples each: 3 steps per epoch).
    folds = {e.run for e in events if isinstance(e, StepEvent)} - {"final"}
    assert folds == {"fold 1/4", "fold 2/4", "fold 3/4", "fold 4/4"}


def test_cross_validated_metrics_and_baseline_cover_every_example(tiny):
    result = _tiny_run(tiny, epochs=2)[-1].result
    assert result.scheme == "cross-validation" and result.n_evaluated == 8 and result.n_train == 8
    assert [e.epoch for e in result.epoch_metrics] == [1, 2] and all(e.evaluated == 8 for e in result.epoch_metrics)
    assert sum(map(sum, result.confusion)) == 8 and [c.support for c in result.per_class] == [4, 4]
    assert result.accuracy == sum(result.confusion[i][i] for i in range(2)) / 8
    assert len(result.baseline.predicted) == 8 and 0 <= result.baseline.accuracy <= 1
    assert all(p.role == "cross-validated" and p.evaluated_as in ("0", "1") for p in result.predictions)
    assert [t.text for t in result.new_texts] == list(examples.TUTORIAL_TEST_TEXTS)
    payload = result.to_dict()
    assert {"losses", "epoch_metrics", "baseline", "labels", "trainable_params", "total_params"} <= set(payload)
    assert "predicted" not in payload["epoch_metrics"][0]


def test_holdout_split_scores_only_unseen_examples(tiny):
    rows = [(f"good review number {i}", "pos") for i in range(12)] + [(f"bad review number {i}", "neg")
                                                                       for i in range(12)]
    events = _tiny_run(tiny, rows=rows, epochs=2, batch_size=8)
    result = events[-1].result
    assert result.scheme == "holdout" and result.n_train == 19 and result.n_evaluated == 5
    held = [p for p in result.predictions if p.role == "held out"]
    assert len(held) == 5 and all(p.evaluated_as for p in held)
    assert all(p.evaluated_as is None for p in result.predictions if p.role == "train")
    live = [e for e in events if isinstance(e, EpochMetrics)]
    assert [e.evaluated for e in live] == [5, 5] and live == list(result.epoch_metrics)


def test_frozen_encoder_runs_once_per_text_not_per_epoch(tiny, monkeypatch):
    rows_seen = []
    built = []
    original = ft.build_classifier

    def counting(*args, **kwargs):
        model = original(*args, **kwargs)
        model.base_model.register_forward_hook(lambda module, inputs, output: rows_seen.append(
            output[0].shape[0]))
        built.append(model)
        return model

    _patch_build(monkeypatch, counting)
    result = _tiny_run(tiny, epochs=4, freeze_encoder=True, learning_rate=1e-3)[-1].result
    # 8 examples + 2 new texts, once, for the kept model and all 4 fold models (which reuse the stored outputs).
    assert sum(rows_seen) == result.encoder_forward_examples == 10
    assert len(built) == 5 and result.trainable_params == 32 * 2 + 2
    assert result.steps == 8 and len(result.losses) == 8


@pytest.mark.parametrize("frozen", [False, True], ids=["trained encoder", "frozen encoder"])
def test_each_fold_model_is_freed_before_the_next_is_built(tiny, monkeypatch, frozen):
    built, alive_at_build = [], []
    original = ft.build_classifier

    def tracking(*args, **kwargs):
        gc.collect()
        alive_at_build.append(sum(ref() is not None for ref in built[1:]))  # fold models (the first is kept)
        model = original(*args, **kwargs)
        built.append(weakref.ref(model))
        return model

    _patch_build(monkeypatch, tracking)
    _tiny_run(tiny, epochs=1, freeze_encoder=frozen, learning_rate=1e-3)
    assert alive_at_build == [0, 0, 0, 0, 0]  # the kept model, then 4 folds one at a time


def test_the_shared_encoder_is_never_trained(tiny):
    before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    result = _tiny_run(tiny, learning_rate=1e-3, epochs=1)[-1].result
    assert result.steps == 2
    after = tiny.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any(p.grad is not None for p in tiny.model.parameters())


def test_cancel_stops_within_one_step_and_frees_model_and_optimizer(tiny, monkeypatch):
    refs = []
    original_build, original_scheduler = ft.build_classifier, ft.make_scheduler
    _patch_build(monkeypatch, lambda *a, **k: _track(refs, original_build(*a, **k)))
    _patch_scheduler(monkeypatch, lambda optimizer, *a: _track(refs, original_scheduler(optimizer, *a), optimizer))
    cancel = threading.Event()
    data = validate(SEED_ROWS)
    steps = []
    with pytest.raises(Cancelled, match="Training cancelled"):
        for event in finetune(data, Hyperparameters(epochs=5, batch_size=1), encoder=tiny.model,
                              tokenizer=tiny.tokenizer, cancel=cancel):
            if isinstance(event, StepEvent):
                steps.append(event)
                cancel.set()
    assert len(steps) == 1
    gc.collect()
    assert refs and all(ref() is None for ref in refs)


def _track(refs, value, *also):
    refs.extend(weakref.ref(v) for v in (value, *also))
    return value


def test_memory_is_released_after_a_run_except_the_kept_model(tiny, monkeypatch):
    refs = []
    original_scheduler = ft.make_scheduler
    _patch_scheduler(monkeypatch, lambda optimizer, *a: _track(refs, original_scheduler(optimizer, *a), optimizer))
    events = _tiny_run(tiny, epochs=1)
    kept = weakref.ref(events[-1].trained.model)
    del events
    gc.collect()
    # 5 trainings (the kept model, 4 folds) and the planned schedule's dummy: 6 optimizers and schedulers.
    assert len(refs) == 12 and all(ref() is None for ref in refs)
    assert kept() is None  # nothing else held the model


def test_closing_the_generator_mid_training_frees_everything(tiny, monkeypatch):
    refs = []
    original_build = ft.build_classifier
    _patch_build(monkeypatch, lambda *a, **k: _track(refs, original_build(*a, **k)))
    events = finetune(validate(SEED_ROWS), Hyperparameters(epochs=3), encoder=tiny.model, tokenizer=tiny.tokenizer)
    next(e for e in events if isinstance(e, StepEvent))
    events.close()  # what gradio does when the tab closes or Cancel is pressed
    del events
    gc.collect()
    assert refs and all(ref() is None for ref in refs)


def test_a_run_that_cannot_fit_the_wall_clock_limit_is_refused_up_front(tiny):
    with pytest.raises(OverBudget, match=r"^Predicting 8 texts of up to \d+ tokens before and after training, with the "
                                         r"evaluation and a training step, would take .* more than the lab's limit of 1e-09 s for the "
                                         r"whole run\. Use fewer examples or new texts, or a lower max length\.$"):
        run(validate(SEED_ROWS), Hyperparameters(), encoder=tiny.model, tokenizer=tiny.tokenizer, max_seconds=1e-9)


def test_training_stops_in_time_for_what_follows_and_says_so(tiny, monkeypatch):
    deadlines = []

    def now(at, end, prediction_seconds, eval_share):  # the time left is all needed after training
        deadlines.append((end - at, eval_share))
        return at

    monkeypatch.setattr(ft_run, "training_deadline", now)
    events = run(validate(SEED_ROWS), Hyperparameters(), encoder=tiny.model, tokenizer=tiny.tokenizer,
                 max_seconds=300, new_texts=examples.TUTORIAL_TEST_TEXTS)
    result = events[-1].result
    assert result.stopped_early and result.steps == 0 and events[-1].trained is None
    assert len(deadlines) == 1 and 290 < deadlines[0][0] <= 300 and deadlines[0][1] == 8 / 10  # 8 of 10 texts
    assert any("wall-clock limit of 300 s after 0 step(s), leaving time for the evaluation and predictions" in note
               for note in result.notes)
    assert len(result.predictions) == 8 and len(result.new_texts) == 2 and result.baseline.accuracy is not None
    assert isinstance(events[0], PhaseEvent) and events[0].message.startswith("Baseline")  # inside the limit


def test_training_deadline_keeps_time_for_the_last_evaluation_and_the_predictions():
    # Predictions before training took 8 s; a quarter of the texts is evaluated after each epoch.
    assert ft.training_deadline(100.0, 400.0, 8.0, 0.25) == 400.0 - (8.0 * 1.25 * ft.RESERVE_MARGIN + ft.RESERVE_S)
    assert ft.training_deadline(100.0, None, 8.0, 0.25) is None


def test_a_training_step_whose_activations_cannot_fit_is_refused_naming_what_fits(tiny):
    data = validate(SEED_ROWS)
    longest = max(len(ids) for ids in tiny.tokenizer(list(data.texts))["input_ids"])
    shape = shape_of(tiny.model)
    per_example = activation_bytes(shape, longest, 1, mode="training")
    budget = Budget(memory_gb=3.5 * per_example / ACTIVATION_SHARE / 1e9)  # 3 examples per step fit, 4 don't
    assert ft.most_batch(tiny.model, longest, budget) == 3
    ft.check_training_step(shape, 3, longest, budget)
    with pytest.raises(OverBudget, match=rf"^One training step of 4 examples of up to {longest} tokens "
                                         rf"\({4 * longest} tokens\) needs about .* of activations; one request may "
                                         r"use .* for them\. Lower the batch size to 3, or lower the max length to "
                                         r"(\d+) tokens, or freeze the encoder \(only the head trains\)\.$") as caught:
        run(data, Hyperparameters(batch_size=4), encoder=tiny.model, tokenizer=tiny.tokenizer, budget=budget)
    length = int(caught.value.args[0].split("max length to ")[1].split()[0])
    ft.check_training_step(shape, 4, length, budget)
    with pytest.raises(OverBudget):
        ft.check_training_step(shape, 4, length + 1, budget)
    ft.check_training_step(shape, 64, 512, budget, frozen=True)  # only the head trains: nothing to keep
    assert run(data, Hyperparameters(batch_size=3, epochs=1), encoder=tiny.model, tokenizer=tiny.tokenizer,
               budget=budget)[-1].result.steps == 3


def test_evaluation_batches_fit_memory_with_the_same_predictions(tiny, monkeypatch):
    rows = []
    original = ft.build_classifier

    def built(*args, **kwargs):
        model = original(*args, **kwargs)
        model.base_model.register_forward_hook(lambda module, inputs, output: rows.append(output[0].shape[0]))
        return model

    data = validate(SEED_ROWS)
    hp = Hyperparameters(freeze_encoder=True, epochs=1, learning_rate=1e-3)
    with monkeypatch.context() as patched:
        _patch_build(patched, built)
        small = run(data, hp, encoder=tiny.model, tokenizer=tiny.tokenizer, budget=Budget(memory_gb=1e-9))[-1].result
    whole = run(data, hp, encoder=tiny.model, tokenizer=tiny.tokenizer)[-1].result
    assert rows == [1] * 8  # the frozen encoder's outputs, one example per forward
    assert [(p.before, p.after) for p in small.predictions] == [(p.before, p.after) for p in whole.predictions]
    assert [p.after_score for p in small.predictions] == pytest.approx([p.after_score for p in whole.predictions],
                                                                       abs=1e-6)


def test_save_pretrained_zip_reloads_with_the_users_labels(tiny, tmp_path):
    rows = [("great", "<b>good</b>"), ("fine", "<b>good</b>"), ("awful", "bad news"), ("poor", "bad news")]
    finished = _tiny_run(tiny, rows=rows, epochs=1)[-1]
    trained = finished.trained
    archive = trained.save_zip(tmp_path / "session")
    with zipfile.ZipFile(archive) as handle:
        names = set(handle.namelist())
        handle.extractall(tmp_path / "unzipped")
    assert {"finetuned-model/config.json", "finetuned-model/model.safetensors",
            "finetuned-model/tokenizer.json"} <= names
    folder = tmp_path / "unzipped" / "finetuned-model"
    reloaded = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    assert reloaded.config.id2label == {0: "<b>good</b>", 1: "bad news"}
    assert reloaded.config.label2id == {"<b>good</b>": 0, "bad news": 1}
    with torch.no_grad():
        logits = reloaded(**tokenizer(["a lovely day"], return_tensors="pt")).logits.softmax(-1)[0]
    (label, _score, probabilities) = trained.predict(["a lovely day"])[0]
    assert probabilities == pytest.approx(logits.tolist(), abs=1e-5)
    assert label == ("<b>good</b>", "bad news")[int(logits.argmax())]


# --- The seed's recipe on the real offline MiniLM ---------------------------------------------------------------

@pytest.fixture(scope="module")
def seed_recipe(cache):
    loaded = cache.load(OFFLINE_MODEL_ID, Head.ENCODER)
    events = run(validate(SEED_ROWS), Hyperparameters(), encoder=loaded.model, tokenizer=loaded.tokenizer,
                 label=loaded.label, new_texts=examples.TUTORIAL_TEST_TEXTS)
    return events[-1]


def test_seed_recipe_loss_falls_on_minilm(seed_recipe):
    result = seed_recipe.result
    # The seed's loop: 8 reviews, batch 4, 3 epochs = 6 AdamW steps at 2e-5 (warmup int(6 * 0.1) = 0 steps).
    assert result.steps == 6 and result.learning_rates == result.schedule and result.schedule[0] == 2e-5
    first, *_, last = result.epoch_metrics
    assert last.train_loss < first.train_loss
    assert result.total_params == result.trainable_params == 22_713_986  # MiniLM + a 770-weight head


def test_seed_recipe_classifies_the_seed_test_sentences(seed_recipe):
    """The seed prints Positive, Negative. With its recipe (six steps at 2e-5 from a fresh head) MiniLM gets both
    right with this fixed seed, but only just: each probability is within 0.01 of 50%. Six small steps barely move
    the head; the README says so rather than claim the seed's confident output."""
    after = {t.text: t for t in seed_recipe.result.new_texts}
    names = seed_recipe.result.labels
    for text, label in zip(examples.TUTORIAL_TEST_TEXTS, examples.TUTORIAL_TEST_LABELS):
        assert after[text].after == names[label]
        assert 0.5 <= after[text].after_score < 0.51


# --- The benchmark case ------------------------------------------------------------------------------------------

def test_bench_case_times_the_labs_loop_against_the_bare_loop(cache):
    from bench.cases import select_cases
    from bench.harness import load_case_models, run_cases

    (case,) = select_cases(["finetune"])
    models = load_case_models(cache, case, "tiny:encoder")
    (sample,) = case.make_samples(models)
    assert sample.name == "32 reviews, 1 epoch, batch 4" and len(sample.text.splitlines()) == 32
    lab = case.run_task(models, sample)
    bare = case.run_baseline(models, sample)
    assert len([e for e in lab if isinstance(e, StepEvent)]) == len(bare) == 8  # the same 8 steps of 4 examples
    (result,) = run_cases(cache, "tiny:encoder", (case,), repeats=2, min_batch_s=0.0,
                          refs={"finetune": "tiny:encoder"})
    assert (result.task.label, result.baseline.label) == ("lab fit()", "bare loop") and not result.speedup
    assert result.ratio == result.task.median_s / result.baseline.median_s
