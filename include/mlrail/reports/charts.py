"""Charts as inline SVG: no script, no network, readable in any browser and in a file.

Each helper returns markup for one ``<svg>`` element. Every label that comes from data is
escaped. Series are drawn in the same colours, in the same order, everywhere (splits
``train``, ``eval``, ``test`` in that order; candidate before blessed), with a legend.

* :func:`distribution`: one numeric feature, one outline per split on a shared axis;
* :func:`top_values`: a categorical feature's most frequent values, one bar per split;
* :func:`lines`: curves such as latency CDFs or memory over time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from markupsafe import Markup, escape

PALETTE = ("#3465a4", "#e0782b", "#4e9a06", "#75507b", "#cc0000", "#555753")


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _svg(width: int, height: int, label: str, body: Iterable[str]) -> Markup:
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>{"".join(body)}</svg>'
    )


def _tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    parts = []
    for i, name in enumerate(names):
        left = x + 70 * i
        parts.append(
            f'<rect x="{left}" y="{y - 8}" width="10" height="10" fill="{colour(i)}"/>'
            f'<text x="{left + 14}" y="{y + 1}" class="legend">{escape(name)}</text>'
        )
    return parts


def distribution(
    buckets: Mapping[str, Sequence[Mapping[str, float]]],
    label: str,
    width: int = 300,
    height: int = 110,
) -> Markup:
    """Histograms of one numeric feature (``{split: [{"low", "high", "count"}, ...]}``).

    Heights are each split's share of its rows per unit of the axis (a density), so splits
    of different sizes overlay on the same scale.
    """
    series = {name: [b for b in bs if b["high"] >= b["low"]] for name, bs in buckets.items()}
    series = {name: bs for name, bs in series.items() if bs}
    top, bottom, left, right = 6, 18, 4, 4
    plot_w, plot_h = width - left - right, height - top - bottom
    if not series:
        return _svg(width, height, f"{label}: no values", [_empty(width, height)])
    low = min(b["low"] for bs in series.values() for b in bs)
    high = max(b["high"] for bs in series.values() for b in bs)
    span = (high - low) or 1.0

    def density(bs, b):
        total = sum(x["count"] for x in bs) or 1.0
        return b["count"] / total / max(b["high"] - b["low"], span / 1000)

    peak = max(density(bs, b) for bs in series.values() for b in bs) or 1.0
    parts = []
    for i, (name, bs) in enumerate(series.items()):
        points = [f"{left},{top + plot_h}"]
        for b in sorted(bs, key=lambda b: b["low"]):
            x0 = left + (b["low"] - low) / span * plot_w
            x1 = left + max(b["high"] - low, (b["low"] - low) + span / 1000) / span * plot_w
            y = top + plot_h - density(bs, b) / peak * plot_h
            points += [f"{x0:.1f},{y:.1f}", f"{x1:.1f},{y:.1f}"]
        points.append(f"{left + plot_w},{top + plot_h}")
        parts.append(
            f'<polygon points="{" ".join(points)}" fill="{colour(i)}" fill-opacity="0.22" '
            f'stroke="{colour(i)}" stroke-width="1.2"><title>{escape(name)}</title></polygon>'
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'class="axis"/><text x="{left}" y="{height - 4}" class="tick">{_tick(low)}</text>'
        f'<text x="{left + plot_w}" y="{height - 4}" class="tick" text-anchor="end">'
        f"{_tick(high)}</text>"
    )
    return _svg(width, height, label, parts)


def top_values(
    counts: Mapping[str, Sequence[tuple[object, float]]],
    label: str,
    width: int = 300,
    limit: int = 8,
) -> Markup:
    """The most frequent values of a categorical feature (``{split: [(value, count)]}``),
    ordered by the first split, as shares of each split's counted rows."""
    series = {name: list(values) for name, values in counts.items()}
    first = next(iter(series.values()), [])
    values = [v for v, _ in first[:limit]]
    for rows in series.values():  # values the first split lacks still show
        values += [v for v, _ in rows[:limit] if v not in values][: max(0, limit - len(values))]
    bar, gap, label_w = 6, 6, 96
    row_h = bar * max(1, len(series)) + gap
    height = max(24, row_h * len(values) + 8)
    if not values:
        return _svg(width, height, f"{label}: no values", [_empty(width, height)])
    shares = {}
    for name, rows in series.items():
        total = sum(c for _, c in rows) or 1.0
        shares[name] = {v: c / total for v, c in rows}
    peak = max((s for by in shares.values() for s in by.values()), default=1.0) or 1.0
    plot_w = width - label_w - 40
    parts = []
    for r, value in enumerate(values):
        y = 4 + r * row_h
        text = str(value) if len(str(value)) <= 14 else str(value)[:13] + "…"
        parts.append(
            f'<text x="{label_w - 4}" y="{y + row_h / 2}" class="tick" text-anchor="end">'
            f"{escape(text)}<title>{escape(value)}</title></text>"
        )
        for i, name in enumerate(series):
            share = shares[name].get(value, 0.0)
            w = max(share / peak * plot_w, 0.5)
            parts.append(
                f'<rect x="{label_w}" y="{y + i * bar}" width="{w:.1f}" height="{bar - 1}" '
                f'fill="{colour(i)}"><title>{escape(name)}: {100 * share:.1f} %</title></rect>'
            )
        best = max(shares[name].get(value, 0.0) for name in series)
        parts.append(
            f'<text x="{label_w + max(best / peak * plot_w, 0.5) + 3:.1f}" '
            f'y="{y + row_h / 2}" class="tick">{100 * best:.0f} %</text>'
        )
    return _svg(width, height, label, parts)


