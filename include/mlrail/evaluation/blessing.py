"""The blessing verdict: thresholds and comparison with the blessed model, with reasons."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlrail.evaluation.catalog import higher_is_better


@dataclass(frozen=True)
class Check:
    check: str  # threshold | baseline
    metric: str
    value: float | None
    bound: float | None
    passed: bool
    sentence: str


@dataclass(frozen=True)
class Blessing:
    blessed: bool
    checks: list[Check]
    baseline_version: int | None

    @property
    def sentence(self) -> str:
        failed = [c.sentence for c in self.checks if not c.passed]
        if failed:
            return "Not blessed: " + "; ".join(failed) + "."
        if not self.checks:
            return "Blessed: no thresholds configured and no blessed model to compare with."
        return "Blessed: " + "; ".join(c.sentence for c in self.checks) + "."

    def to_dict(self) -> dict[str, Any]:
        return {
            "blessed": self.blessed,
            "sentence": self.sentence,
            "baseline_version": self.baseline_version,
            "checks": [asdict(c) for c in self.checks],
        }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


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
            checks.append(
                Check(
                    "threshold",
                    metric,
                    value,
                    bound,
                    ok,
                    f"{metric} {_fmt(value)} {'' if ok else 'is not '}{op} {bound}",
                )
            )
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
        checks.append(Check("baseline", metric, value, bound, ok, sentence))
    return checks


def decide_blessing(
    metrics: dict[str, Any],
    thresholds: dict[str, dict],
    baseline: dict[str, Any] | None,
    baseline_version: int | None,
    tolerance: dict[str, float],
) -> Blessing:
    """Blessed when every threshold holds and no metric is worse than the blessed model's
    by more than its tolerance."""
    checks = threshold_checks(metrics, thresholds)
    if baseline is not None:
        checks += baseline_checks(metrics, baseline, baseline_version, tolerance)
    return Blessing(all(c.passed for c in checks), checks, baseline_version)
