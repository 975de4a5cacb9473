"""The HTML toolkit: Jinja2 templates, one stylesheet and SVG chart helpers.

Every page the plugin serves and every report kept in an artifact is a template under
``templates/`` filled by a data function that returns plain JSON-able data (the page's
``?format=json`` twin). Nothing here needs the network to be viewed: charts are inline
SVG drawn by :mod:`mlrail.reports.charts`, and the stylesheet is either linked from the
server that serves the page or, for a report stored in an artifact, inlined.

    >>> from mlrail.reports import render
    >>> html = render("report.html", title="Sandbox", standalone=True, sections=[...])

Templates escape every value (autoescape); only chart helpers return markup.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from mlrail.reports import charts


def stylesheet() -> str:
    """The one stylesheet of every page and report."""
    return resources.files(__package__).joinpath("static/mlrail.css").read_text()


def number(value: Any, digits: int = 4) -> str:
    """A number as people read it: ``12,345`` for counts, 4 significant digits otherwise."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.0f}" if abs(value) >= 10**digits else f"{value:.{digits}g}"


def percent(share: float | None) -> str:
    if share is None:
        return "–"
    return f"{100 * share:.1f} %" if share >= 0.001 or share == 0 else f"{100 * share:.2g} %"


def moment(value: datetime | str | None) -> str:
    """A timestamp in UTC to the second, the way run summaries print it."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return (
        f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
    )


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader(__package__, "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=number, percent=percent, moment=moment, duration=duration)
    env.globals["charts"] = charts
    return env


def render(template: str, *, standalone: bool = False, stylesheet_url: str = "", **data) -> str:
    """``template`` filled with ``data``.

    ``standalone`` inlines the stylesheet (a report file opened on its own); otherwise the
    page links ``stylesheet_url`` (a server that serves :func:`stylesheet`).
    """
    if not standalone and not stylesheet_url:
        raise ValueError("a page that is not standalone needs the stylesheet_url it links")
    css = stylesheet() if standalone else None
    return (
        environment().get_template(template).render(css=css, stylesheet_url=stylesheet_url, **data)
    )
