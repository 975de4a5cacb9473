"""Charts as inline SVG: no script, no network, readable in any browser and in a file.

Each helper returns markup for one ``<svg>`` element. Every label that comes from data is
escaped. A series keeps its colour and line style everywhere a page draws it (splits
``train``, ``eval``, ``test`` in that order; a report that compares models passes one
colour per model), and every chart says what its marks are.

* :func:`distribution`: one numeric feature's shared bins (:mod:`mlrail.reports.binning`),
  one step outline per split;
* :func:`top_values`: a categorical feature's most frequent values, one bar per split;
* :func:`lines`: curves such as latency CDFs or memory over time, with the limits a
  policy sets drawn as lines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from markupsafe import Markup, escape

PALETTE = ("#3465a4", "#e0782b", "#4e9a06", "#75507b", "#c4a000", "#555753")
# Outlines of the same colour family still differ by their stroke: solid, dashed, dotted.
DASHES = ("", "6 3", "2 2", "8 3 2 3")
LIMIT_COLOUR = "#cc0000"
GUIDE_COLOUR = "#8c959f"
CHAR_WIDTH = 6.2  # px per character of a 10 px label, to reserve room for legends


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def dash(index: int) -> str:
    return DASHES[index % len(DASHES)]


@dataclass(frozen=True)
class Limit:
    """A value a policy sets, drawn across the plot (``axis`` "x": a vertical line)."""

    axis: str
    value: float
    text: str
    guide: bool = False  # a reading aid (grey), not a limit (red)
    shown: bool = True  # False: too far from the values to draw to scale (named only)


def _svg(width: int, height: int, label: str, body: Iterable[str], **data: str) -> Markup:
    extra = "".join(f' data-{k}="{escape(v)}"' for k, v in data.items())
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}"{extra}><title>{escape(label)}</title>'
        f"{''.join(body)}</svg>"
    )


def _tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) < 0.001:
        return f"{value:.1e}"
    return f"{value:.3g}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) covering ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten inside ``[low, high]``, and between them 2 and 5 times them over a
    decade or so, 3 times them over up to three (labels about evenly apart either way)."""
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    span = math.log10(high / low)
    steps = (1, 2, 5) if span <= 1.3 else (1, 3) if span <= 3 else (1,)
    ticks = [float(f"{m * 10.0**d:.12g}") for d in decades for m in steps]
    return [t for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)] or [low, high]


def _legend_entries(entries: Sequence[tuple[str, str, str, bool]], x: float, y: float) -> list:
    """A vertical key: (name, colour, dash, filled) per line, a line sample before each."""
    parts = []
    for i, (name, stroke, dashes, filled) in enumerate(entries):
        top = y + 15 * i
        fill = (
            f'<rect x="{x}" y="{top - 7}" width="18" height="8" fill="{stroke}" '
            f'fill-opacity="0.15"/>'
            if filled
            else ""
        )
        parts.append(
            f'{fill}<line x1="{x}" y1="{top - 3}" x2="{x + 18}" y2="{top - 3}" stroke="{stroke}" '
            f'stroke-width="2" stroke-dasharray="{dashes}"/>'
            f'<text x="{x + 23}" y="{top + 1}" class="legend">{escape(name)}</text>'
        )
    return parts


def legend(names: Sequence[str]) -> Markup:
    """The key shared by a page's distribution charts (splits in this order)."""
    parts, left = [], 2.0
    for i, name in enumerate(names):
        parts += _legend_entries([(name, colour(i), dash(i), i == 0)], left, 12)
        left += 32 + CHAR_WIDTH * len(name)
    return _svg(int(left) + 4, 18, "legend: " + ", ".join(names), parts)


SCALE_NOTES = {
    "linear": "{k} equal bins",
    "log": "log scale, {k} bins",
    "quantile": "{k} bins at {ref}'s quantiles",
    "values": "one bin per value",
}


