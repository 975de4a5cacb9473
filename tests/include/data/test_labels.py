"""The label: inferred per task from the statistics, encoded as training targets."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlrail.data.labels import LabelError, class_names, encode, encode_table, infer_label
from mlrail.data.statistics import table_statistics


def _label(values, task, positive=None):
    stats = table_statistics(pd.DataFrame({"y": values}))["features"]["y"]
    return infer_label(stats, "y", task, positive)


@pytest.mark.parametrize(
    "values, classes, positive",
    [
        ([0, 1, 1, 0], [0, 1], 1),
        ([True, False, True, True], [0, 1], 1),  # booleans are numbers 0/1
        (["no", "yes", "yes", "no"], ["no", "yes"], "yes"),
        (["TRUE", "false", "false", "false"], ["false", "TRUE"], "TRUE"),
        ([1.0, 0.0, 1.0, 1.0], [0, 1], 1),
    ],
)
def test_binary_obvious_pairs_need_no_positive_label(values, classes, positive):
    label = _label(values, "binary_classification")
    assert label["classes"] == classes and label["positive"] == positive


def test_binary_with_two_arbitrary_strings_needs_positive_label():
    values = ["Adelie", "Gentoo", "Gentoo", "Adelie"]
    with pytest.raises(LabelError, match="set data.positive_label to the one that is the positive"):
        _label(values, "binary_classification")
    label = _label(values, "binary_classification", positive="gentoo")  # case is ignored
    assert label["classes"] == ["Adelie", "Gentoo"] and label["positive"] == "Gentoo"
    with pytest.raises(LabelError, match="data.positive_label 'Chinstrap' is not a value"):
        _label(values, "binary_classification", positive="Chinstrap")


def test_binary_needs_exactly_two_values():
    with pytest.raises(LabelError, match="3 distinct values .*set task: multiclass_classification"):
        _label([0, 1, 2, 1], "binary_classification")


def test_multiclass_classes_are_sorted_integers_or_strings():
    label = _label(["Gentoo", "Adelie", "Chinstrap", "Adelie"], "multiclass_classification")
    assert label == {
        "name": "y",
        "type": "string",
        "task": "multiclass_classification",
        "classes": ["Adelie", "Chinstrap", "Gentoo"],
    }
    assert _label([2, 0, 1, 10], "multiclass_classification")["classes"] == [0, 1, 2, 10]
    with pytest.raises(LabelError, match="only the value"):
        _label(["a", "a"], "multiclass_classification")


def test_fractional_or_too_many_values_are_not_classes():
    with pytest.raises(LabelError, match="holds fractional numbers .*set task: regression"):
        _label([0.5, 1.5, 2.0, 0.5], "multiclass_classification")
    many = table_statistics(pd.DataFrame({"y": np.arange(500)}), categorical_max_unique=100)
    with pytest.raises(LabelError, match="too many distinct values"):
        infer_label(many["features"]["y"], "y", "multiclass_classification")


def test_regression_needs_numbers():
    assert _label([1.5, 2.0, 3.0, 4.0], "regression") == {
        "name": "y",
        "type": "float",
        "task": "regression",
    }
    with pytest.raises(LabelError, match="label 'y' holds strings; regression needs numbers"):
        _label(["a", "b", "c", "d"], "regression")


def test_targets_are_class_indexes_and_unknown_classes_are_left_out():
    label = _label(["Gentoo", "Adelie", "Chinstrap", "Adelie"], "multiclass_classification")
    column = pa.array(["Chinstrap", "Adelie", "Emperor", "Gentoo"])
    assert encode(column, label).tolist() == [1.0, 0.0, -1.0, 2.0]
    table, targets = encode_table(pa.table({"x": [1, 2, 3, 4], "y": column}), label)
    assert table.column("x").to_pylist() == [1, 2, 4] and targets.tolist() == [1.0, 0.0, 2.0]
    assert class_names(label) == ["Adelie", "Chinstrap", "Gentoo"]

    binary = _label(["no", "yes", "yes", "no"], "binary_classification")
    assert encode(pa.array(["yes", "no"]), binary).tolist() == [1.0, 0.0]
    numbers = _label([0, 1, 1, 0], "binary_classification")
    # The same classes read as floats (a CSV chunk) or booleans encode alike.
    assert encode(pa.array([1.0, 0.0]), numbers).tolist() == [1.0, 0.0]
    assert encode(pa.array([True, False]), numbers).tolist() == [1.0, 0.0]
    assert class_names(numbers) == ["0", "1"]

    value = _label([1.5, 2.0, 3.0, 4.0], "regression")
    assert encode(pa.array([7, 2.5]), value).tolist() == [7.0, 2.5]
