"""Validation of each split's statistics against the schema: the Anomalies artifact.

Each anomaly has a kind, a severity (blocking or warning), the split and column, counts
and example values, and one sentence for the on-call person. Blocking anomalies stop the
pipeline before training (BlockingAnomaliesError); warnings are reported and recorded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mlrail.data.labels import REGRESSION
from mlrail.errors import DeterministicError
from mlrail.verdict import FAILED, Check, Verdict

BLOCKING, WARNING = "blocking", "warning"
GATE = "validation"
WORDS = ("Valid", "Not valid")


class BlockingAnomaliesError(DeterministicError, RuntimeError):
    """Validation found anomalies that make training on this data unsafe."""


def _type_of(stats: dict[str, Any]) -> str:
    if stats["kind"] == "string":
        return "string"
    return "int" if stats["integral"] else "float"


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


def _label_anomalies(split: str, table: dict, schema: dict, limits: dict) -> list[Anomaly]:
    """The label's type, and classes the train split (hence the model) does not have."""
    label = schema["label"]
    stats = table["features"].get(label["name"])
    if stats is None:
        return []  # reported as a missing column
    changed = _type_anomaly(split, label, stats, limits)
    if changed is not None or label["task"] == REGRESSION:
        return [changed] if changed is not None else []
    known = {str(c) for c in label["classes"]}
    unseen = [t for t in stats.get("top_values", []) if str(t["value"]) not in known]
    if not unseen:
        return []
    count = sum(t["count"] for t in unseen)
    values = [t["value"] for t in unseen[:5]]
    return [
        Anomaly(
            "unseen_label_class",
            limits["unseen_label_class"],
            split,
            label["name"],
            f"{split}: {count} rows have label classes the train split lacks, e.g. {values}; "
            "the model cannot predict them, so training and evaluation leave them out "
            "(the metrics count them as unseen_label_rows): add rows of those classes to "
            "the data, or drop them",
            {"count": count, "examples": values, "classes": label["classes"]},
        )
    ]


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
        anomalies.extend(_label_anomalies(split, table, schema, limits))
        for feature in schema["features"]:
            if feature["name"] in table["features"]:
                anomalies.extend(
                    _check_feature(split, feature, table["features"][feature["name"]], limits)
                )
    return anomalies


def _compatible(reference: str, current: str) -> bool:
    """A model fed ``reference`` still works on ``current`` (int and float interchange)."""
    numeric = {"int", "float"}
    return current == reference or (current in numeric and reference in numeric)


def _feature_changes(reference: dict, current: dict, against: str, severity: str) -> list[Anomaly]:
    now = {f["name"]: f for f in current["features"]}
    found = []
    for before in reference["features"]:
        name, after = before["name"], now.get(before["name"])
        if after is None:
            found.append(
                Anomaly(
                    "vanished_column",
                    severity,
                    "schema",
                    name,
                    f"column {name!r} ({before['type']}, {before['role']}) is gone from this "
                    f"dataset version; {against} reads it: restore the column, or, to "
                    f"train without it on purpose, {_ACCEPT}",
                    {"expected": before["type"], "found": None, "against": against},
                )
            )
        elif not _compatible(before["type"], after["type"]) or before["role"] != after["role"]:
            found.append(
                Anomaly(
                    "type_change",
                    severity,
                    "schema",
                    name,
                    f"column {name!r} is {after['type']} ({after['role']}) in this dataset "
                    f"version; {against} has {before['type']} ({before['role']}): fix the "
                    f"data source, or, if the change is meant, {_ACCEPT}",
                    {"expected": before["type"], "found": after["type"], "against": against},
                )
            )
    return found


def _label_change(reference: dict, current: dict, against: str, severity: str) -> list[Anomaly]:
    before, after = reference["label"], current["label"]

    def described(label: dict) -> str:
        return f"{label['name']!r} ({label['type']}, {label['task']})"

    same_type = _compatible(before["type"], after["type"])
    if before["name"] == after["name"] and before["task"] == after["task"] and same_type:
        return []
    return [
        Anomaly(
            "label_change",
            severity,
            "schema",
            after["name"],
            f"the label is {described(after)} in this dataset version; {against} predicts "
            f"{described(before)}: a model of another target should not replace it; fix "
            f"the data, or, if the target changes on purpose, {_ACCEPT}",
            {"expected": before, "found": after, "against": against},
        )
    ]


_ACCEPT = "set validation.schema_change: warning in the spec for this run"


def schema_changes(
    reference: dict, current: dict, against: str, severity: str = BLOCKING
) -> list[Anomaly]:
    """What changed from the ``reference`` schema (the blessed model's, or the previous
    dataset version's, described by ``against``) that a model trained on it cannot take:
    a vanished column, a type or role change, another label. New columns are fine.
    ``severity`` is the spec's ``validation.schema_change``."""
    return _feature_changes(reference, current, against, severity) + _label_change(
        reference, current, against, severity
    )


def anomalies_document(anomalies: list[Anomaly]) -> dict[str, Any]:
    """The Anomalies artifact's document: the verdict's outcome, the counts, and every
    anomaly with its details."""
    blocking = [a for a in anomalies if a.severity == BLOCKING]
    return {
        "verdict": validation_verdict(anomalies).summary(),
        "blocking": len(blocking),
        "warnings": len(anomalies) - len(blocking),
        "anomalies": [asdict(a) for a in anomalies],
    }


def validation_verdict(anomalies: list[Anomaly]) -> Verdict:
    """The anomalies as a verdict (mlrail.verdict): one failed check each, blocking the
    run when its severity is blocking, a warning otherwise."""
    checks = tuple(
        Check(
            a.kind, FAILED, a.message, a.column, a.split,
            blocks=a.severity == BLOCKING, details=a.details,
        )
        for a in anomalies
    )
    blocking = sum(c.blocks for c in checks)
    counted = f"{blocking} blocking anomalies, {len(checks) - blocking} warnings."
    return Verdict(GATE, checks, WORDS, note=counted)