def distribution(bins: Mapping | None, label: str, width: int = 300, height: int = 132) -> Markup:
    """One numeric feature's shared bins (``binning.Bins.to_dict()``): a step outline per
    split, the reference filled; a bar's height is the share of that split's rows."""
    if not bins or not bins.get("shares"):
        return _svg(width, height, f"{label}: no values", [_empty(width, height)])
    edges, shares = bins["edges"], bins["shares"]
    k = len(edges) - 1
    top, bottom, left, right = 8, 30, 34, 16
    plot_w, plot_h = width - left - right, height - top - bottom
    base = top + plot_h
    ceiling = _nice_ceiling(max(max(s) for s in shares.values()))
    xs = [left + j / k * plot_w for j in range(k + 1)]  # every scale: equal on screen
    parts = []
    for i, (name, split_shares) in enumerate(shares.items()):
        path = [f"M{xs[0]:.1f},{base:.1f}"]
        for j, share in enumerate(split_shares):
            y = base - share / ceiling * plot_h
            path.append(f"L{xs[j]:.1f},{y:.1f}L{xs[j + 1]:.1f},{y:.1f}")
        path.append(f"L{xs[-1]:.1f},{base:.1f}")
        fill = f'fill="{colour(i)}" fill-opacity="0.15"' if i == 0 else 'fill="none"'
        parts.append(
            f'<path class="split" data-split="{escape(name)}" d="{"".join(path)}" {fill} '
            f'stroke="{colour(i)}" stroke-width="1.5" stroke-dasharray="{dash(i)}">'
            f"<title>{escape(name)}</title></path>"
        )
    parts.append(_y_axis(left, top, plot_w, plot_h, ceiling))
    parts += _x_ticks(bins, xs, base)
    note = SCALE_NOTES.get(bins.get("scale", ""), "").format(k=k, ref=bins.get("reference", ""))
    parts.append(
        f'<text x="{left + plot_w}" y="{height - 3}" class="tick" text-anchor="end">'
        f"{escape(note)}</text>"
    )
    return _svg(width, height, label, parts, edges=" ".join(f"{e:.6g}" for e in edges))


