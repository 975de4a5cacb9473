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


def test_distribution_overlays_splits_on_one_axis():
    buckets = {
        "train": [{"low": 0, "high": 5, "count": 80}, {"low": 5, "high": 10, "count": 20}],
        "eval": [{"low": 0, "high": 10, "count": 10}],
    }
    root = _svg(charts.distribution(buckets, "fare by split"))
    polygons = root.findall(f"{SVG}polygon")
    assert [p.find(f"{SVG}title").text for p in polygons] == ["train", "eval"]
    assert [p.get("stroke") for p in polygons] == [charts.colour(0), charts.colour(1)]
    # Densities: train's first bucket holds 80 % of its rows in half the range (0.16 per
    # unit), the tallest step; eval's single bucket spreads all its rows over the whole
    # range (0.1 per unit), 5/8 of that height whatever the split sizes.
    heights = []
    for polygon in polygons:
        ys = [float(point.split(",")[1]) for point in polygon.get("points").split()]
        heights.append(max(ys) - min(ys))
    assert heights[1] == pytest.approx(0.625 * heights[0], rel=0.01)
    assert [t.text for t in root.findall(f"{SVG}text")] == ["0", "10"]


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
    empty = _svg(charts.distribution({"train": []}, "nothing"))
    assert [t.text for t in empty.iter(f"{SVG}text")] == ["no values"]


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
