"""The report toolkit: templates escape data, charts are self-contained SVG."""

import xml.etree.ElementTree as ET

import pytest
from jinja2 import UndefinedError

from mlrail.reports import charts, duration, number, percent, render, stylesheet

SVG = "{http://www.w3.org/2000/svg}"
XSS = "<script>alert(1)</script>"


def _svg(markup) -> ET.Element:
    root = ET.fromstring(str(markup))  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    return root


def test_distribution_draws_every_split_on_the_shared_bins():
    bins = {
        "edges": [0, 5, 10],
        "scale": "linear",
        "shares": {"train": [0.8, 0.2], "eval": [0.5, 0.5]},
        "sources": {"train": "grid", "eval": "grid"},
        "reference": "train",
    }
    root = _svg(charts.distribution(bins, "fare by split"))
    paths = root.findall(f"{SVG}path")
    assert [p.find(f"{SVG}title").text for p in paths] == ["train", "eval"]
    assert [p.get("stroke") for p in paths] == [charts.colour(0), charts.colour(1)]
    # Outlines that differ by stroke too; only the reference is filled (nothing blends).
    assert paths[0].get("stroke-dasharray") != paths[1].get("stroke-dasharray")
    assert [p.get("fill") for p in paths] == [charts.colour(0), "none"]
    # Heights are shares of each split's rows: eval's 50 % is 5/8 of train's 80 %.
    heights = []
    for path in paths:
        ys = [float(c.split(",")[1]) for c in path.get("d").replace("M", " L").split("L")[1:]]
        heights.append(max(ys) - min(ys))
    assert heights[1] == pytest.approx(0.625 * heights[0], rel=0.01)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"0", "5", "10", "80 %"} <= set(texts)  # ticks, and the share at the top


def test_top_values_escape_what_data_brings():
    root = _svg(charts.top_values({"train": [(XSS, 3), ("Cash", 1)]}, f"payment {XSS}"))
    assert XSS not in str(charts.top_values({"train": [(XSS, 3)]}, XSS))
    assert root.get("aria-label") == f"payment {XSS}"  # the text survives, escaped
    bars = root.findall(f"{SVG}rect")
    assert len(bars) == 2 and float(bars[0].get("width")) > float(bars[1].get("width"))


def test_lines_draw_one_curve_per_series_and_empty_data_says_so():
    root = _svg(
        charts.lines(
            {"candidate": [(1, 0.5), (2, 1.0)], "blessed": [(1.5, 0.5), (3, 1.0)]},
            "latency CDF",
            "ms",
            "share of requests",
        )
    )
    assert len(root.findall(f"{SVG}polyline")) == 2
    assert {"candidate", "blessed", "ms", "share of requests"} <= {
        t.text for t in root.iter(f"{SVG}text")
    }
    empty = _svg(charts.distribution(None, "nothing"))
    assert [t.text for t in empty.iter(f"{SVG}text")] == ["no values"]


def test_lines_keep_given_colours_draw_limits_and_keep_the_key_off_the_plot():
    drawn = charts.lines(
        {"blessed": [(0, 100), (10, 120)], "candidate": [(0, 90), (10, 300)]},
        "memory",
        "seconds",
        "MB",
        colours={"candidate": "#111111", "blessed": "#222222"},
        limits=[charts.Limit("y", 512, "ceiling 512 MB")],
    )
    root = _svg(drawn)
    strokes = {p.find(f"{SVG}title").text: p.get("stroke") for p in root.iter(f"{SVG}polyline")}
    assert strokes == {"candidate": "#111111", "blessed": "#222222"}
    (limit,) = [e for e in root.iter(f"{SVG}line") if e.get("class") == "limit"]
    axis_x = [float(e.get("x2")) for e in root.iter(f"{SVG}line") if e.get("class") == "axis"]
    plot_right = max(axis_x)
    # The ceiling is inside the y range (the axis stretched to it) and spans the plot.
    assert float(limit.get("y1")) == float(limit.get("y2")) > 0
    assert float(limit.get("x2")) == pytest.approx(plot_right)
    key = [t for t in root.iter(f"{SVG}text") if t.get("class") == "legend"]
    assert [t.text for t in key] == ["blessed", "candidate", "ceiling 512 MB"]
    assert all(float(t.get("x")) > plot_right for t in key)  # beside the plot, not on it


def test_a_limit_far_from_the_values_is_named_not_drawn():
    ratios = {"concurrency 1": [(1, 0.9), (2, 1.1), (3, 1.05)]}
    far = charts.lines(ratios, "r", "round", "ratio", limits=[charts.Limit("y", 100, "limit 100x")])
    root = _svg(far)
    assert not [e for e in root.iter(f"{SVG}line") if e.get("class") == "limit"]
    key = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "legend"]
    assert key == ["concurrency 1", "limit 100x (far above, not drawn)"]
    ticks = [float(t.text) for t in root.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert max(ticks) < 5  # the axis stays on the ratios, not stretched to 100
    near = _svg(charts.lines(ratios, "r", "round", "ratio", limits=[charts.Limit("y", 1.2, "x")]))
    assert len([e for e in near.iter(f"{SVG}line") if e.get("class") == "limit"]) == 1


def test_templates_escape_values_and_need_every_variable():
    html = render("alias_history.html", standalone=True, alias_history=[], model="m", urls=None)
    assert "No alias has moved." in html
    page = render(
        "runs.html",
        stylesheet_url="/s.css",
        urls=_Links(),
        title=XSS,
        dag_id="d",
        runs=[],
    )
    assert XSS not in page and "&lt;script&gt;" in page
    assert '<link rel="stylesheet" href="/s.css">' in page
    with pytest.raises(UndefinedError):
        render("runs.html", stylesheet_url="/s.css", urls=_Links(), title="t", runs=[])
    with pytest.raises(ValueError, match="stylesheet_url"):
        render("runs.html", urls=_Links(), title="t", dag_id="d", runs=[])


def test_a_standalone_report_carries_its_stylesheet():
    page = render("runs.html", standalone=True, urls=_Links(), title="t", dag_id="d", runs=[])
    assert stylesheet() in page and "<link" not in page


def test_numbers_read_as_people_write_them():
    assert [number(v) for v in (12345, 2.0, 0.123456, 98765.4, None, True)] == [
        "12,345",
        "2",
        "0.1235",
        "98,765",
        "–",
        "True",
    ]
    assert [percent(v) for v in (0, 0.0201, 0.00005)] == ["0.0 %", "2.0 %", "0.005 %"]
    assert [duration(v) for v in (2.04, 125, 7300)] == ["2.0 s", "2 min 05 s", "2 h 1 min"]


class _Links:
    def __getattr__(self, name):
        return lambda *parts: "/" + "/".join(map(str, (name, *parts)))
