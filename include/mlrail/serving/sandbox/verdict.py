"""The InfraBlessing verdict: the sandbox's measurements against the spec's policy, with one
reason per check. Pure: measurements in, verdict out."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

MB = 1024 * 1024


@dataclass(frozen=True)
class InfraCheck:
    check: str  # errors | p99_ratio | p99_budget | memory | parity | malformed
    value: float | None
    limit: float | None
    passed: bool
    sentence: str


@dataclass(frozen=True)
class InfraBlessing:
    blessed: bool
    checks: list[InfraCheck]
    baseline_version: int | None
    note: str = ""  # what the candidate was compared with

    @property
    def sentence(self) -> str:
        failed = [c.sentence for c in self.checks if not c.passed]
        head = (
            "Not infra-blessed: " + "; ".join(failed)
            if failed
            else "Infra-blessed: " + ("; ".join(c.sentence for c in self.checks))
        )
        return f"{head}. {self.note}".strip()

    def to_dict(self) -> dict[str, Any]:
        return {
            "blessed": self.blessed,
            "sentence": self.sentence,
            "baseline_version": self.baseline_version,
            "note": self.note,
            "checks": [asdict(c) for c in self.checks],
        }


def _errors(measured: dict) -> InfraCheck:
    errors, total = measured["errors"], measured["requests"]
    if errors:
        first = measured.get("first_error") or "unknown"
        sentence = f"{errors} of {total} valid requests failed (first: {first})"
    else:
        sentence = f"all {total} valid requests answered"
    return InfraCheck("errors", errors, 0, errors == 0, sentence)


def _ratio(ratios: dict[int, list[float]], limit: float, version: int) -> InfraCheck:
    """The worst level's median per-round p99 ratio: a round's noise hits both models, so
    the median ratio of an identical model stays near 1."""
    medians = {level: statistics.median(values) for level, values in ratios.items() if values}
    if not medians:  # the candidate answered no round (killed, or every request failed)
        sentence = (
            f"p99 latency not compared with blessed v{version}'s: no round was answered by both"
        )
        return InfraCheck("p99_ratio", None, limit, False, sentence)
    level, worst = max(medians.items(), key=lambda item: item[1])
    ok = worst <= limit
    sentence = (
        f"p99 latency {worst:.2f}x blessed v{version}'s at concurrency {level} "
        f"(median of {len(ratios[level])} rounds; at most {limit:g}x)"
    )
    return InfraCheck("p99_ratio", round(worst, 4), limit, ok, sentence)


def _budget(p99_by_level: dict[int, float], budget: float) -> InfraCheck:
    level, worst = max(p99_by_level.items(), key=lambda item: item[1])
    ok = worst <= budget
    sentence = f"p99 latency {worst:.1f} ms at concurrency {level} (budget {budget:g} ms)"
    return InfraCheck("p99_budget", round(worst, 3), budget, ok, sentence)


def _memory(peak_bytes: int, limit_mb: float, killed: bool) -> InfraCheck:
    peak = peak_bytes / MB
    ok = peak <= limit_mb and not killed
    sentence = f"peak memory {peak:.0f} MB (ceiling {limit_mb:g} MB)"
    if killed:
        sentence += ", stopped by the sandbox for going above it"
    return InfraCheck("memory", round(peak, 1), limit_mb, ok, sentence)


def _parity(parity: dict, tolerance: float) -> InfraCheck:
    worst, rows = parity["max_diff"], parity["rows"]
    if parity.get("error"):
        return InfraCheck(
            "parity", None, tolerance, False, f"parity could not be checked: {parity['error']}"
        )
    ok = worst <= tolerance
    where = f", worst at row {parity['worst_row']}" if not ok else ""
    sentence = (
        f"served answers {'equal' if ok else 'differ from'} in-process predictions on "
        f"{rows} rows (largest difference {worst:.2g}, tolerance {tolerance:g}{where})"
    )
    return InfraCheck("parity", worst, tolerance, ok, sentence)


def _malformed(probes: list[dict], healthy_after: bool) -> InfraCheck:
    wrong = [f"{p['probe']} got {p['status']}" for p in probes if not p["ok"]]
    ok = not wrong and healthy_after
    if ok:
        sentence = f"{len(probes)} malformed requests each got a 4xx, and the server stayed healthy"
    else:
        problems = wrong + ([] if healthy_after else ["the server was not healthy afterwards"])
        sentence = "malformed requests: " + ", ".join(problems) + " (expected a 4xx each)"
    return InfraCheck("malformed", len(wrong), 0, ok, sentence)


def decide_infra_blessing(
    measured: dict[str, Any], policy: dict[str, Any], baseline_version: int | None
) -> InfraBlessing:
    """``measured``: the candidate's ``errors``, ``requests``, ``p99_by_level``,
    ``peak_rss_bytes``, ``killed``; ``ratios`` (level -> per-round p99 ratios; absent
    without a blessed model); ``parity``; ``malformed`` and ``healthy_after``.
    ``policy``: the spec's ``sandbox:`` fields."""
    checks = [_errors(measured)]
    ratios = measured.get("ratios")
    if ratios and baseline_version is not None:
        checks.append(_ratio(ratios, policy["max_p99_ratio"], baseline_version))
        note = ""
    elif measured.get("same_as_blessed"):
        note = f"The candidate is blessed v{baseline_version} itself: judged on absolute budgets."
    else:
        note = "No blessed model to compare with: judged on absolute budgets only."
    checks.append(_budget(measured["p99_by_level"], policy["p99_budget_ms"]))
    checks.append(
        _memory(measured["peak_rss_bytes"], policy["memory_limit_mb"], measured["killed"])
    )
    checks.append(_parity(measured["parity"], policy["parity_tolerance"]))
    checks.append(_malformed(measured["malformed"], measured["healthy_after"]))
    return InfraBlessing(all(c.passed for c in checks), checks, baseline_version, note)
