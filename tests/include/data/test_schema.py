import pandas as pd
import pytest

from mlrail.data.schema import SchemaError, infer_schema
from mlrail.data.statistics import table_statistics
from mlrail.spec import SpecError, ValidationSpec

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
    assert _schema()["label"] == {
        "name": "y",
        "type": "int",
        "task": "binary_classification",
        "classes": [0, 1],
        "positive": 1,
    }


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
    # The file's format is the spec's (mlrail.spec.overrides): a SpecError naming the field.
    with pytest.raises(SpecError, match="s.yaml: field 'features.fare.maximum': expected one of"):
        apply_overrides(schema, {"features": {"fare": {"maximum": 3}}}, "s.yaml")
    with pytest.raises(SchemaError, match="s.yaml: features.x: a numeric feature needs min, max"):
        apply_overrides(
            schema, {"pin": True, "features": {"x": {"type": "float", "role": "numeric"}}}, "s.yaml"
        )


def test_check_columns_names_a_numeric_feature_that_holds_strings():
    import pyarrow as pa

    from mlrail.data.schema import check_columns
    from mlrail.errors import DataError

    columns = pa.schema([("fare", pa.string()), ("area", pa.int64()), ("pay", pa.string())])
    with pytest.raises(
        DataError,
        match="train split: feature 'fare' holds strings, the schema "
        "says float: fix the data, or list the column in data.features.categorical",
    ):
        check_columns(columns.append(pa.field("y", pa.int64())), _schema(), "the train split")
    fine = pa.schema([("fare", pa.float32()), ("area", pa.int32()), ("pay", pa.string())])
    check_columns(fine.append(pa.field("y", pa.bool_())), _schema(), "the train split")
    with pytest.raises(DataError, match="label column 'y' is missing"):
        check_columns(fine, _schema(), "the train split")


def test_regression_label_of_strings_is_named_with_what_to_set():
    import pyarrow as pa

    from mlrail.data.schema import check_columns
    from mlrail.errors import DataError

    frame = _train().assign(y=[1.5, 2.0, 3.25, 4.0] * 10)
    schema = infer_schema(table_statistics(frame), "y", "regression", [], [], 10)
    columns = pa.schema([("fare", pa.float64()), ("area", pa.int64()), ("pay", pa.string())])
    with pytest.raises(
        DataError,
        match="label 'y' holds strings, the schema says float: set task: multiclass_classification",
    ):
        check_columns(columns.append(pa.field("y", pa.string())), schema, "the eval split")
