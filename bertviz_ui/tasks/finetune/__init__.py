"""Fine-tuning lab: validate labelled examples, train a sequence classifier on a copy of an encoder, evaluate it
honestly (held-out split or cross-validation), and compare it with a TF-IDF + logistic-regression baseline.

One module per job: limits (bounds, memory and time), data (rows, CSV, validation), plan (split, schedule, setup
preview), model (building the classifier, parameter counts, its head on stored features), features (encoded texts,
frozen-encoder outputs, predictions), training (the fit loop and its events), evaluate (metrics and the baseline),
trained (the kept model), compare (the kept model vs. the encoder it started from), run (finetune(), the whole run). Everything other code uses is importable from here.
"""

from bertviz_ui.tasks.finetune.compare import (
    FinetuneComparison,
    HeadChange,
    Neighbour,
    check_compare_input,
    compare_to_base,
    js_distance,
    linear_cka,
)
from bertviz_ui.tasks.finetune.data import (
    TrainingData,
    parse_csv,
    parse_new_texts,
    read_csv_file,
    table_rows,
    validate,
)
from bertviz_ui.tasks.finetune.evaluate import (
    BaselineResult,
    ClassMetrics,
    Evaluation,
    ExamplePrediction,
    TextPrediction,
    baseline_scores,
    class_metrics,
    evaluate_run,
)
from bertviz_ui.tasks.finetune.features import Encoded, encoder_features, logits, predict_ids
from bertviz_ui.tasks.finetune.limits import (
    ADAM_EPS,
    BATCH_RANGE,
    CLIP_RANGE,
    DEFAULTS,
    EPOCH_RANGE,
    EVAL_BATCH,
    HOLDOUT_FRACTION,
    HOLDOUT_MIN_EXAMPLES,
    IMBALANCE_RATIO,
    LENGTH_RANGE,
    LR_RANGE,
    MAX_CSV_BYTES,
    MAX_EXAMPLES,
    MAX_FOLDS,
    MAX_LABEL_CHARS,
    MAX_LABELS,
    MAX_NEW_TEXTS,
    MAX_TEXT_CHARS,
    MIN_PER_LABEL,
    RESERVE_MARGIN,
    RESERVE_S,
    SEED_RANGE,
    WARMUP_RANGE,
    WEIGHT_DECAY,
    Hyperparameters,
    check_hyperparameters,
    check_run_time,
    check_training_step,
    most_batch,
    training_deadline,
)
from bertviz_ui.tasks.finetune.model import (
    ParameterCounts,
    build_classifier,
    classifier_config,
    count_parameters,
    freeze,
    head_on_features,
    parameter_counts,
)
from bertviz_ui.tasks.finetune.plan import (
    SetupPreview,
    Split,
    make_scheduler,
    plan_split,
    planned_schedule,
    preview_setup,
    steps_for,
)
from bertviz_ui.tasks.finetune.run import FinetuneResult, Finished, finetune
from bertviz_ui.tasks.finetune.trained import Classification, TrainedModel
from bertviz_ui.tasks.finetune.training import Cancelled, Clock, EpochMetrics, Event, PhaseEvent, StepEvent, fit

__all__ = [
    "ADAM_EPS", "BATCH_RANGE", "CLIP_RANGE", "DEFAULTS", "EPOCH_RANGE", "EVAL_BATCH", "HOLDOUT_FRACTION",
    "HOLDOUT_MIN_EXAMPLES", "IMBALANCE_RATIO", "LENGTH_RANGE", "LR_RANGE", "MAX_CSV_BYTES", "MAX_EXAMPLES",
    "MAX_FOLDS", "MAX_LABELS", "MAX_LABEL_CHARS", "MAX_NEW_TEXTS", "MAX_TEXT_CHARS", "MIN_PER_LABEL",
    "RESERVE_MARGIN", "RESERVE_S", "SEED_RANGE", "WARMUP_RANGE", "WEIGHT_DECAY",
    "BaselineResult", "Cancelled", "ClassMetrics", "Classification", "Clock", "Encoded", "EpochMetrics",
    "Evaluation", "Event", "ExamplePrediction", "FinetuneComparison", "FinetuneResult", "Finished", "HeadChange",
    "Hyperparameters", "Neighbour", "ParameterCounts", "PhaseEvent", "SetupPreview", "Split", "StepEvent",
    "TextPrediction", "TrainedModel", "TrainingData",
    "baseline_scores", "build_classifier", "check_compare_input", "check_hyperparameters", "check_run_time",
    "check_training_step", "class_metrics", "classifier_config", "compare_to_base", "count_parameters",
    "encoder_features", "evaluate_run", "finetune", "fit", "freeze", "head_on_features", "js_distance",
    "linear_cka", "logits", "make_scheduler", "most_batch", "parameter_counts", "parse_csv", "parse_new_texts",
    "plan_split", "planned_schedule", "predict_ids", "preview_setup", "read_csv_file", "steps_for", "table_rows",
    "training_deadline", "validate",
]
