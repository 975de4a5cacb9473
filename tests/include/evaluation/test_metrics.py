"""Metric functions on literal data, checked by hand."""

import math

import numpy as np
import pytest

from mlrail.evaluation.metrics import (
    binary_metrics,
    multiclass_metrics,
    regression_metrics,
    task_metrics,
)
from mlrail.spec.metrics import direction, higher_is_better, metrics_for

CLASSES = ["a", "b", "c"]
# Six rows: true classes and the model's probabilities.
TARGETS = np.array([0, 0, 1, 1, 2, 2])
PROBABILITIES = np.array(
    [
        [0.7, 0.2, 0.1],  # a -> a
        [0.3, 0.6, 0.1],  # a -> b
        [0.1, 0.8, 0.1],  # b -> b
        [0.2, 0.5, 0.3],  # b -> b
        [0.1, 0.1, 0.8],  # c -> c
        [0.5, 0.1, 0.4],  # c -> a
    ]
)


def test_multiclass_metrics_by_hand():
    m = multiclass_metrics(TARGETS, PROBABILITIES, CLASSES)
    assert m["accuracy"] == pytest.approx(4 / 6)
    chosen = [0.7, 0.3, 0.8, 0.5, 0.8, 0.4]
    assert m["log_loss"] == pytest.approx(-np.mean(np.log(chosen)))
    # a: precision 1/2 (a, c->a), recall 1/2; b: 2/3, 2/2; c: 1/1, 1/2.
    assert m["per_class"]["a"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    )
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["b"]["recall"] == pytest.approx(1.0)
    f1 = {"a": 0.5, "b": 0.8, "c": 2 / 3}
    assert m["per_class"]["c"]["f1"] == pytest.approx(f1["c"])
    assert m["macro_f1"] == pytest.approx(np.mean(list(f1.values())))
    assert m["weighted_f1"] == pytest.approx(np.mean(list(f1.values())))  # equal supports
    assert m["confusion_matrix"] == {
        "classes": CLASSES,
        "matrix": [[1, 1, 0], [0, 2, 0], [1, 0, 1]],
    }


def test_multiclass_rows_of_unknown_classes_are_left_out_and_counted():
    targets = np.append(TARGETS, [-1, -1])
    probabilities = np.vstack([PROBABILITIES, [[0.9, 0.05, 0.05]] * 2])
    m = multiclass_metrics(targets, probabilities, CLASSES)
    assert m["unseen_label_rows"] == 2 and m["example_count"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)


def test_weighted_f1_follows_the_support():
    targets = np.array([0, 0, 0, 1])
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.3, 0.7]])
    m = multiclass_metrics(targets, probabilities, ["x", "y"])
    # x: precision 1, recall 2/3 -> f1 0.8; y: precision 1/2, recall 1 -> f1 2/3.
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert m["weighted_f1"] == pytest.approx((3 * 0.8 + 2 / 3) / 4)


def test_regression_metrics_by_hand():
    labels = np.array([2.0, 4.0, 0.0, 10.0])
    predictions = np.array([3.0, 4.0, 1.0, 8.0])
    m = regression_metrics(labels, predictions)
    assert m["rmse"] == pytest.approx(math.sqrt((1 + 0 + 1 + 4) / 4))
    assert m["mae"] == pytest.approx((1 + 0 + 1 + 2) / 4)
    # The zero label is skipped, and the count says so.
    assert m["mape"] == pytest.approx((0.5 + 0 + 0.2) / 3)
    assert m["mape_skipped_zero_labels"] == 1
    spread = np.sum((labels - labels.mean()) ** 2)
    assert m["r2"] == pytest.approx(1 - 6 / spread)


def test_regression_without_spread_or_nonzero_labels():
    m = regression_metrics(np.zeros(3), np.array([1.0, 0.0, -1.0]))
    assert m["r2"] is None and m["mape"] is None and m["mape_skipped_zero_labels"] == 3


def test_binary_metrics_by_hand():
    m = binary_metrics(np.array([1, 0, 1, 0, 1]), np.array([0.9, 0.4, 0.35, 0.1, 0.8]))
    assert m["auc"] == pytest.approx(5 / 6)  # one of six pairs ranked the wrong way
    assert m["accuracy"] == pytest.approx(4 / 5)
    assert m["precision"] == pytest.approx(1.0) and m["recall"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "task, predictions",
    [
        ("binary_classification", np.array([0.9, 0.2, 0.6, 0.4, 0.7, 0.1])),
        ("multiclass_classification", PROBABILITIES),
        ("regression", np.array([0.1, 0.2, 0.9, 1.2, 2.2, 1.9])),
    ],
)
def test_each_task_reports_exactly_the_catalogues_metrics(task, predictions):
    targets = TARGETS % 2 if task == "binary_classification" else TARGETS
    scalars = {
        name
        for name, value in task_metrics(task, targets, predictions, CLASSES).items()
        if isinstance(value, float)
    }
    # positive_rate describes the labels, not the model: context, not a metric.
    assert scalars - {"positive_rate"} == set(metrics_for(task))


def test_directions_come_from_the_catalogue():
    assert higher_is_better("auc") and higher_is_better("val_r2")
    assert not higher_is_better("val_loss") and not higher_is_better("rmse")
    assert direction("val_macro_f1") == "max" and direction("mape") == "min"
    with pytest.raises(KeyError):
        higher_is_better("val_my_metric")
