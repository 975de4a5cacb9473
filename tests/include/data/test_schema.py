import pandas as pd
import pytest

from mlrail.data.schema import BLOCKING, WARNING, SchemaError, infer_schema, validate_statistics
from mlrail.data.statistics import table_statistics
from mlrail.spec import ValidationSpec

LIMITS = vars(ValidationSpec())


def _train():
    return pd.DataFrame(
        {
            "fare": [5.0 + 0.175 * i for i in range(40)],  # distinct rows: no duplicates
            "area": [8, 32, 8, 28] * 10,
            "pay": ["Cash", "Card", "Card", "Cash"] * 10,
            "y": [0, 1, 1, 0] * 10,
        }
    )


def _schema():
    return infer_schema(table_statistics(_train()), "y", "binary_classification", [], [], 10)


def test_inferred_roles_ranges_and_domains():
    features = {f["name"]: f for f in _schema()["features"]}
    assert features["fare"]["role"] == "numeric" and features["fare"]["max"] == pytest.approx(
        11.825
    )
    assert features["area"]["role"] == "categorical"
    assert sorted(features["area"]["domain"]) == [8, 28, 32]
    assert features["pay"]["type"] == "string" and not features["pay"]["nullable"]
    assert _schema()["label"] == {"name": "y", "type": "int", "values": [0, 1]}


def test_label_must_fit_the_task():
    frame = _train().assign(y=[0, 1, 2, 0] * 10)
    with pytest.raises(SchemaError, match="binary_classification needs exactly 2"):
        infer_schema(table_statistics(frame), "y", "binary_classification", [], [], 10)


def _kinds(frame, split="eval"):
    anomalies = validate_statistics({split: table_statistics(frame)}, _schema(), LIMITS)
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


def test_schema_overrides_and_pinning():
    from mlrail.data.schema import apply_overrides

    schema = _schema()
    changed = apply_overrides(
        schema,
        {"features": {"fare": {"min": 0.0, "max": 1000.0}, "area": {"role": "categorical"}}},
        "s.yaml",
    )
    fare = {f["name"]: f for f in changed["features"]}["fare"]
    assert (fare["min"], fare["max"], fare["type"]) == (0.0, 1000.0, "float")
    assert changed["overrides"] == "s.yaml"

    pinned = apply_overrides(
        schema,
        {
            "pin": True,
            "features": {"pay": {"type": "string", "role": "categorical", "domain": ["Cash"]}},
        },
        "s.yaml",
    )
    assert [f["name"] for f in pinned["features"]] == ["pay"]

    with pytest.raises(SchemaError, match="s.yaml: features.tips: no such feature"):
        apply_overrides(schema, {"features": {"tips": {"min": 0}}}, "s.yaml")
    with pytest.raises(SchemaError, match="s.yaml: features.fare.maximum: unknown field"):
        apply_overrides(schema, {"features": {"fare": {"maximum": 3}}}, "s.yaml")
    with pytest.raises(SchemaError, match="s.yaml: features.x: a numeric feature needs min, max"):
        apply_overrides(
            schema, {"pin": True, "features": {"x": {"type": "float", "role": "numeric"}}}, "s.yaml"
        )
