"""What each task's evaluation produces, and which way each metric is better.

One place for these facts, in the spec's package because a spec names them: the spec
checks thresholds, tolerances and the tuner's objective against it, the blessing compares
with the blessed model by it, the tuner and early stopping take their direction from it,
and none of them is imported by the spec (the dependency runs one way). Pure Python, cheap
to import at DAG parse time; the functions that compute the metrics are in
:mod:`mlrail.evaluation.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlrail.spec.tasks import BINARY, CLASSIFICATION, MULTICLASS, REGRESSION


@dataclass(frozen=True)
class Metric:
    name: str
    tasks: frozenset[str]
    higher_is_better: bool
    meaning: str


METRICS = {
    m.name: m
    for m in (
        Metric("auc", frozenset({BINARY}), True, "area under the ROC curve"),
        Metric("accuracy", CLASSIFICATION, True, "share of rows whose class is right"),
        Metric("log_loss", CLASSIFICATION, False, "cross-entropy of the true class"),
        Metric("precision", frozenset({BINARY}), True, "share of predicted positives that are"),
        Metric("recall", frozenset({BINARY}), True, "share of positives predicted"),
        Metric("macro_f1", frozenset({MULTICLASS}), True, "F1 averaged over classes"),
        Metric("weighted_f1", frozenset({MULTICLASS}), True, "F1 averaged by class support"),
        Metric("rmse", frozenset({REGRESSION}), False, "root mean squared error"),
        Metric("mae", frozenset({REGRESSION}), False, "mean absolute error"),
        Metric("mape", frozenset({REGRESSION}), False, "mean absolute % error, 0 labels skipped"),
        Metric("r2", frozenset({REGRESSION}), True, "coefficient of determination"),
    )
}
# What Keras logs for every model (the compiled loss), for the tuner and early stopping.
LOSS = "loss"


def metrics_for(task: str) -> list[str]:
    """The scalar metrics evaluation reports for ``task``, in a stable order."""
    return [name for name, metric in METRICS.items() if task in metric.tasks]


def higher_is_better(name: str) -> bool:
    """Whether a larger value of metric ``name`` is better; Keras' ``val_`` prefix and the
    loss are understood. Raises KeyError for a name the catalogue does not know."""
    base = name.removeprefix("val_")
    if base == LOSS or base.endswith("_loss"):
        return False
    return METRICS[base].higher_is_better


def direction(name: str) -> str:
    """``"max"`` or ``"min"``: the form KerasTuner and Keras callbacks take."""
    return "max" if higher_is_better(name) else "min"


def training_metrics_for(task: str) -> list[str]:
    """Names a tuner objective or early stopping may watch: the loss and the task's
    metrics, on the eval split (``val_``) or the train split."""
    names = [LOSS, *metrics_for(task)]
    return [f"val_{n}" for n in names] + names


def default_objective(task: str) -> str:
    """The tuner's objective when the spec names none: AUC for binary classification,
    the validation loss otherwise."""
    return "val_auc" if task == BINARY else f"val_{LOSS}"
