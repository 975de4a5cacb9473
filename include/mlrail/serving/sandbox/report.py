"""The sandbox's HTML report (one self-contained file stored in the InfraBlessing): the
verdict, per-model measurements, latency CDFs, per-round p99 ratios and memory over time."""

from __future__ import annotations

from typing import Any

from mlrail.reports import charts, render

MB = 1024 * 1024


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
            "latency (ms)",
            "share of requests",
        )
        for level in levels
    }
    ratios = measured.get("ratios") or {}
    ratio_chart = None
    if ratios:
        ratio_chart = charts.lines(
            {
                f"concurrency {level}": [(i + 1, r) for i, r in enumerate(values)]
                for level, values in sorted(ratios.items())
            },
            "candidate p99 / blessed p99 per round",
            "round",
            "p99 ratio",
        )
    memory_chart = charts.lines(
        {
            role: [(t, rss / MB) for t, rss in samples]
            for role, samples in measured["memory"].items()
        },
        "resident memory over the validation",
        "seconds",
        "MB",
    )
    return render(
        "sandbox.html",
        standalone=True,
        title=title,
        verdict=verdict,
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
