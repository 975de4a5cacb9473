"""One set of bins per numeric feature, shared by every split, from what statistics store.

Splits are only comparable on the same bins: each split's own equal-width histogram has
its own edges, so two samples of one distribution with different extremes looked
different. Here every split's stored summary becomes a cumulative distribution (CDF),
evaluated at one set of edges per feature:

* ``exact``: an integral column with few values keeps every value's count; its CDF is
  exact, and so is every bin.
* ``grid``: otherwise the quantile sketch's grid (a quantile every 0.1 %); the CDF is
  interpolated linearly between grid points, so a bin's share is off by at most the
  sketch's rank error (0.5 %) plus the mass of the grid step an edge falls in (0.1 %).
* ``quantiles``: statistics written before the grid existed hold 9 quantiles, the min
  and the max; the same interpolation then assumes rows spread evenly between p1 and
  p5 and so on: right in the body, coarse in the tails (the page says so).

The axis is chosen by a rule on the reference split (the first, ``train``): an axis hides
a distribution's body when the reference's middle 98 % (p1..p99) covers less than 40 %
of it, or when its median sits in the outer fifth of that body (a long tail squeezing
most rows against one end: an exponential's median sits at 15 % of its body). Linear is
kept when it shows the body; else a log axis when every value is positive; else bins
holding equal shares of the reference (its quantiles), drawn equally wide. Bins are
equally wide on screen in every scale, so a bar's height is the share of the split's rows
in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# Integral columns spanning at most this many values get one bin per value.
MAX_VALUE_BINS = 60
BODY = (0.01, 0.99)
MIN_BODY_SHARE = 0.4  # of the axis the reference's p1..p99 must cover
MIN_MEDIAN_OFFSET = 0.2  # of the body, between its median and either end


@dataclass(frozen=True)
class Cdf:
    """A CDF as points ``(x, share <= x)``, linear between them; equal x's mark a jump."""

    x: np.ndarray
    share: np.ndarray
    source: str  # exact | grid | quantiles | histogram

    def at(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=float)
        hi = np.searchsorted(self.x, points, side="right")
        inside = (hi > 0) & (hi < self.x.size)
        lo_i, hi_i = np.clip(hi - 1, 0, self.x.size - 1), np.clip(hi, 0, self.x.size - 1)
        x0, x1 = self.x[lo_i], self.x[hi_i]
        f0, f1 = self.share[lo_i], self.share[hi_i]
        step = np.where(x1 > x0, (points - x0) / np.where(x1 > x0, x1 - x0, 1.0), 0.0)
        return np.where(hi == 0, 0.0, np.where(inside, f0 + step * (f1 - f0), 1.0))

    def quantile(self, q: float) -> float:
        i = int(np.searchsorted(self.share, q, side="left"))
        if i == 0:
            return float(self.x[0])
        if i >= self.x.size:
            return float(self.x[-1])
        f0, f1 = self.share[i - 1], self.share[i]
        return float(self.x[i - 1] + (q - f0) / (f1 - f0) * (self.x[i] - self.x[i - 1]))


def split_cdf(stats: Mapping[str, Any]) -> Cdf | None:
    """The CDF a split's stored numeric statistics allow, the most exact first."""
    if not stats.get("count") or stats.get("min") is None:
        return None
    values = stats.get("top_values") or []
    if stats.get("top_exact") and values and sum(v["count"] for v in values) == stats["count"]:
        ordered = sorted((float(v["value"]), v["count"]) for v in values)
        xs = np.repeat([x for x, _ in ordered], 2)
        after = np.cumsum([c for _, c in ordered]) / stats["count"]
        before = np.concatenate([[0.0], after[:-1]])
        return Cdf(xs, np.column_stack([before, after]).ravel(), "exact")
    grid = stats.get("quantile_grid") or []
    if len(grid) > 2:
        return Cdf(np.asarray(grid, float), np.linspace(0.0, 1.0, len(grid)), "grid")
    quantiles = sorted((float(q), v) for q, v in (stats.get("quantiles") or {}).items())
    if quantiles:
        xs = [stats["min"], *(v for _, v in quantiles), stats["max"]]
        qs = [0.0, *(q for q, _ in quantiles), 1.0]
        return Cdf(np.maximum.accumulate(np.asarray(xs, float)), np.asarray(qs), "quantiles")
    buckets = stats.get("histogram") or []
    if buckets:
        xs = [buckets[0]["low"], *(b["high"] for b in buckets)]
        counts = np.cumsum([0.0, *(b["count"] for b in buckets)])
        return Cdf(np.asarray(xs, float), counts / (counts[-1] or 1.0), "histogram")
    return None


