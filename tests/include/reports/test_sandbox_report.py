"""The sandbox report's charts: one colour per model in every chart, the policy's limits
drawn where a chart shows a limited quantity, and a key that stays off the plot."""

import re
import xml.etree.ElementTree as ET

import numpy as np

from mlrail.serving.sandbox.report import report_html
from mlrail.verdict import Check, Verdict

SVG = "{http://www.w3.org/2000/svg}"
MB = 1024 * 1024
BUDGET_MS, CEILING_MB, MAX_RATIO = 250.0, 1024.0, 1.2


def _level(scale: float) -> dict:
    latencies = np.random.default_rng(int(scale)).lognormal(np.log(scale), 0.4, 500)
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
    return {
        "requests": 500,
        "errors": 0,
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "cdf_ms": [float(v) for v in np.percentile(latencies, range(101))],
        "throughput_rps": 1000 / scale,
        "round_p99_ms": [],
        "first_error": None,
    }


def _model(scale: float, version, rss_mb: float) -> dict:
    return {
        "load_seconds": 3.0,
        "tries": 1,
        "first_request": {"latency_ms": 40.0, "error": None},
        "levels": {1: _level(scale), 8: _level(3 * scale)},
        "peak_rss_bytes": rss_mb * MB,
        "model_bytes": MB,
        "version": version,
        "killed": False,
    }


def _check(name: str, value: float, limit: float) -> Check:
    return Check(name, "passed", f"{name} within its limit", name, None, value, limit)


def _report() -> str:
    # As after XCom, which may sort keys: the blessed model first in every mapping.
    models = {"blessed": _model(4, 1, 650), "candidate": _model(5, None, 700)}
    memory = {
        role: [(t / 5, (rss + t) * MB) for t in range(50)]
        for role, rss in (("blessed", 600), ("candidate", 640))
    }
    measured = {
        "models": models,
        "memory": memory,
        "ratios": {1: [1.1, 1.0, 1.15, 0.95], 8: [1.05, 1.1, 0.98, 1.02]},
        "latency_quantile": 90,
        "traffic": {"source": "test split", "detail": "the test split (400 rows)"},
        "parity": {"rows": 10, "max_diff": 0.0, "worst_row": 0},
        "malformed": [{"probe": "wrong type", "status": 400, "ok": True}],
    }
    checks = [
        _check("errors", 0, 0),
        _check("latency_ratio", 1.05, MAX_RATIO),
        _check("p99_budget", 40.0, BUDGET_MS),
        _check("memory", 700.0, CEILING_MB),
    ]
    verdict = Verdict("infra_blessing", checks, ("Infra-blessed", "Not infra-blessed")).to_dict()
    return report_html(verdict, measured, "sandbox")


def _charts(html: str) -> dict[str, ET.Element]:
    found = {}
    for markup in re.findall(r"<svg class=\"chart\".*?</svg>", html, flags=re.S):
        root = ET.fromstring(markup)
        found[root.get("aria-label")] = root
    return found


def _strokes(chart: ET.Element) -> dict[str, str]:
    """Series name -> colour, as the chart's key shows it (the swatch before each name)."""
    shown, swatch = {}, None
    for element in chart.iter():
        if element.tag in (f"{SVG}line", f"{SVG}rect") and element.get("class") is None:
            swatch = element.get("stroke") or element.get("fill")
        elif element.tag == f"{SVG}text" and element.get("class") == "legend":
            shown[element.text] = swatch
    return {name: c for name, c in shown.items() if name in ("candidate", "blessed")} or {
        name: c for name, c in shown.items() if name.startswith("concurrency")
    }


def _curves(chart: ET.Element) -> dict[str, str]:
    return {
        line.find(f"{SVG}title").text: line.get("stroke")
        for line in chart.iter(f"{SVG}polyline")
        if line.find(f"{SVG}title") is not None
    }


def _limits(chart: ET.Element) -> list[ET.Element]:
    return [line for line in chart.iter(f"{SVG}line") if line.get("class") == "limit"]


def test_each_model_keeps_its_colour_in_every_chart():
    charts = _charts(_report())
    by_model = [
        _strokes(charts[name])
        for name in (
            "latency CDF at concurrency 1",
            "latency CDF at concurrency 8",
            "resident memory over the validation",
        )
    ]
    assert all(set(s) == {"candidate", "blessed"} for s in by_model)
    assert len({s["candidate"] for s in by_model}) == 1
    assert len({s["blessed"] for s in by_model}) == 1
    assert by_model[0]["candidate"] != by_model[0]["blessed"]
    for name in ("latency CDF at concurrency 1", "resident memory over the validation"):
        assert _curves(charts[name]) == by_model[0]  # each curve in its key's colour
    # The ratio chart's series are concurrency levels: no model's colour on them.
    ratio = next(c for name, c in charts.items() if name.endswith(" per turn pair"))
    assert not set(_strokes(ratio).values()) & set(by_model[0].values())


def test_the_policy_limits_are_drawn_and_named_in_the_key():
    charts = _charts(_report())
    for level in (1, 8):
        chart = charts[f"latency CDF at concurrency {level}"]
        (budget,) = [e for e in _limits(chart) if e.find(f"{SVG}title").text.endswith("ms")]
        assert budget.get("x1") == budget.get("x2")  # a vertical line at the budget
        assert f"p99 budget {BUDGET_MS:g} ms" in _key(chart)
    memory = charts["resident memory over the validation"]
    (ceiling,) = _limits(memory)
    assert ceiling.get("y1") == ceiling.get("y2") and f"ceiling {CEILING_MB:g} MB" in _key(memory)
    ratio = next(c for name, c in charts.items() if name.endswith(" per turn pair"))
    assert f"limit {MAX_RATIO:g}x" in _key(ratio)


def test_the_key_sits_beside_the_plot_not_on_it():
    for name, chart in _charts(_report()).items():
        frame = [e for e in chart.iter(f"{SVG}line") if e.get("class") == "axis"]
        right = max(float(e.get("x2")) for e in frame)
        key = [t for t in chart.iter(f"{SVG}text") if t.get("class") == "legend"]
        assert key, name
        assert all(float(t.get("x")) > right for t in key), name
        # Entries do not overlap one another (one line each, 10 px text).
        ys = sorted(float(t.get("y")) for t in key)
        assert all(b - a >= 12 for a, b in zip(ys, ys[1:], strict=False)), name


def _key(chart: ET.Element) -> list[str]:
    return [t.text for t in chart.iter(f"{SVG}text") if t.get("class") == "legend"]
