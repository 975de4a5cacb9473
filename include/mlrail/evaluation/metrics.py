"""Evaluation metrics as pure functions of labels and predictions."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

EPS = 1e-7


def auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum identity (ties count half); None when one class is absent."""
    labels = np.asarray(labels).astype(bool)
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def binary_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5
) -> dict[str, float | None]:
    labels = np.asarray(labels).astype(int)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), EPS, 1 - EPS)
    predicted = (p >= threshold).astype(int)
    true_pos = int(((predicted == 1) & (labels == 1)).sum())
    return {
        "auc": auc(labels, p),
        "accuracy": float((predicted == labels).mean()),
        "log_loss": float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))),
        "precision": true_pos / int(predicted.sum()) if predicted.sum() else None,
        "recall": true_pos / int(labels.sum()) if labels.sum() else None,
        "example_count": int(len(labels)),
        "positive_rate": float(labels.mean()),
    }


def regression_metrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    error = np.asarray(predictions, dtype=np.float64) - np.asarray(labels, dtype=np.float64)
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "example_count": int(len(error)),
    }
