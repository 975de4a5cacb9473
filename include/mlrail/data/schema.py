"""The schema: inferred from the train split's statistics, overridden by the user's
``<pipeline>.schema.yaml``, and checked against the columns a model is about to read.

Each feature has a type (int, float, string), a role (numeric or categorical), its
nullability, and a range (numeric) or domain (categorical); the label's entry is
described in mlrail.data.labels.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mlrail.data.hashing import is_numeric
from mlrail.data.labels import REGRESSION, infer_label
from mlrail.errors import DataError, DeterministicError
from mlrail.spec.errors import SpecError
from mlrail.spec.overrides import ROLES, TYPES, check_overrides


class SchemaError(DeterministicError, ValueError):
    """The data cannot be described by a schema the task can train on."""


def _type_of(stats: dict[str, Any]) -> str:
    if stats["kind"] == "string":
        return "string"
    return "int" if stats["integral"] else "float"


def _role(name: str, stats: dict[str, Any], forced: dict[str, str], max_unique: int) -> str:
    if name in forced:
        return forced[name]
    if stats["kind"] == "string":
        return "categorical"
    # unique is None when the column has more than categorical_max_unique distinct values.
    few = stats["unique"] is not None and stats["unique"] <= max_unique
    return "categorical" if stats["integral"] and few else "numeric"


def infer_schema(
    train: dict[str, Any],
    label: str,
    task: str,
    numeric: list[str],
    categorical: list[str],
    max_unique: int,
    positive_label: Any = None,
) -> dict[str, Any]:
    """Schema from train-split statistics: type, role, nullability, range and domain."""
    features_stats = train["features"]
    if label not in features_stats:
        raise SchemaError(f"label column {label!r} is not in the examples")
    forced = {**{n: "numeric" for n in numeric}, **{n: "categorical" for n in categorical}}
    features = []
    for name, stats in features_stats.items():
        if name == label:
            continue
        role = _role(name, stats, forced, max_unique)
        if role == "numeric" and stats["kind"] == "string":
            raise SchemaError(f"feature {name!r} is forced numeric but holds strings")
        feature = {
            "name": name,
            "type": _type_of(stats),
            "role": role,
            "nullable": stats["missing"] > 0,
            "null_share": stats["missing"] / max(1, stats["count"] + stats["missing"]),
        }
        if role == "numeric":
            feature.update(min=stats["min"], max=stats["max"])
        else:
            feature["domain"] = [t["value"] for t in stats.get("top_values", [])]
        features.append(feature)
    return {
        "label": infer_label(features_stats[label], label, task, positive_label),
        "features": features,
    }


def _override_feature(base: dict, entry: dict, where: str) -> dict:
    """``base`` (the inferred feature, or only its name) with a checked schema-file entry."""
    feature = {**base, **entry}
    for name, allowed in (("type", TYPES), ("role", ROLES)):
        if feature.get(name) not in allowed:  # a feature the file adds must say both
            raise SchemaError(
                f"{where}.{name}: expected one of {', '.join(allowed)}, got {feature.get(name)!r}"
            )
    needed = ("min", "max") if feature["role"] == "numeric" else ("domain",)
    missing = [k for k in needed if feature.get(k) is None]
    if missing:
        raise SchemaError(f"{where}: a {feature['role']} feature needs {', '.join(missing)}")
    feature.setdefault("nullable", True)
    feature.setdefault("null_share", 0.0)
    return feature


def apply_overrides(schema: dict, overrides: Any, source: str) -> dict:
    """Apply ``<pipeline>.schema.yaml``: per-feature overrides of the inferred schema, or,
    with ``pin: true``, the complete list of features (columns not listed are dropped).
    The file's format is mlrail.spec.overrides' (checked again here: a SpecError naming
    ``source`` and the field)."""
    try:
        overrides = check_overrides(overrides)
    except SpecError as err:
        raise err.in_file(source) from None
    entries = overrides["features"]
    inferred = {f["name"]: f for f in schema["features"]}
    if overrides.get("pin"):
        names = list(entries)
    else:
        missing = sorted(set(entries) - set(inferred))
        if missing:
            raise SchemaError(
                f"{source}: features.{missing[0]}: no such feature in the data; "
                f"features are {sorted(inferred)}"
            )
        names = list(inferred)
    features = [
        _override_feature(inferred.get(n, {"name": n}), entries[n], f"{source}: features.{n}")
        if n in entries
        else inferred[n]
        for n in names
    ]
    return {**schema, "features": features, "overrides": source}


def _arrow_kind(arrow_type: pa.DataType) -> str:
    return "number" if is_numeric(arrow_type) else "string"


def check_columns(columns: pa.Schema, schema: dict[str, Any], where: str) -> None:
    """Raise DataError when a column a model reads is missing or of a type the schema does
    not allow: a numeric feature or a regression label that holds strings, a class label
    whose values are numbers in the schema and strings in the data. Checked before
    TensorFlow sees the data, so the message names the column instead of a graph op."""
    found = {name: _arrow_kind(columns.field(name).type) for name in columns.names}
    for feature in schema["features"]:
        name = feature["name"]
        if name not in found:
            raise DataError(f"{where}: feature column {name!r} is missing")
        if feature["type"] != "string" and found[name] == "string":
            raise DataError(
                f"{where}: feature {name!r} holds strings, the schema says {feature['type']}: "
                "fix the data, or list the column in data.features.categorical"
            )
    label = schema["label"]
    name = label["name"]
    if name not in found:
        raise DataError(f"{where}: label column {name!r} is missing")
    if found[name] == "string" and label["type"] != "string":
        hint = (
            "set task: multiclass_classification (or binary_classification with "
            "data.positive_label), or use a numeric label"
            if label["task"] == REGRESSION
            else "its classes were numbers when the schema was inferred: re-infer the schema"
        )
        raise DataError(
            f"{where}: label {name!r} holds strings, the schema says {label['type']}: {hint}"
        )