@dataclass(frozen=True)
class Bins:
    """Shared bins of one feature: ``edges`` (len k+1) and each split's share per bin."""

    edges: list[float]
    scale: str  # linear | log | quantile | values
    shares: dict[str, list[float]]
    sources: dict[str, str]
    reference: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": self.edges,
            "scale": self.scale,
            "shares": self.shares,
            "sources": self.sources,
            "reference": self.reference,
        }


def shared_bins(per_split: Mapping[str, Mapping[str, Any]]) -> Bins | None:
    """Bins of one numeric feature shared by every split (``{split: stored statistics}``);
    the first split with values is the reference. None when no split has a value."""
    cdfs = {name: cdf for name, stats in per_split.items() if (cdf := split_cdf(stats))}
    if not cdfs:
        return None
    reference = next(iter(cdfs))
    low = min(float(c.x[0]) for c in cdfs.values())
    high = max(float(c.x[-1]) for c in cdfs.values())
    counts = [per_split[name]["count"] for name in cdfs]
    edges, scale = _edges(cdfs, reference, low, high, _bin_count(min(counts)))
    shares = {}
    for name, cdf in cdfs.items():
        # The first bin holds the minimum and the last the maximum: a point mass at an
        # end is counted, not lost outside the edges.
        inner = cdf.at(edges[1:-1])
        shares[name] = [round(float(s), 6) for s in np.diff(np.concatenate([[0], inner, [1]]))]
    sources = {name: cdf.source for name, cdf in cdfs.items()}
    return Bins([float(e) for e in edges], scale, shares, sources, reference)


def _bin_count(rows: int) -> int:
    # Rice's rule on the smallest split: finer bins would show its sampling noise.
    return int(np.clip(round(2 * rows ** (1 / 3)), 8, 30))


def _edges(
    cdfs: Mapping[str, Cdf], reference: str, low: float, high: float, k: int
) -> tuple[np.ndarray, str]:
    if high == low:
        return np.array([low - 0.5, low + 0.5]), "values"
    if all(c.source == "exact" for c in cdfs.values()) and _integral(cdfs.values()):
        if high - low + 1 <= MAX_VALUE_BINS:
            return np.arange(low - 0.5, high + 1.0), "values"
    ref = cdfs[reference]
    body = [ref.quantile(q) for q in BODY] + [ref.quantile(0.5)]
    if _shows_body(body, low, high, lambda v: v):
        return np.linspace(low, high, k + 1), "linear"
    if low > 0 and _shows_body(body, low, high, np.log10):
        return np.logspace(np.log10(low), np.log10(high), k + 1), "log"
    inner = [ref.quantile(i / k) for i in range(1, k)]
    edges = np.unique(np.asarray([low, *inner, high], float))
    return (edges, "quantile") if edges.size > 2 else (np.linspace(low, high, k + 1), "linear")


def _integral(cdfs) -> bool:
    return all(np.all(np.mod(c.x, 1) == 0) for c in cdfs)


def _shows_body(body: list[float], low: float, high: float, scale) -> bool:
    """Whether an axis in ``scale`` over ``[low, high]`` shows the reference's body."""
    p1, p99, median = (float(scale(v)) for v in body)
    axis = float(scale(high) - scale(low))
    if p99 <= p1:  # a point mass holds the body: no axis spreads it, linear is honest
        return True
    offset = (median - p1) / (p99 - p1)
    return (p99 - p1) / axis >= MIN_BODY_SHARE and MIN_MEDIAN_OFFSET <= offset <= (
        1 - MIN_MEDIAN_OFFSET
    )
