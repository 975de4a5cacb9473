"""The label: what the schema records about it, and how its values become training targets.

The schema's label entry is inferred from the train split's statistics (``infer_label``):

* ``regression``: any numeric label, fed as float32;
* ``binary_classification``: exactly two values; ``classes`` is ``[negative, positive]``.
  The positive class is ``data.positive_label``, or the obvious one of a pair such as
  0/1, false/true, no/yes (case ignored); other pairs must name it;
* ``multiclass_classification``: two or more values (whole numbers or strings), the class
  vocabulary in sorted order.

A classification target is the class's index in ``classes``: 0/1 for binary, 0..k-1 for
multiclass. A value outside ``classes`` (a class that eval or test has and train does
not) has no index: validation reports it, and ``encode_table`` leaves those rows out of
what a model is fit or validated on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlrail.errors import DataError
from mlrail.spec.tasks import BINARY, REGRESSION

# Pairs whose positive member needs no data.positive_label (compared lower-cased).
OBVIOUS_PAIRS = {
    ("0", "1"),
    ("false", "true"),
    ("f", "t"),
    ("no", "yes"),
    ("n", "y"),
    ("negative", "positive"),
    ("neg", "pos"),
}
UNKNOWN = -1


class LabelError(DataError):
    """The label cannot be learnt as the spec's task says; the message says what to set."""


def _key(value: Any) -> str:
    return str(value).lower()


def _values(stats: dict[str, Any], name: str, task: str) -> list:
    if stats["kind"] != "string" and not stats["integral"]:
        raise LabelError(
            f"label {name!r} holds fractional numbers (e.g. {stats.get('min')}); {task} needs "
            "classes (whole numbers or strings): set task: regression, or use another label"
        )
    if stats["unique"] is None or not stats.get("top_exact", True):
        raise LabelError(
            f"label {name!r} has too many distinct values for {task}; set task: regression, "
            "or raise statistics.categorical_max_unique (whole-number labels) or "
            "statistics.vocabulary_size (strings)"
        )
    return [t["value"] for t in stats.get("top_values", [])]


def _sorted(values: list) -> list:
    return sorted(values, key=lambda v: (isinstance(v, str), v))


def _positive(values: list, name: str, positive_label: Any) -> Any:
    if positive_label is not None:
        matches = [v for v in values if _key(v) == _key(positive_label)]
        if not matches:
            raise LabelError(
                f"data.positive_label {positive_label!r} is not a value of label {name!r}, "
                f"which takes {_sorted(values)}"
            )
        return matches[0]
    low, high = sorted(values, key=_key)
    if (_key(low), _key(high)) in OBVIOUS_PAIRS:
        return high
    raise LabelError(
        f"label {name!r} takes the values {_sorted(values)}; set data.positive_label to "
        "the one that is the positive class"
    )


def infer_label(
    stats: dict[str, Any], name: str, task: str, positive_label: Any = None
) -> dict[str, Any]:
    """The schema's label entry from the label column's train-split statistics."""
    kind = "string" if stats["kind"] == "string" else ("int" if stats["integral"] else "float")
    entry = {"name": name, "type": kind, "task": task}
    if task == REGRESSION:
        if stats["kind"] == "string":
            raise LabelError(
                f"label {name!r} holds strings; regression needs numbers: set task: "
                "multiclass_classification (or binary_classification with "
                "data.positive_label), or use a numeric label"
            )
        return entry
    values = _values(stats, name, task)
    if task == BINARY:
        if len(values) != 2:
            raise LabelError(
                f"label {name!r} has {len(values)} distinct values {_sorted(values)[:10]}; "
                "binary_classification needs exactly 2: set task: multiclass_classification"
            )
        positive = _positive(values, name, positive_label)
        negative = next(v for v in values if v != positive)
        return {**entry, "classes": [negative, positive], "positive": positive}
    if len(values) < 2:
        raise LabelError(
            f"label {name!r} has only the value {values} in the train split; "
            "multiclass_classification needs at least 2 classes"
        )
    return {**entry, "classes": _sorted(values)}


def class_names(label: dict[str, Any]) -> list[str]:
    """The classes as the exported model names them (strings), in index order."""
    return [str(c) for c in label.get("classes", [])]


def encode(column: pa.Array | pa.ChunkedArray, label: dict[str, Any]) -> np.ndarray:
    """Training targets (float32) of a label column: the value for regression, the class
    index for classification, ``UNKNOWN`` (-1) for a value that is not a class."""
    if label["task"] == REGRESSION:
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float32)
    classes = label["classes"]
    if label["type"] == "string":
        values, known = column.cast(pa.string()), pa.array([str(c) for c in classes])
    else:
        values, known = column.cast(pa.float64()), pa.array([float(c) for c in classes])
    index = pc.index_in(values, value_set=known)
    return index.fill_null(UNKNOWN).to_numpy(zero_copy_only=False).astype(np.float32)


def encode_table(table: pa.Table, label: dict[str, Any]) -> tuple[pa.Table, np.ndarray]:
    """``table`` without the rows whose label is not a class, and their targets."""
    targets = encode(table.column(label["name"]), label)
    known = targets != UNKNOWN
    if known.all():
        return table, targets
    return table.filter(pa.array(known)), targets[known]
