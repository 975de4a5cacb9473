"""Schema inference from statistics, and validation of statistics against a schema."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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


def _unseen_share(stats: dict[str, Any], domain: list[Any]) -> tuple[float, list[Any]]:
    known = {str(v) for v in domain}
    unseen = [t for t in stats.get("top_values", []) if str(t["value"]) not in known]
    total = max(1, stats["count"])
    return sum(t["count"] for t in unseen) / total, [t["value"] for t in unseen[:5]]


def _check_feature(split: str, feature: dict, stats: dict, limits: dict) -> list[Anomaly]:
    name, found = feature["name"], []
    if _type_of(stats) != feature["type"] and not (
        feature["type"] == "float" and _type_of(stats) == "int"
    ):
        found.append(
            Anomaly(
                "type_change",
                BLOCKING,
                split,
                name,
                f"{split}: column {name!r} is {_type_of(stats)}, the schema says "
                f"{feature['type']}; fix the data source or re-infer the schema",
                {"expected": feature["type"], "found": _type_of(stats)},
            )
        )
        return found
    total = max(1, stats["count"] + stats["missing"])
    null_share = stats["missing"] / total
    if null_share > feature["null_share"] + limits["max_null_share_increase"]:
        found.append(
            Anomaly(
                "null_rate_increase",
                WARNING,
                split,
                name,
                f"{split}: {null_share:.1%} of {name!r} is missing, against "
                f"{feature['null_share']:.1%} in training",
                {"share": null_share, "training_share": feature["null_share"]},
            )
        )
    if feature["role"] == "numeric" and stats.get("min") is not None:
        low, high = feature["min"], feature["max"]
        if stats["min"] < low or stats["max"] > high:
            found.append(
                Anomaly(
                    "out_of_range",
                    WARNING,
                    split,
                    name,
                    f"{split}: {name!r} spans [{stats['min']}, {stats['max']}], "
                    f"outside the training range [{low}, {high}]",
                    {"min": stats["min"], "max": stats["max"]},
                )
            )
    if feature["role"] == "categorical":
        share, examples = _unseen_share(stats, feature["domain"])
        if share > limits["max_unseen_category_share"]:
            severity = BLOCKING if share > limits["blocking_unseen_category_share"] else WARNING
            found.append(
                Anomaly(
                    "unseen_categories",
                    severity,
                    split,
                    name,
                    f"{split}: {share:.1%} of {name!r} values were never seen in "
                    f"training, e.g. {examples}",
                    {"share": share, "examples": examples},
                )
            )
    return found


def validate_statistics(splits: dict[str, dict], schema: dict, limits: dict) -> list[Anomaly]:
    """Anomalies of each split's statistics against the schema."""
    anomalies: list[Anomaly] = []
    label = schema["label"]["name"]
    for split, table in splits.items():
        if table["rows"] == 0:
            anomalies.append(
                Anomaly(
                    "empty_split",
                    BLOCKING,
                    split,
                    None,
                    f"split {split!r} has no rows; add data or change the split percentages",
                )
            )
            continue
        columns = table["features"]
        for feature in [*schema["features"], {"name": label}]:
            if feature["name"] not in columns:
                anomalies.append(
                    Anomaly(
                        "missing_column",
                        BLOCKING,
                        split,
                        feature["name"],
                        f"{split}: column {feature['name']!r} is missing",
                    )
                )
            elif feature["name"] != label:
                anomalies.extend(_check_feature(split, feature, columns[feature["name"]], limits))
        known = {f["name"] for f in schema["features"]} | {label}
        for extra in sorted(set(columns) - known):
            anomalies.append(
                Anomaly(
                    "extra_column",
                    WARNING,
                    split,
                    extra,
                    f"{split}: column {extra!r} is not in the schema; it is ignored by the model",
                )
            )
    return anomalies


def anomalies_document(anomalies: list[Anomaly]) -> dict[str, Any]:
    blocking = [a for a in anomalies if a.severity == BLOCKING]
    return {
        "blocking": len(blocking),
        "warnings": len(anomalies) - len(blocking),
        "anomalies": [asdict(a) for a in anomalies],
    }