def _nice_ceiling(value: float) -> float:
    """The round value (1, 2, 2.5 or 5 times a power of ten) at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    steps = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
    return next(m * power for m in steps if m * power >= value * (1 - 1e-9))


def _y_axis(left: float, top: float, plot_w: float, plot_h: float, ceiling: float) -> str:
    base = top + plot_h
    return (
        f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" class="axis"/>'
        f'<line x1="{left}" y1="{top}" x2="{left + plot_w}" y2="{top}" class="grid"/>'
        f'<text x="{left - 3}" y="{top + 4}" class="tick" text-anchor="end">'
        f"{100 * ceiling:.3g} %</text>"
        f'<text x="{left - 3}" y="{base}" class="tick" text-anchor="end">0</text>'
    )


def _x_ticks(bins: Mapping, xs: list[float], base: float) -> list[str]:
    """Tick labels under the axis, placed where their value falls on the shared edges."""
    edges, scale = bins["edges"], bins.get("scale")
    if scale == "quantile":  # edges are the ticks: a few of them, evenly spread
        step = max(1, math.ceil((len(edges) - 1) / 4))
        chosen = sorted({*range(0, len(edges), step), len(edges) - 1})
        ticks = [(xs[j], edges[j]) for j in chosen]
    else:
        low, high = edges[0], edges[-1]
        if scale == "log":
            values = log_ticks(low, high)
            span = math.log10(high / low)
            ticks = [(xs[0] + math.log10(v / low) / span * (xs[-1] - xs[0]), v) for v in values]
        else:
            values = [v for v in nice_ticks(low, high, 5) if low <= v <= high] or [low, high]
            if scale == "values":  # bins centred on their values: label those only
                centres = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
                values = [v for v in values if v in centres] or centres[:1]
            ticks = [(xs[0] + (v - low) / (high - low) * (xs[-1] - xs[0]), v) for v in values]
    parts = []
    for x, value in ticks:
        parts.append(
            f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 3}" class="axis"/>'
            f'<text x="{x:.1f}" y="{base + 13}" class="tick" text-anchor="middle">'
            f"{_tick(value)}</text>"
        )
    return parts


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


@dataclass(frozen=True)
class _Axis:
    low: float
    high: float
    log: bool

    @classmethod
    def over(
        cls, values: list[float], limits: list[float], log: bool, from_zero: bool, y: bool = False
    ) -> _Axis:
        """An axis showing ``values`` and ``limits``; a limit at the top gets headroom, so
        its line is not mistaken for the plot's frame, and a y axis ends on a tick."""
        finite = [v for v in [*values, *limits] if math.isfinite(v) and (v > 0 or not log)]
        low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
        top_limit = bool(limits) and max(limits) >= high
        if log:
            high = high if high > low else low * 10
            return cls(low, high * (high / low) ** 0.06 if top_limit else high, True)
        if from_zero:
            low = min(low, 0.0)
        ticks = nice_ticks(low, high if high > low else low + 1, 5)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
        high = math.ceil(high / step - 1e-9) * step if y else max(high, ticks[-1])
        high += step / 2 if top_limit else 0.0
        return cls(min(low, math.floor(low / step) * step), high, False)

    def fraction(self, value: float) -> float:
        if self.log:
            value = min(max(value, self.low), self.high)
            return math.log10(value / self.low) / math.log10(self.high / self.low)
        return (value - self.low) / ((self.high - self.low) or 1.0)

    def ticks(self) -> list[float]:
        if self.log:
            return log_ticks(self.low, self.high)
        slack = (self.high - self.low) * 1e-9
        ticks = nice_ticks(self.low, self.high, 5)
        return [t for t in ticks if self.low - slack <= t <= self.high + slack]


def lines(
    series: Mapping[str, Sequence[tuple[float, float]]],
    label: str,
    x_label: str,
    y_label: str,
    *,
    colours: Mapping[str, str] | None = None,
    limits: Sequence[Limit] = (),
    x_log: bool = False,
    y_from_zero: bool = True,
    width: int = 600,
    height: int = 260,
) -> Markup:
    """Curves with ticked axes and a key beside the plot (``{name: [(x, y), ...]}``).

    ``colours`` fixes a series' colour (a model keeps its colour across charts); the
    others take the palette in order. ``limits`` are drawn across the plot, and the axes
    stretch to show them. ``y_from_zero=False`` fits the y axis to the values (ratios).
    """
    series = {name: sorted(points) for name, points in series.items() if points}
    if not series:
        return _svg(width, height, f"{label}: no values", [_empty(width, height)])
    colours = {**{n: colour(i) for i, n in enumerate(series)}, **(colours or {})}
    limits = [_placed(lim, series, x_log, y_from_zero) for lim in limits]
    entries = [(n, colours[n], "", False) for n in series]
    entries += [
        (lim.text, _limit_colour(lim), "5 3" if not lim.guide else "2 3", False) for lim in limits
    ]
    key_w = 36 + CHAR_WIDTH * max(len(e[0]) for e in entries)
    top, bottom, left, right = 10, 40, 58, 12 + key_w
    plot_w, plot_h = width - left - right, height - top - bottom
    drawn = [lim for lim in limits if lim.shown]
    x_axis = _Axis.over(
        [x for p in series.values() for x, _ in p]
        + [lim.value for lim in drawn if lim.axis == "x" and lim.guide],
        [lim.value for lim in drawn if lim.axis == "x" and not lim.guide],
        x_log,
        from_zero=False,
    )
    y_axis = _Axis.over(
        [y for p in series.values() for _, y in p]
        + [lim.value for lim in drawn if lim.axis == "y" and lim.guide],
        [lim.value for lim in drawn if lim.axis == "y" and not lim.guide],
        False,
        from_zero=y_from_zero,
        y=True,
    )

    def at(x, y):
        return left + x_axis.fraction(x) * plot_w, top + plot_h - y_axis.fraction(y) * plot_h

    parts = _grid(x_axis, y_axis, at, (left, top, plot_w, plot_h))
    for name, points in series.items():
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(x, y) for x, y in points))
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colours[name]}" '
            f'stroke-width="1.8"><title>{escape(name)}</title></polyline>'
        )
    for lim in drawn:
        parts.append(_limit_line(lim, at, x_axis, y_axis))
    parts += _legend_entries(entries, left + plot_w + 14, top + 8)
    middle = top + plot_h / 2
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 4}" class="axis-label" '
        f'text-anchor="middle">{escape(x_label)}</text><text x="14" y="{middle}" '
        f'class="axis-label" text-anchor="middle" transform="rotate(-90 14 {middle})">'
        f"{escape(y_label)}</text>"
    )
    return _svg(width, height, label, parts)


