"""The model blessing: thresholds and the comparison with the blessed model, as a verdict
(mlrail.verdict) with one check per metric and bound."""

from __future__ import annotations

from typing import Any

from mlrail.spec.metrics import higher_is_better
from mlrail.verdict import FAILED, PASSED, Check, Verdict

GATE = "model_blessing"
WORDS = ("Blessed", "Not blessed")
SLICE = "test"  # every check is measured on the test split


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _state(ok: bool) -> str:
    return PASSED if ok else FAILED


def threshold_checks(metrics: dict[str, Any], thresholds: dict[str, dict]) -> list[Check]:
    checks = []
    for metric, bounds in sorted(thresholds.items()):
        value = metrics.get(metric)
        for side in ("min", "max"):
            bound = bounds.get(side)
            if bound is None:
                continue
            ok = value is not None and (value >= bound if side == "min" else value <= bound)
            op = ">=" if side == "min" else "<="
            sentence = f"{metric} {_fmt(value)} {'' if ok else 'is not '}{op} {bound}"
            checks.append(Check("threshold", _state(ok), sentence, metric, SLICE, value, bound))
    return checks


def baseline_checks(
    metrics: dict[str, Any], baseline: dict[str, Any], version: int, tolerance: dict[str, float]
) -> list[Check]:
    checks = []
    for metric, allowed in sorted(tolerance.items()):
        value, reference = metrics.get(metric), baseline.get(metric)
        if reference is None:
            continue
        lower = not higher_is_better(metric)
        bound = reference + allowed if lower else reference - allowed
        ok = value is not None and (value <= bound if lower else value >= bound)
        verb = "rose" if lower else "fell"
        sentence = (
            f"{metric} {_fmt(value)} vs blessed v{version} {_fmt(reference)} "
            f"({'within' if ok else verb + ' beyond'} the allowed {allowed})"
        )
        checks.append(Check("baseline", _state(ok), sentence, metric, SLICE, value, bound))
    return checks


def decide_blessing(
    metrics: dict[str, Any],
    thresholds: dict[str, dict],
    baseline: dict[str, Any] | None,
    baseline_version: int | None,
    tolerance: dict[str, float],
) -> Verdict:
    """Blessed when every threshold holds and no metric is worse than the blessed model's
    by more than its tolerance."""
    checks = threshold_checks(metrics, thresholds)
    compared = ""
    if baseline is not None:
        checks += baseline_checks(metrics, baseline, baseline_version, tolerance)
        compared = f"blessed v{baseline_version}"
    note = "" if checks else "No thresholds configured and no blessed model to compare with."
    return Verdict(GATE, tuple(checks), WORDS, compared, note)
