"""Evaluation metrics as pure functions of targets and predictions, one per task.

Targets are what mlrail.data.labels encodes: the value (regression) or the class index
(classification). Rows whose class the model does not know (``UNKNOWN``) cannot be
scored by a classifier: they are left out and counted in ``unseen_label_rows``. The
scalar metrics each function returns are exactly those spec.metrics lists for its
task (a test holds them to it); the rest (counts, per-class tables) is context.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlrail.data.labels import UNKNOWN
from mlrail.spec.tasks import BINARY, MULTICLASS, REGRESSION

EPS = 1e-7


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum identity (ties count half); None when one class is absent."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _known(targets: np.ndarray) -> tuple[np.ndarray, int]:
    targets = np.asarray(targets)
    known = targets != UNKNOWN
    return known, int((~known).sum())


def binary_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5
) -> dict[str, Any]:
    """AUC, accuracy, log loss, precision and recall of the positive class (target 1)."""
    known, unseen = _known(labels)
    labels = np.asarray(labels)[known].astype(int)
    p = np.clip(np.asarray(probabilities, dtype=np.float64).reshape(-1)[known], EPS, 1 - EPS)
    predicted = (p >= threshold).astype(int)
    true_pos = int(((predicted == 1) & (labels == 1)).sum())
    return {
        "auc": auc(labels, p),
        "accuracy": float((predicted == labels).mean()) if labels.size else None,
        "log_loss": float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
        if labels.size
        else None,
        "precision": true_pos / int(predicted.sum()) if predicted.sum() else None,
        "recall": true_pos / int(labels.sum()) if labels.sum() else None,
        "example_count": int(labels.size),
        "positive_rate": float(labels.mean()) if labels.size else None,
        "unseen_label_rows": unseen,
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def _f1(precision: float | None, recall: float | None) -> float:
    if not precision or not recall:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def multiclass_metrics(
    targets: np.ndarray, probabilities: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    """Accuracy, log loss, macro and weighted F1, and per class: precision, recall, F1
    and support; the confusion matrix (rows: true class, columns: predicted class)."""
    known, unseen = _known(targets)
    targets = np.asarray(targets)[known].astype(int)
    p = np.asarray(probabilities, dtype=np.float64).reshape(len(known), -1)[known]
    if p.shape[1] != len(classes):
        raise ValueError(f"the model gives {p.shape[1]} probabilities for {len(classes)} classes")
    predicted = p.argmax(axis=1)
    k = len(classes)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (targets, predicted), 1)
    per_class, f1s, supports = {}, [], []
    for index, name in enumerate(classes):
        true_pos, support, called = (
            matrix[index, index],
            matrix[index].sum(),
            matrix[:, index].sum(),
        )
        precision, recall = _ratio(true_pos, called), _ratio(true_pos, support)
        f1 = _f1(precision, recall)
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": int(support),
        }
        if support or called:  # classes absent from the test split and never predicted
            f1s.append(f1)
            supports.append(int(support))
    chosen = np.clip(p[np.arange(len(targets)), targets], EPS, 1.0)
    total = int(sum(supports))
    return {
        "accuracy": _ratio(int(np.trace(matrix)), len(targets)),
        "log_loss": float(-np.mean(np.log(chosen))) if len(targets) else None,
        "macro_f1": float(np.mean(f1s)) if f1s else None,
        "weighted_f1": float(np.dot(f1s, supports) / total) if total else None,
        "example_count": int(len(targets)),
        "unseen_label_rows": unseen,
        "per_class": per_class,
        "confusion_matrix": {"classes": list(classes), "matrix": matrix.tolist()},
    }


def regression_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, Any]:
    """RMSE, MAE, MAPE (over the rows whose label is not zero: the count skipped is in
    ``mape_skipped_zero_labels``) and R² (None when the labels do not vary)."""
    labels = np.asarray(labels, dtype=np.float64)
    error = np.asarray(predictions, dtype=np.float64).reshape(-1) - labels
    nonzero = labels != 0
    spread = float(np.sum((labels - labels.mean()) ** 2)) if labels.size else 0.0
    return {
        "rmse": float(np.sqrt(np.mean(error**2))) if labels.size else None,
        "mae": float(np.mean(np.abs(error))) if labels.size else None,
        "mape": float(np.mean(np.abs(error[nonzero] / labels[nonzero]))) if nonzero.any() else None,
        "r2": 1.0 - float(np.sum(error**2)) / spread if spread else None,
        "example_count": int(labels.size),
        "mape_skipped_zero_labels": int((~nonzero).sum()),
    }


def task_metrics(
    task: str, targets: np.ndarray, predictions: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    """The metrics of ``task``; ``predictions`` are the model's score (binary),
    probabilities (multiclass) or value (regression)."""
    if task == REGRESSION:
        return regression_metrics(targets, predictions)
    if task == MULTICLASS:
        return multiclass_metrics(targets, predictions, classes)
    if task == BINARY:
        return binary_metrics(targets, predictions)
    raise ValueError(f"unknown task {task!r}")
