"""How good the trained model is: per-class metrics and the confusion matrix on examples it never trained on, every
prediction before and after training, and a TF-IDF + logistic-regression baseline on the very same split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bertviz_ui.tasks.finetune.data import TrainingData
from bertviz_ui.tasks.finetune.plan import Split
from bertviz_ui.tasks.finetune.training import EpochMetrics


@dataclass(frozen=True)
class ClassMetrics:
    """Precision, recall and F1 of one class on the evaluated examples."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class BaselineResult:
    """TF-IDF (words and word pairs) + logistic regression, on the same split or folds."""

    name: str
    accuracy: float
    macro_f1: float
    predicted: tuple[str, ...]  # for the evaluated examples, in Example order
    new_texts: tuple[str, ...]  # for the new texts (trained on the final training set)


@dataclass(frozen=True)
class ExamplePrediction:
    """One example: its label, its role in the split, and the model's answer before and after training."""

    text: str
    label: str
    role: str  # "train", "held out" or "cross-validated"
    before: str
    before_score: float
    after: str
    after_score: float
    evaluated_as: str | None  # the prediction that counts for accuracy: held out, or out-of-fold


@dataclass(frozen=True)
class TextPrediction:
    """A new text's prediction before and after training, and the baseline's."""

    text: str
    before: str
    before_score: float
    after: str
    after_score: float
    baseline: str


@dataclass(frozen=True)
class Evaluation:
    """The kept model judged: metrics on the evaluated examples (held out, or out-of-fold) and every prediction."""

    n_evaluated: int
    per_class: tuple[ClassMetrics, ...]
    confusion: tuple[tuple[int, ...], ...]
    macro_f1: float | None
    predictions: tuple[ExamplePrediction, ...]
    new_texts: tuple[TextPrediction, ...]


def baseline_scores(texts: Sequence[str], label_ids: Sequence[int], split: Split, label_names: Sequence[str],
                    new_texts: Sequence[str]) -> BaselineResult:
    """TF-IDF + logistic regression on the split's folds: evaluated on exactly the examples the model is."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline

    def model():
        return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                             LogisticRegression(max_iter=1000))

    truth, predicted = [], []
    for train, held in split.folds:
        fitted = model().fit([texts[i] for i in train], [label_ids[i] for i in train])
        predicted += [int(p) for p in fitted.predict([texts[i] for i in held])]
        truth += [label_ids[i] for i in held]
    order = [i for _, held in split.folds for i in held]
    by_example = dict(zip(order, predicted))
    evaluated = sorted(by_example)
    final = model().fit([texts[i] for i in split.final_train], [label_ids[i] for i in split.final_train])
    new = [label_names[int(p)] for p in final.predict(list(new_texts))] if new_texts else []
    return BaselineResult(
        name="TF-IDF (words and word pairs) + logistic regression",
        accuracy=sum(t == p for t, p in zip(truth, predicted)) / len(truth),
        macro_f1=float(f1_score(truth, predicted, average="macro", labels=list(range(len(label_names))),
                                zero_division=0)),
        predicted=tuple(label_names[by_example[i]] for i in evaluated), new_texts=tuple(new))


def class_metrics(truth: Sequence[int], predicted: Sequence[int], names: Sequence[str]
                  ) -> tuple[tuple[ClassMetrics, ...], tuple[tuple[int, ...], ...], float]:
    """Per-class precision, recall, F1 and support, the confusion matrix (rows: truth) and the macro F1."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels,
                                                                     zero_division=0)
    matrix = confusion_matrix(truth, predicted, labels=labels)
    per_class = tuple(ClassMetrics(names[i], float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
                      for i in labels)
    return per_class, tuple(tuple(int(v) for v in row) for row in matrix), float(f1.mean())


def evaluate_run(data: TrainingData, split: Split, epochs: Sequence[EpochMetrics], before: torch.Tensor,
                 after: torch.Tensor, baseline: BaselineResult, new_texts: Sequence[str]) -> Evaluation:
    """Score the last epoch's predictions of the evaluated examples, and name every prediction.

    Args:
        data: the validated examples.
        split: how they were divided.
        epochs: each epoch's metrics (the last one's predictions are scored, when it has an accuracy).
        before: class probabilities of every example, then every new text, before training.
        after: the same after training.
        baseline: the baseline's result (its predictions of the new texts are shown beside the model's).
        new_texts: the texts to predict.
    """
    n = len(data.texts)
    evaluated: dict[int, int] = {}
    if epochs and epochs[-1].accuracy is not None:
        held = split.folds[0][1] if split.scheme == "holdout" else tuple(range(n))
        evaluated = dict(zip(held, epochs[-1].predicted))
    per_class, confusion, macro_f1 = ((), (), None)
    if evaluated:
        keys = sorted(evaluated)
        per_class, confusion, macro_f1 = class_metrics([data.label_ids[i] for i in keys],
                                                       [evaluated[i] for i in keys], data.label_names)
    names = data.label_names
    role_of = ("cross-validated" if split.scheme == "cross-validation" else None)
    held_set = set(split.folds[0][1]) if split.scheme == "holdout" else set()
    predictions = tuple(
        ExamplePrediction(
            text=data.texts[i], label=data.labels[i],
            role=role_of or ("held out" if i in held_set else "train"),
            before=names[int(before[i].argmax())], before_score=float(before[i].max()),
            after=names[int(after[i].argmax())], after_score=float(after[i].max()),
            evaluated_as=names[evaluated[i]] if i in evaluated else None)
        for i in range(n))
    new = tuple(
        TextPrediction(text=text, before=names[int(before[n + j].argmax())], before_score=float(before[n + j].max()),
                       after=names[int(after[n + j].argmax())], after_score=float(after[n + j].max()),
                       baseline=baseline.new_texts[j])
        for j, text in enumerate(new_texts))
    return Evaluation(n_evaluated=len(evaluated), per_class=per_class, confusion=confusion, macro_f1=macro_f1,
                      predictions=predictions, new_texts=new)
