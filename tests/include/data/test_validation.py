import pandas as pd
import pytest

from mlrail.data.statistics import table_statistics
from mlrail.data.validation import BLOCKING, WARNING, validate_statistics
from mlrail.spec import ValidationSpec
from tests.include.data.test_schema import _schema, _train

LIMITS = vars(ValidationSpec())


def _kinds(frame, split="eval", limits=LIMITS, schema=None):
    schema = schema or _schema()
    anomalies = validate_statistics({split: table_statistics(frame)}, schema, limits)
    return {(a.kind, a.severity, a.column) for a in anomalies}, anomalies


def test_clean_split_has_no_anomalies():
    assert _kinds(_train())[0] == set()


def test_each_anomaly_kind():
    kinds, anomalies = _kinds(_train().drop(columns=["pay"]).assign(extra=1))
    assert ("missing_column", BLOCKING, "pay") in kinds
    assert ("extra_column", WARNING, "extra") in kinds

    kinds, _ = _kinds(_train().assign(fare=["x"] * 40))
    assert ("type_change", BLOCKING, "fare") in kinds

    kinds, _ = _kinds(_train().assign(fare=[5.0, 50.0, 7.0, 8.0] * 10))
    assert ("out_of_range", WARNING, "fare") in kinds

    kinds, anomalies = _kinds(_train().assign(pay=["Crypto"] * 40))
    assert ("unseen_categories", BLOCKING, "pay") in kinds
    (unseen,) = [a for a in anomalies if a.kind == "unseen_categories"]
    assert unseen.details["examples"] == ["Crypto"] and "never seen in training" in unseen.message

    kinds, _ = _kinds(_train().assign(pay=["Cash", "Card", "Card", "Crypto"] * 10))
    assert ("unseen_categories", WARNING, "pay") in kinds

    kinds, _ = _kinds(_train().assign(area=[8, None, None, 28] * 10))
    assert ("null_rate_increase", WARNING, "area") in kinds

    kinds, _ = _kinds(_train().iloc[:0])
    assert kinds == {("empty_split", BLOCKING, None)}


def test_duplicates_and_blocking_out_of_range():
    frame = pd.concat([_train()] * 3, ignore_index=True)
    kinds, anomalies = _kinds(frame)
    (dup,) = [a for a in anomalies if a.kind == "duplicate_rows"]
    assert dup.severity == WARNING and dup.details["count"] == 80
    assert "80 rows (66.7%) are exact duplicates" in dup.message

    kinds, anomalies = _kinds(_train().assign(fare=[500.0 + i for i in range(40)]))
    (far,) = [a for a in anomalies if a.kind == "out_of_range"]
    assert far.severity == BLOCKING and far.details["share"] == pytest.approx(1.0)
    assert "about 100.0% of 'fare' lies outside the training range" in far.message


@pytest.mark.parametrize("severity", ["warning", "blocking"])
def test_a_label_class_train_lacks_is_reported_by_spec(severity):
    limits = {**LIMITS, "unseen_label_class": severity}
    kinds, anomalies = _kinds(_train().assign(y=[0, 1, 2, 2] * 10), limits=limits)
    assert ("unseen_label_class", severity, "y") in kinds
    (unseen,) = [a for a in anomalies if a.kind == "unseen_label_class"]
    assert unseen.details["count"] == 20 and unseen.details["examples"] == [2]
    assert "20 rows have label classes the train split lacks, e.g. [2]" in unseen.message


def test_a_label_that_changed_type_is_blocking():
    kinds, _ = _kinds(_train().assign(y=["no", "yes", "yes", "no"] * 10))
    assert ("type_change", BLOCKING, "y") in kinds
