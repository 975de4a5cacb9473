import numpy as np
import pytest

from mlrail.evaluation.blessing import decide_blessing
from mlrail.evaluation.metrics import auc, binary_metrics, regression_metrics


def test_auc_literal_and_ties():
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert auc([1, 1], [0.2, 0.3]) is None


def test_binary_metrics_literal():
    m = binary_metrics(np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.4, 0.6]))
    assert m["accuracy"] == 0.5 and m["precision"] == 0.5 and m["recall"] == 0.5
    expected = -np.mean(np.log([0.9, 0.8, 0.4, 0.4]))
    assert m["log_loss"] == pytest.approx(expected)


def test_regression_metrics_literal():
    m = regression_metrics([1.0, 2.0], [2.0, 4.0])
    assert m["rmse"] == pytest.approx(np.sqrt(2.5)) and m["mae"] == 1.5


THRESHOLDS = {"auc": {"min": 0.7, "max": None}}


def test_threshold_failure_is_explained():
    verdict = decide_blessing({"auc": 0.65}, THRESHOLDS, None, None, {})
    assert not verdict.lets_through and verdict.state == "failed"
    assert verdict.sentence == "Not blessed: auc 0.6500 is not >= 0.7."
    check = verdict.to_dict()["checks"][0]
    assert (check["state"], check["metric"], check["slice"], check["bound"]) == (
        "failed", "auc", "test", 0.7,
    )


def test_baseline_comparison_both_directions():
    ok = decide_blessing(
        {"auc": 0.795, "log_loss": 0.40},
        THRESHOLDS,
        {"auc": 0.80, "log_loss": 0.39},
        3,
        {"auc": 0.01, "log_loss": 0.02},
    )
    assert ok.lets_through and "vs blessed v3" in ok.sentence
    assert ok.compared_with == "blessed v3"
    worse = decide_blessing(
        {"auc": 0.78, "log_loss": 0.45},
        THRESHOLDS,
        {"auc": 0.80, "log_loss": 0.39},
        3,
        {"auc": 0.01, "log_loss": 0.02},
    )
    failed = {c.metric for c in worse.checks if c.state == "failed"}
    assert not worse.lets_through and failed == {"auc", "log_loss"}
    assert "fell beyond the allowed 0.01" in worse.sentence
    assert "rose beyond the allowed 0.02" in worse.sentence


def test_missing_metric_fails_its_check():
    verdict = decide_blessing({"auc": None}, THRESHOLDS, None, None, {})
    assert not verdict.lets_through and "auc n/a" in verdict.sentence


def test_nothing_to_check_is_blessed_and_says_why():
    verdict = decide_blessing({"auc": 0.5}, {}, None, None, {})
    assert verdict.lets_through and verdict.state == "passed"
    assert verdict.sentence == (
        "Blessed. No thresholds configured and no blessed model to compare with."
    )