# A limit is drawn to scale within this reach of the values: farther, the axis stretched
# to it would flatten the curves (a tests' 100x ratio limit over ratios near 1).
LINEAR_REACH = 3.0  # times the values' extent beyond them
LOG_REACH = 1.5  # decades beyond them


def _placed(limit: Limit, series: Mapping, x_log: bool, y_from_zero: bool) -> Limit:
    """``limit``, marked not shown (and named so in the key) when it is out of reach."""
    values = [p[0] if limit.axis == "x" else p[1] for points in series.values() for p in points]
    log = x_log and limit.axis == "x"
    finite = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if not finite or (log and limit.value <= 0):
        return limit
    low, high = min(finite), max(finite)
    if log:
        reach = max(math.log10(low / limit.value), math.log10(limit.value / high))
        near = reach <= LOG_REACH
    else:
        low = min(low, 0.0) if limit.axis == "y" and y_from_zero else low
        extent = (high - low) or abs(high) or 1.0
        near = low - LINEAR_REACH * extent <= limit.value <= high + LINEAR_REACH * extent
    if near:
        return limit
    where = "above" if limit.value > high else "below"
    return replace(limit, text=f"{limit.text} (far {where}, not drawn)", shown=False)


def _limit_colour(limit: Limit) -> str:
    return GUIDE_COLOUR if limit.guide else LIMIT_COLOUR


def _limit_line(limit: Limit, at, x_axis: _Axis, y_axis: _Axis) -> str:
    if limit.axis == "x":
        (x1, y1), (x2, y2) = at(limit.value, y_axis.low), at(limit.value, y_axis.high)
    else:
        (x1, y1), (x2, y2) = at(x_axis.low, limit.value), at(x_axis.high, limit.value)
    return (
        f'<line class="limit" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{_limit_colour(limit)}" stroke-width="1.5" '
        f'stroke-dasharray="{"2 3" if limit.guide else "5 3"}">'
        f"<title>{escape(limit.text)}</title></line>"
    )


def _grid(x_axis: _Axis, y_axis: _Axis, at, box: tuple[float, float, float, float]) -> list:
    left, top, plot_w, plot_h = box
    base = top + plot_h
    parts = [
        f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" class="axis"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" class="axis"/>'
    ]
    for value in y_axis.ticks():
        _, y = at(x_axis.low, value)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 5}" y="{y + 3:.1f}" class="tick" text-anchor="end">'
            f"{_tick(value)}</text>"
        )
    for value in x_axis.ticks():
        x, _ = at(value, y_axis.low)
        parts.append(
            f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" class="axis"/>'
            f'<text x="{x:.1f}" y="{base + 15}" class="tick" text-anchor="middle">'
            f"{_tick(value)}</text>"
        )
    return parts


def _empty(width: int, height: int) -> str:
    return (
        f'<text x="{width / 2}" y="{height / 2}" class="tick" text-anchor="middle">no values</text>'
    )
