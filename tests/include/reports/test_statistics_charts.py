"""The statistics page draws every split of a feature on the same bins, and a long tail
does not hide the body of a distribution. Statistics come from the real accumulators and
are read back through the page's data function from a real artifact store."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from mlrail.data.statistics import table_statistics
from mlrail.reports import render
from mlrail.reports.pages import statistics_page

SVG = "{http://www.w3.org/2000/svg}"


def _page(env, columns_by_split: dict[str, dict[str, np.ndarray]], edit=None) -> dict:
    document = {"engine": "in_process", "splits": {}}
    for split, columns in columns_by_split.items():
        stats = table_statistics(pd.DataFrame(columns))
        document["splits"][split] = stats
    if edit:
        edit(document)
    uri = env.artifacts.uri_for("p", "r", "statistics", 1, "statistics")
    with env.artifacts.write(uri) as staged:
        (staged.path / "statistics.json").write_text(json.dumps(document))
    artifact = env.metadata.put_artifact("DatasetStatistics", uri, staged.info.fingerprint)
    return statistics_page(env, artifact.id)


def _chart(page: dict, name: str) -> tuple[dict, ET.Element]:
    (feature,) = [f for f in page["features"] if f["name"] == name]
    html = render("statistics.html", standalone=True, urls=_Links(), title="s", **page)
    start = html.index(f'aria-label="{name} by split"')
    start = html.rindex("<svg", 0, start)
    svg = ET.fromstring(html[start : html.index("</svg>", start) + len("</svg>")])
    return feature["chart"], svg


def _outlines(svg: ET.Element) -> dict[str, list[tuple[float, float]]]:
    """Each split's drawn outline as its (x, y) corners, read from the SVG."""
    drawn = {}
    for shape in svg.iter():
        title = shape.find(f"{SVG}title")
        if title is None or shape.get("stroke") is None:
            continue
        corners = (shape.get("d") or shape.get("points")).replace("M", " ").replace("L", " ")
        drawn[title.text] = [tuple(map(float, c.split(","))) for c in corners.split()]
    return drawn


def _largest_bar(corners: list[tuple[float, float]]) -> float:
    """The share of an outline's area under its largest step: what the eye reads as the
    share of rows in the fullest bin."""
    base = max(y for _, y in corners)
    areas = [
        (x1 - x0) * (base - y0)
        for (x0, y0), (x1, y1) in zip(corners, corners[1:], strict=False)
        if y0 == y1 and x1 > x0
    ]
    return max(areas) / sum(areas)


def test_splits_of_one_distribution_with_different_extremes_share_their_bins(env):
    values = np.linspace(0.0, 100.0, 2001)
    # eval holds the same distribution without train's extremes (its own min/max differ).
    page = _page(env, {"train": {"x": values}, "eval": {"x": values[40:-40]}})
    chart, svg = _chart(page, "x")
    drawn = _outlines(svg)
    assert set(drawn) == {"train", "eval"}
    # The same bins on screen: both outlines step at the same x positions...
    assert [x for x, _ in drawn["train"]] == [x for x, _ in drawn["eval"]]
    assert chart["edges"][0] == 0.0 and chart["edges"][-1] == 100.0
    # ...and identical distributions draw (nearly) the same heights, inner bins alike.
    train, held_out = chart["shares"]["train"], chart["shares"]["eval"]
    assert len(train) == len(held_out) == len(chart["edges"]) - 1
    assert train[1:-1] == pytest.approx(held_out[1:-1], abs=0.004)
    assert svg.get("data-edges").split() == [f"{e:.6g}" for e in chart["edges"]]


def test_a_lognormal_column_shows_its_body(env):
    rng = np.random.default_rng(7)
    train, test = rng.lognormal(0.0, 1.5, 3000), rng.lognormal(0.0, 1.5, 400)
    page = _page(env, {"train": {"fare": train}, "test": {"fare": test}})
    chart, svg = _chart(page, "fare")
    # Ten equal-width bins put ~95 % of these rows in the first; here no bin holds more
    # than a quarter and the body spreads over many bins.
    assert all(_largest_bar(corners) < 0.25 for corners in _outlines(svg).values())
    assert chart["scale"] == "log" and "log scale" in "".join(svg.itertext())
    shares = chart["shares"]["train"]
    assert max(shares) < 0.25 and sum(s >= 0.03 for s in shares) >= 8


def test_a_long_tail_through_zero_is_binned_by_the_reference_quantiles(env):
    rng = np.random.default_rng(3)
    values = np.concatenate([-rng.lognormal(0.0, 1.6, 2000), rng.lognormal(0.0, 1.6, 200)])
    page = _page(env, {"train": {"delta": values}})
    chart, _ = _chart(page, "delta")
    assert chart["scale"] == "quantile"
    assert max(chart["shares"]["train"]) < 0.1


def test_integral_values_get_one_bin_each_and_exact_shares(env):
    hours = np.array([0] * 10 + [1] * 30 + [5] * 60)
    page = _page(env, {"train": {"hour": hours}, "eval": {"hour": np.array([1, 5, 5, 5])}})
    chart, _ = _chart(page, "hour")
    assert chart["scale"] == "values" and chart["edges"] == [-0.5 + i for i in range(7)]
    assert chart["shares"]["train"] == [0.1, 0.3, 0, 0, 0, 0.6]
    assert chart["shares"]["eval"] == [0, 0.25, 0, 0, 0, 0.75]
    assert set(chart["sources"].values()) == {"exact"}


def test_statistics_without_the_quantile_grid_still_render_and_say_so(env):
    def older(document):  # as an artifact written before the grid existed
        for split in document["splits"].values():
            for stats in split["features"].values():
                stats.pop("quantile_grid", None)

    values = np.random.default_rng(1).normal(10, 2, 1000)
    page = _page(env, {"train": {"x": values}, "eval": {"x": values[:300] + 1}}, edit=older)
    chart, svg = _chart(page, "x")
    assert set(chart["sources"].values()) == {"quantiles"}
    assert page["coarse_bins"] == ["x"]
    assert sum(chart["shares"]["eval"]) == pytest.approx(1.0, abs=1e-5)
    assert len(_outlines(svg)) == 2
    html = render("statistics.html", standalone=True, urls=_Links(), title="s", **page)
    assert "interpolated between 9 stored quantiles" in html


class _Links:
    def __getattr__(self, name):
        return lambda *parts: "/" + "/".join(map(str, (name, *parts)))


def test_a_constant_column_and_an_empty_split_still_draw(env):
    empty = np.full(5, np.nan)
    page = _page(env, {"train": {"c": np.full(50, 2.5)}, "eval": {"c": empty}})
    chart, svg = _chart(page, "c")
    assert chart["edges"] == [2.0, 3.0] and chart["shares"] == {"train": [1.0]}
    assert set(_outlines(svg)) == {"train"} and "2.5" in "".join(svg.itertext())
