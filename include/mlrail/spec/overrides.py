"""The schema file ``<pipeline>.schema.yaml`` beside a spec: its format, checked when the
spec loads, so a typo fails the DAG import (file, line, field) instead of the schema task.

    pin: false            # true: the features listed are the complete list
    features:
      fare: {min: 0.0, max: 5000.0}
      payment_type: {role: categorical, domain: [Cash, Credit Card]}

How the entries change the inferred schema: mlrail.data.schema.apply_overrides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlrail.spec.documents import read_document
from mlrail.spec.errors import SpecError, one_of, share
from mlrail.spec.names import ALLOWED, is_model_input_name

TYPES, ROLES = ("int", "float", "string"), ("numeric", "categorical")
NUMBER, SCALAR = "a number", "a string, number or true/false"


def _number(path: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(path, NUMBER, value)


def _null_share(path: str, value: Any) -> None:
    _number(path, value)
    share(path, value)


def _nullable(path: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SpecError(path, "true or false", value)


def _domain(path: str, value: Any) -> None:
    if not isinstance(value, list):
        raise SpecError(path, "a list of the column's values", value)
    for index, item in enumerate(value):
        if not isinstance(item, str | int | float | bool):
            raise SpecError(f"{path}[{index}]", SCALAR, item)


# Each field a feature entry may set, and its check.
FEATURE_FIELDS = {
    "type": lambda path, value: one_of(path, value, TYPES),
    "role": lambda path, value: one_of(path, value, ROLES),
    "nullable": _nullable,
    "null_share": _null_share,
    "min": _number,
    "max": _number,
    "domain": _domain,
}


def _check_feature(path: str, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise SpecError(path, f"a mapping of {', '.join(FEATURE_FIELDS)}", entry)
    for name, value in entry.items():
        if name not in FEATURE_FIELDS:
            raise SpecError(
                f"{path}.{name}", f"one of the known fields: {', '.join(FEATURE_FIELDS)}", name
            )
        FEATURE_FIELDS[name](f"{path}.{name}", value)
    if "min" in entry and "max" in entry and entry["min"] > entry["max"]:
        raise SpecError(path, "min <= max", {"min": entry["min"], "max": entry["max"]})


def check_overrides(value: Any) -> dict[str, Any]:
    """The schema file's content, checked (an empty file is no override); raise SpecError
    with the field's path in the file."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError("", "a mapping with pin and features", value)
    for name in value:
        one_of(str(name), name, ("pin", "features"))
    if not isinstance(value.get("pin", False), bool):
        raise SpecError("pin", "true or false", value["pin"])
    features = value.get("features") or {}
    if not isinstance(features, dict):
        raise SpecError("features", "a mapping of column name to fields", features)
    for column, entry in features.items():
        if not is_model_input_name(column):
            raise SpecError(f"features.{column}", ALLOWED, column)
        _check_feature(f"features.{column}", entry)
    return {**value, "features": features}


def read_overrides(path: str | Path) -> dict[str, Any]:
    """Read and check the schema file at ``path``; errors name the file, line and field."""
    document = read_document(path)
    try:
        return check_overrides(document.value)
    except SpecError as err:
        raise document.error(err) from None
