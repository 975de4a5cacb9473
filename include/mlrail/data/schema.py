"""Schema inference from statistics, and validation of statistics against a schema."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

BLOCKING, WARNING = "blocking", "warning"


class SchemaError(ValueError):
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


def _label(stats: dict[str, Any], name: str, task: str) -> dict[str, Any]:
    values = [t["value"] for t in stats.get("top_values", [])]
    if task == "regression":
        if stats["kind"] == "string":
            raise SchemaError(f"label {name!r} holds strings; regression needs a numeric label")
        return {"name": name, "type": _type_of(stats)}
    if task == "binary_classification" and len(values) != 2:
        raise SchemaError(
            f"label {name!r} has {stats['unique'] or 'many'} distinct values {values[:10]}; "
            "binary_classification needs exactly 2"
        )
    if task == "binary_classification" and stats["kind"] != "string" and set(values) != {0, 1}:
        raise SchemaError(f"label {name!r} takes values {values}; expected 0 and 1")
    return {"name": name, "type": _type_of(stats), "values": sorted(values, key=str)}


def infer_schema(
    train: dict[str, Any],
    label: str,
    task: str,
    numeric: list[str],
    categorical: list[str],
    max_unique: int,
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
    return {"label": _label(features_stats[label], label, task), "features": features}


@dataclass(frozen=True)
class Anomaly:
    kind: str
    severity: str
    split: str
    column: str | None
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def _unseen_share(stats: dict[str, Any], domain: list[Any]) -> tuple[float, list[Any], int]:
    known = {str(v) for v in domain}
    unseen = [t for t in stats.get("top_values", []) if str(t["value"]) not in known]
    count = sum(t["count"] for t in unseen)
    return count / max(1, stats["count"]), [t["value"] for t in unseen[:5]], count


def _outside_share(stats: dict[str, Any], low: float, high: float) -> float:
    """Share of values outside [low, high], from the 0.1 % quantile grid (within 0.1 %
    plus the sketch's rank error)."""
    grid = np.asarray(stats.get("quantile_grid") or [])
    if grid.size == 0:
        return 0.0
    below = np.searchsorted(grid, low, side="left") / (grid.size - 1)
    above = 1.0 - np.searchsorted(grid, high, side="right") / (grid.size - 1)
    return float(min(1.0, max(0.0, below) + max(0.0, above)))


def _type_anomaly(split, feature, stats, limits) -> Anomaly | None:
    found = _type_of(stats)
    if found == feature["type"] or (feature["type"] == "float" and found == "int"):
        return None
    name = feature["name"]
    return Anomaly(
        "type_change",
        BLOCKING,
        split,
        name,
        f"{split}: column {name!r} is {found}, the schema says {feature['type']}; "
        "fix the data source or re-infer the schema",
        {"expected": feature["type"], "found": found, "count": stats["count"]},
    )


def _null_anomaly(split, feature, stats, limits) -> Anomaly | None:
    total = max(1, stats["count"] + stats["missing"])
    share = stats["missing"] / total
    if share <= feature["null_share"] + limits["max_null_share_increase"]:
        return None
    return Anomaly(
        "null_rate_increase",
        WARNING,
        split,
        feature["name"],
        f"{split}: {share:.1%} of {feature['name']!r} is missing "
        f"({stats['missing']} of {total} rows), against "
        f"{feature['null_share']:.1%} in training",
        {"share": share, "training_share": feature["null_share"], "count": stats["missing"]},
    )


def _range_anomaly(split, feature, stats, limits) -> Anomaly | None:
    if feature["role"] != "numeric" or stats.get("min") is None:
        return None
    low, high = feature["min"], feature["max"]
    if stats["min"] >= low and stats["max"] <= high:
        return None
    share = _outside_share(stats, low, high)
    if share <= limits["max_out_of_range_share"]:
        return None
    severity = BLOCKING if share > limits["blocking_out_of_range_share"] else WARNING
    examples = [v for v in (stats["min"], stats["max"]) if v < low or v > high]
    return Anomaly(
        "out_of_range",
        severity,
        split,
        feature["name"],
        f"{split}: about {share:.1%} of {feature['name']!r} lies outside the "
        f"training range [{low}, {high}], e.g. {examples}",
        {
            "share": share,
            "count": round(share * stats["count"]),
            "examples": examples,
            "min": stats["min"],
            "max": stats["max"],
        },
    )


def _domain_anomaly(split, feature, stats, limits) -> Anomaly | None:
    if feature["role"] != "categorical":
        return None
    share, examples, count = _unseen_share(stats, feature["domain"])
    if share <= limits["max_unseen_category_share"]:
        return None
    severity = BLOCKING if share > limits["blocking_unseen_category_share"] else WARNING
    return Anomaly(
        "unseen_categories",
        severity,
        split,
        feature["name"],
        f"{split}: {share:.1%} of {feature['name']!r} values ({count} rows) were "
        f"never seen in training, e.g. {examples}",
        {"share": share, "examples": examples, "count": count},
    )


# Every feature-level check, in the order they are reported. A type change makes the
# others meaningless, so it stops the list for that feature.
FEATURE_CHECKS = (_type_anomaly, _null_anomaly, _range_anomaly, _domain_anomaly)


def _check_feature(split: str, feature: dict, stats: dict, limits: dict) -> list[Anomaly]:
    found = []
    for check in FEATURE_CHECKS:
        anomaly = check(split, feature, stats, limits)
        if anomaly is not None:
            found.append(anomaly)
            if anomaly.kind == "type_change":
                break
    return found


def _table_anomalies(split: str, table: dict, schema: dict, limits: dict) -> list[Anomaly]:
    columns, label, found = table["features"], schema["label"]["name"], []
    for name in [*(f["name"] for f in schema["features"]), label]:
        if name not in columns:
            found.append(
                Anomaly(
                    "missing_column", BLOCKING, split, name, f"{split}: column {name!r} is missing"
                )
            )
    known = {f["name"] for f in schema["features"]} | {label}
    for extra in sorted(set(columns) - known):
        found.append(
            Anomaly(
                "extra_column",
                WARNING,
                split,
                extra,
                f"{split}: column {extra!r} is not in the schema; the model ignores it",
            )
        )
    duplicates = table.get("duplicate_rows", 0)
    share = duplicates / table["rows"]
    if share > limits["max_duplicate_share"]:
        found.append(
            Anomaly(
                "duplicate_rows",
                WARNING,
                split,
                None,
                f"{split}: {duplicates} rows ({share:.1%}) are exact duplicates "
                "of another row; check the export for repeated loads",
                {"share": share, "count": duplicates},
            )
        )
    return found


def validate_statistics(splits: dict[str, dict], schema: dict, limits: dict) -> list[Anomaly]:
    """Anomalies of each split's statistics against the schema."""
    anomalies: list[Anomaly] = []
    for split, table in splits.items():
        if table["rows"] == 0:
            anomalies.append(
                Anomaly(
                    "empty_split",
                    BLOCKING,
                    split,
                    None,
                    f"split {split!r} has no rows; add data or change the split percentages",
                    {"count": 0},
                )
            )
            continue
        anomalies.extend(_table_anomalies(split, table, schema, limits))
        for feature in schema["features"]:
            if feature["name"] in table["features"]:
                anomalies.extend(
                    _check_feature(split, feature, table["features"][feature["name"]], limits)
                )
    return anomalies


def anomalies_document(anomalies: list[Anomaly]) -> dict[str, Any]:
    blocking = [a for a in anomalies if a.severity == BLOCKING]
    return {
        "blocking": len(blocking),
        "warnings": len(anomalies) - len(blocking),
        "anomalies": [asdict(a) for a in anomalies],
    }


FEATURE_FIELDS = {
    "type": str,
    "role": str,
    "nullable": bool,
    "null_share": float,
    "min": float,
    "max": float,
    "domain": list,
}
TYPES, ROLES = ("int", "float", "string"), ("numeric", "categorical")


def _override_feature(base: dict, entry: Any, where: str) -> dict:
    if not isinstance(entry, dict):
        raise SchemaError(f"{where}: expected a mapping of {', '.join(FEATURE_FIELDS)}")
    unknown = sorted(set(entry) - set(FEATURE_FIELDS))
    if unknown:
        raise SchemaError(
            f"{where}.{unknown[0]}: unknown field; expected one of {', '.join(FEATURE_FIELDS)}"
        )
    feature = {**base, **entry}
    if feature.get("type") not in TYPES:
        raise SchemaError(
            f"{where}.type: expected one of {', '.join(TYPES)}, got {feature.get('type')!r}"
        )
    if feature.get("role") not in ROLES:
        raise SchemaError(
            f"{where}.role: expected one of {', '.join(ROLES)}, got {feature.get('role')!r}"
        )
    needed = ("min", "max") if feature["role"] == "numeric" else ("domain",)
    missing = [k for k in needed if feature.get(k) is None]
    if missing:
        raise SchemaError(f"{where}: a {feature['role']} feature needs {', '.join(missing)}")
    feature.setdefault("nullable", True)
    feature.setdefault("null_share", 0.0)
    return feature


def apply_overrides(schema: dict, overrides: dict, source: str) -> dict:
    """Apply ``<pipeline>.schema.yaml``: per-feature overrides of the inferred schema, or,
    with ``pin: true``, the complete list of features (columns not listed are dropped)."""
    unknown = sorted(set(overrides) - {"pin", "features"})
    if unknown:
        raise SchemaError(f"{source}: unknown field {unknown[0]!r}; expected pin, features")
    entries = overrides.get("features") or {}
    if not isinstance(entries, dict):
        raise SchemaError(f"{source}: features: expected a mapping of column name to fields")
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