def lines(
    series: Mapping[str, Sequence[tuple[float, float]]],
    label: str,
    x_label: str,
    y_label: str,
    width: int = 480,
    height: int = 240,
) -> Markup:
    """Curves with axes and a legend (``{name: [(x, y), ...]}``), e.g. a latency CDF."""
    series = {name: sorted(points) for name, points in series.items() if points}
    top, bottom, left, right = 24, 34, 52, 12
    plot_w, plot_h = width - left - right, height - top - bottom
    if not series:
        return _svg(width, height, f"{label}: no values", [_empty(width, height)])
    xs = [x for points in series.values() for x, _ in points]
    ys = [y for points in series.values() for _, y in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(0.0, min(ys)), max(ys)
    x_span, y_span = (x1 - x0) or 1.0, (y1 - y0) or 1.0

    def at(x, y):
        return left + (x - x0) / x_span * plot_w, top + plot_h - (y - y0) / y_span * plot_h

    parts = _legend(list(series), left, 12)
    for fraction in (0, 0.5, 1):
        y = top + plot_h - fraction * plot_h
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{y + 3:.1f}" class="tick" text-anchor="end">'
            f"{_tick(y0 + fraction * y_span)}</text>"
        )
    for i, points in enumerate(series.values()):
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(x, y) for x, y in points))
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour(i)}" stroke-width="1.6"/>'
        )
    parts.append(
        f'<text x="{left}" y="{height - 16}" class="tick">{_tick(x0)}</text>'
        f'<text x="{left + plot_w}" y="{height - 16}" class="tick" text-anchor="end">'
        f'{_tick(x1)}</text><text x="{left + plot_w / 2}" y="{height - 3}" class="tick" '
        f'text-anchor="middle">{escape(x_label)}</text><text x="12" y="{top + plot_h / 2}" '
        f'class="tick" text-anchor="middle" transform="rotate(-90 12 {top + plot_h / 2})">'
        f"{escape(y_label)}</text>"
    )
    return _svg(width, height, label, parts)


def legend(names: Sequence[str]) -> Markup:
    """The colour key shared by the charts of a page (series in this order)."""
    width = 70 * len(names) + 8
    return _svg(width, 16, "legend: " + ", ".join(names), _legend(names, 2, 12))


def _empty(width: int, height: int) -> str:
    return (
        f'<text x="{width / 2}" y="{height / 2}" class="tick" text-anchor="middle">no values</text>'
    )
