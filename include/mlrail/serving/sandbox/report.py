"""The sandbox's HTML report (one self-contained file stored in the InfraBlessing): the
verdict, per-model measurements, latency CDFs, per-turn-pair latency ratios and memory over time."""

from __future__ import annotations

from typing import Any

from mlrail.reports import charts, render
from mlrail.reports.verdicts import view

MB = 1024 * 1024
# One colour per model in every chart of the report; other series (concurrency levels)
# take the palette after them, and limits are red.
MODEL_COLOURS = {"candidate": charts.colour(0), "blessed": charts.colour(1)}


def _limit(verdict: dict[str, Any], *checks: str) -> float | None:
    """The policy's limit a check of the verdict was held to (None if it has none)."""
    found = (c["bound"] for c in verdict["checks"] if c["name"] in checks)
    return next((v for v in found if v is not None), None)


def _latency_limits(verdict: dict[str, Any]) -> list[charts.Limit]:
    limits = [charts.Limit("y", 0.99, "99 % of requests (p99)", guide=True)]
    budget = _limit(verdict, "p99_budget")
    if budget is not None:
        limits.append(charts.Limit("x", budget, f"p99 budget {budget:g} ms"))
    return limits


def _ratio_limits(verdict: dict[str, Any]) -> list[charts.Limit]:
    limits = [charts.Limit("y", 1.0, "equal latency", guide=True)]
    limit = _limit(verdict, "latency_ratio")
    if limit is not None:
        limits.append(charts.Limit("y", limit, f"limit {limit:g}x"))
    return limits


def _cdfs(models: dict[str, dict], level: int) -> dict[str, list[tuple[float, float]]]:
    series = {}
    for role, model in models.items():
        cdf = model["levels"][level]["cdf_ms"]
        series[role] = [(ms, q / (len(cdf) - 1)) for q, ms in enumerate(cdf)] if cdf else []
    return series


def _candidate_first(by_role: dict[str, Any]) -> dict[str, Any]:
    # Records travel through XCom, which may sort their keys: the order is set here.
    return dict(sorted(by_role.items(), key=lambda item: item[0] != "candidate"))


def report_html(verdict: dict[str, Any], measured: dict[str, Any], title: str) -> str:
    models = _candidate_first(measured["models"])
    levels = sorted(next(iter(models.values()))["levels"])
    cdf_charts = {
        level: charts.lines(
            _cdfs(models, level),
            f"latency CDF at concurrency {level}",
            "latency (ms, log scale)",
            "share of requests",
            colours=MODEL_COLOURS,
            limits=_latency_limits(verdict),
            x_log=True,  # a tail and a budget far above the median both stay in view
        )
        for level in levels
    }
    ratios = measured.get("ratios") or {}
    ratio_chart = None
    if ratios:
        by_level = {
            f"concurrency {level}": [(i + 1, r) for i, r in enumerate(values)]
            for level, values in sorted(ratios.items())
        }
        ratio_chart = charts.lines(
            by_level,
            f"candidate p{measured.get('latency_quantile', 90):g} / blessed "
            f"p{measured.get('latency_quantile', 90):g} per turn pair",
            "turn pair",
            "latency ratio (candidate / blessed)",
            colours={
                name: charts.colour(i + len(MODEL_COLOURS)) for i, name in enumerate(by_level)
            },
            limits=_ratio_limits(verdict),
            y_from_zero=False,  # ratios vary around 1: from zero they would look flat
        )
    ceiling = _limit(verdict, "memory")
    memory_chart = charts.lines(
        {
            role: [(t, rss / MB) for t, rss in samples]
            for role, samples in _candidate_first(measured["memory"]).items()
        },
        "resident memory over the validation",
        "time since the sandbox started (s)",
        "resident memory (MB)",
        colours=MODEL_COLOURS,
        limits=[] if ceiling is None else [charts.Limit("y", ceiling, f"ceiling {ceiling:g} MB")],
    )
    return render(
        "sandbox.html",
        standalone=True,
        title=title,
        verdict=view(verdict),
        models=models,
        levels=levels,
        traffic=measured["traffic"],
        parity=measured["parity"],
        malformed=measured["malformed"],
        cdf_charts=cdf_charts,
        ratio_chart=ratio_chart,
        ratios=ratios,
        memory_chart=memory_chart,
        mb=MB,
    )
