"""Great Expectations (GX Core 1.x) on each split: a suite generated from the schema plus
the user's suites from ``include/expectations/*.json``, with Data Docs saved as HTML.

GX runs in the task with an ephemeral context (no GX project on disk; not the Airflow GX
provider, which pins old dependencies and loads data at DAG parse time). It reads a split
into pandas, so it runs on at most ``sample_rows`` rows per split; mlrail's own validation
covers every row through the statistics.

A user suite file is the JSON GX writes for a suite (``suite.to_json_dict()``):
``{"name": "...", "expectations": [{"type": "expect_...", "kwargs": {...}}, ...]}``.
A failing user expectation is a blocking anomaly; a failing generated one is a warning,
because it repeats a check the statistics-based validation already reports.

The Data Docs name what was validated: the run name is the dataset and its version
(``taxi_tips v3``), each split is a data asset (``train``; its batch ``taxi_tips-train``),
and a validation page says ``Data asset: taxi_tips v3 · train``. They are rewritten, as
they are written, to load nothing from outside their own folder; see ``offline_page``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    import pandas as pd

GENERATED = "mlrail_schema"


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    expectations: list[dict[str, Any]]
    blocking: bool
    source: str


def suite_from_schema(schema: dict[str, Any], limits: dict[str, float]) -> SuiteSpec:
    """Expectations equivalent to the schema: columns exist, nulls, ranges, domains."""
    expectations = []
    for feature in schema["features"]:
        column = feature["name"]
        expectations.append({"type": "expect_column_to_exist", "kwargs": {"column": column}})
        if not feature["nullable"]:
            expectations.append(
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}}
            )
        if feature["role"] == "numeric" and feature.get("min") is not None:
            expectations.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {
                        "column": column,
                        "min_value": feature["min"],
                        "max_value": feature["max"],
                        "mostly": 1 - limits["max_out_of_range_share"],
                    },
                }
            )
        elif feature["role"] == "categorical" and feature.get("domain"):
            expectations.append(
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {
                        "column": column,
                        "value_set": feature["domain"],
                        "mostly": 1 - limits["max_unseen_category_share"],
                    },
                }
            )
    label = schema["label"]["name"]
    expectations.append(
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": label}}
    )
    return SuiteSpec(GENERATED, expectations, blocking=False, source="schema")


def load_user_suites(directory: Path) -> list[SuiteSpec]:
    """Every ``*.json`` suite in ``directory``; a malformed file fails naming the file."""
    suites = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            raw = json.loads(path.read_text())
            expectations = [
                {"type": e["type"], "kwargs": e.get("kwargs", {})} for e in raw["expectations"]
            ]
            name = raw.get("name") or path.stem
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"{path}: not a GX expectation suite (expected "
                f'{{"name": ..., "expectations": [{{"type": ..., "kwargs": ...}}]}}):'
                f" {err!r}"
            ) from None
        suites.append(SuiteSpec(name, expectations, blocking=True, source=str(path)))
    return suites


def _summary(result: Any) -> dict[str, Any]:
    failed = []
    for item in result.results:
        if not item.success:
            config = item.expectation_config
            observed = (item.result or {}).get("partial_unexpected_list")
            observed = (
                observed if observed is not None else (item.result or {}).get("observed_value")
            )
            failed.append(
                {
                    "expectation": config.type,
                    "column": config.kwargs.get("column"),
                    "kwargs": {
                        k: v for k, v in config.kwargs.items() if k not in ("column", "batch_id")
                    },
                    "observed": json.loads(json.dumps(observed, default=str)),
                    "exception": (item.exception_info or {}).get("exception_message"),
                }
            )
    return {
        "success": bool(result.success),
        "evaluated": result.statistics.get("evaluated_expectations"),
        "failed": failed,
    }


def run_name(dataset: str, version: int | None) -> str:
    """What the Data Docs call one validation: ``taxi_tips v3``, or the dataset alone."""
    return dataset if version is None else f"{dataset} v{version}"


@dataclass(frozen=True)
class _Validated:
    """One row of the index: a suite on a split, and where its pages are."""

    suite: str
    split: str
    success: bool
    evaluated: int | None
    failed: int
    page: str  # relative to the docs folder
    suite_page: str


def run_expectations(
    frames: dict[str, pd.DataFrame],
    suites: list[SuiteSpec],
    docs_dir: Path,
    *,
    dataset: str,
    version: int | None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Validate every split with every suite; write Data Docs into ``docs_dir`` that name
    ``dataset`` at ``version`` and each split, and load nothing from the network.

    Returns ``{suite: {split: {success, evaluated, failed: [...]}}}``.
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    name = run_name(dataset, version)
    context = gx.get_context(mode="ephemeral")
    # The site's name heads the index: "Data Docs | taxi_tips v3".
    context.add_data_docs_site(
        site_name=name,
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {
                "class_name": "DefaultSiteIndexBuilder",
                "show_how_to_buttons": False,
            },
        },
    )
    # The batch of split s is "<dataset>-<s>": the page's file name and the index's Batch ID.
    source = context.data_sources.add_pandas(dataset)
    gx_suites = [_add_suite(context, spec) for spec in suites]
    run_id = RunIdentifier(run_name=name, run_time=datetime.now(UTC))
    summary: dict[str, dict[str, dict[str, Any]]] = {s.name: {} for s in suites}
    validated = []
    page = partial(_page_of, context, name, docs_dir)
    for split, frame in frames.items():
        batch = source.add_dataframe_asset(split).add_batch_definition_whole_dataframe(split)
        definitions = [
            context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{suite.name}:{split}", data=batch, suite=suite)
            )
            for suite in gx_suites
        ]
        # No docs action: the pages are built once, after the results carry their names.
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(name=f"mlrail:{split}", validation_definitions=definitions)
        )
        run = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
        for key, result in run.run_results.items():
            # A validation page shows "Data asset:" from the batch spec, which for a data
            # frame names none ("None"); the stored result is what the pages render.
            result.meta["batch_spec"]["data_asset_name"] = f"{name} · {split}"
            context.validation_results_store.set(key, result)
            summary[result.suite_name][split] = outcome = _summary(result)
            validated.append(_validated(page, key, split, outcome))
    context.build_data_docs(site_names=[name])
    write_offline_docs(docs_dir, _index_tables(name, validated, suites))
    return summary


def _add_suite(context: Any, spec: SuiteSpec) -> Any:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    suite = context.suites.add(gx.ExpectationSuite(name=spec.name))
    for expectation in spec.expectations:
        # Not add_expectation_configuration: it upserts by domain, and the domain of
        # expect_column_to_exist is the table, so each one replaced the one before.
        config = ExpectationConfiguration(type=expectation["type"], kwargs=expectation["kwargs"])
        suite.add_expectation(config.to_domain_obj())
    suite.save()
    return suite


def _page_of(context: Any, site: str, docs_dir: Path, identifier: Any) -> str:
    (url,) = context.get_docs_sites_urls(
        resource_identifier=identifier, site_name=site, only_if_exists=False
    )
    return Path(unquote(urlsplit(url["site_url"]).path)).relative_to(docs_dir).as_posix()


def _validated(page: Callable[[Any], str], key: Any, split: str, outcome: dict) -> _Validated:
    return _Validated(
        suite=key.expectation_suite_identifier.name,
        split=split,
        success=outcome["success"],
        evaluated=outcome["evaluated"],
        failed=len(outcome["failed"]),
        page=page(key),
        suite_page=page(key.expectation_suite_identifier),
    )


def _link(path: str, text: str) -> str:
    return f'<a href="{html.escape(quote(path))}">{html.escape(text)}</a>'


def _index_tables(name: str, validated: list[_Validated], suites: list[SuiteSpec]) -> dict:
    """The rows of the index's two tables, which GX leaves empty for a script to fill."""
    rows = [
        "<thead><tr><th>Status</th><th>Split</th><th>Dataset</th><th>Expectation suite</th>"
        "<th>Evaluated</th><th>Failed</th></tr></thead><tbody>"
    ]
    for v in sorted(validated, key=lambda v: (v.success, v.split, v.suite)):
        status = '<span class="badge pass">passed</span>'
        if not v.success:
            status = '<span class="badge fail">failed</span>'
        rows.append(
            f"<tr><td>{status}</td><td>{_link(v.page, v.split)}</td><td>{html.escape(name)}"
            f"</td><td>{_link(v.suite_page, v.suite)}</td><td>{v.evaluated}</td>"
            f"<td>{v.failed}</td></tr>"
        )
    pages = {v.suite: v.suite_page for v in validated}
    listed = ["<thead><tr><th>Expectation suite</th><th>A failure is</th></tr></thead><tbody>"]
    for spec in suites:
        effect = "blocking" if spec.blocking else "a warning (generated from the schema)"
        suite = _link(pages[spec.name], spec.name) if spec.name in pages else spec.name
        listed.append(f"<tr><td>{suite}</td><td>{effect}</td></tr>")
    return {
        "ge-index-page-validation-results-table": "".join(rows) + "</tbody>",
        "ge-index-page-expectation_suites-table": "".join(listed) + "</tbody>",
    }


# The Data Docs offline -------------------------------------------------------------------
#
# GX's pages load Bootstrap, jQuery, Vega and Font Awesome from CDNs, the logo from S3, and
# fill the index's tables from a script. The plugin serves them with a CSP sandbox, so no
# script would run even online; and column names reach the pages unescaped (GX puts them in
# headings as markup). So every page is parsed and written back from an allowlist: text
# escaped, known tags with known attributes, no script, style, link or form, no URL that
# leaves the docs folder. A script or style inside text (a column named "<script>...") is
# shown as the text it was. The pages link GX_STYLESHEET (written into the docs) and the
# plugin's stylesheet instead. Done when written, so the artifact reads the same wherever
# it is opened: from the plugin, a downloaded copy, a bucket browser.

GX_STYLESHEET = "static/mlrail-gx.css"
HOUSE_STYLESHEET = "/mlrail/static/mlrail.css"  # served by the plugin; absent elsewhere

_KEPT = frozenset(
    "html head body title meta div span p a img ul ol li nav h1 h2 h3 h4 h5 h6 table thead "
    "tbody tfoot tr th td caption colgroup col strong em b i u s small code pre br hr "
    "blockquote dl dt dd section header footer main article aside sub sup abbr button "
    "label input details summary figure figcaption".split()
)
_VOID = frozenset("br col hr img input meta".split())
_RAW = frozenset({"script", "style"})
_TEXT_LEVEL = frozenset(
    "a span p li td th h1 h2 h3 h4 h5 h6 strong em b i small code label title dt dd "
    "caption button summary".split()
)
_ATTRIBUTES = frozenset(
    "class id title alt role colspan rowspan scope hidden width height type checked".split()
)
_URL_ATTRIBUTES = {"a": "href", "img": "src"}
_SAFE_STYLE = re.compile(r"[-\w\s:;.,%#!]*")  # no url(), image-set("..."), escapes
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")


def is_local(url: str) -> bool:
    """Whether a browser resolves ``url`` (relative or a fragment) inside this server: no
    scheme, no ``//host``. Browsers drop tabs and newlines in URLs and read ``\\`` as
    ``/``, so those are judged as a browser reads them."""
    cleaned = re.sub(r"[\x00-\x20]", "", url)
    return not (cleaned.startswith("//") or "\\" in cleaned or _SCHEME.match(cleaned))


def _attributes(tag: str, attrs: list[tuple[str, str | None]]) -> str:
    kept: dict[str, str | None] = {}
    for name, value in attrs:
        if name in kept:
            continue
        allowed = name in _ATTRIBUTES or name.startswith(("aria-", "data-"))
        if name == "style":
            allowed = value is not None and _SAFE_STYLE.fullmatch(value) is not None
        elif name == _URL_ATTRIBUTES.get(tag):
            allowed = value is not None and is_local(value)
        if allowed:
            kept[name] = value
    return "".join(
        f" {name}" if value is None else f' {name}="{html.escape(value)}"'
        for name, value in kept.items()
    )


def _meta(attrs: list[tuple[str, str | None]]) -> str:
    values = dict(attrs)
    if values.get("charset"):
        return '<meta charset="utf-8">'
    if values.get("name") == "viewport":
        return '<meta name="viewport" content="width=device-width, initial-scale=1.0">'
    return ""  # http-equiv (a refresh to elsewhere) and the rest


class _OfflinePage(HTMLParser):
    def __init__(self, head: str, fill: dict[str, str]):
        super().__init__(convert_charrefs=True)
        self.head, self.fill = head, dict(fill)
        self.out: list[str] = []
        self.open: list[str] = []  # kept elements not yet closed
        self.raw: tuple[str, bool] | None = None  # inside a script/style: (tag, shown)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.raw is not None:
            return
        if tag in _RAW:
            shown = bool(self.open) and self.open[-1] in _TEXT_LEVEL
            self.raw = tag, shown
            if shown:
                self.out.append(html.escape(self.get_starttag_text() or f"<{tag}>"))
            return
        if tag == "meta":
            self.out.append(_meta(attrs))
            return
        if tag not in _KEPT:
            return
        if tag == "img" and not is_local(dict(attrs).get("src") or ""):
            self.out.append(html.escape(dict(attrs).get("alt") or ""))  # GX's logo, on S3
            return
        self.out.append(f"<{tag}{_attributes(tag, attrs)}>")
        if tag not in _VOID:
            self.open.append(tag)
        if tag == "head":
            self.out.append(self.head)
        for marker in set((dict(attrs).get("class") or "").split()) & set(self.fill):
            self.out.append(self.fill.pop(marker))

    def handle_endtag(self, tag: str) -> None:
        if self.raw is not None:
            if tag == self.raw[0]:
                if self.raw[1]:
                    self.out.append(html.escape(f"</{tag}>"))
                self.raw = None
            return
        if tag in self.open:  # closes what it encloses, as a browser does
            while self.open.pop() != tag:
                pass
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.raw is None or self.raw[1]:
            self.out.append(html.escape(data, quote=False))

    def handle_decl(self, decl: str) -> None:
        if decl.lower() == "doctype html":
            self.out.append("<!DOCTYPE html>")


def offline_page(page: str, depth: int, fill: dict[str, str] | None = None) -> str:
    """``page`` (a GX Data Docs page ``depth`` folders below the docs folder) written back
    from an allowlist, linking the local stylesheets; the elements whose class is a key
    of ``fill`` get its trusted HTML as their first content."""
    sheets = [HOUSE_STYLESHEET, "../" * depth + GX_STYLESHEET]
    head = "".join(f'<link rel="stylesheet" href="{html.escape(s)}">' for s in sheets)
    parser = _OfflinePage(head, fill or {})
    parser.feed(page)
    parser.close()
    return "".join(parser.out)


def write_offline_docs(docs_dir: Path, index_fill: dict[str, str]) -> None:
    """Rewrite every page under ``docs_dir`` with ``offline_page``; replace GX's static
    folder (images, fonts and CSS templates nothing links any more) with GX_STYLESHEET."""
    for path in docs_dir.rglob("*.html"):
        relative = path.relative_to(docs_dir)
        fill = index_fill if relative.as_posix() == "index.html" else {}
        page = offline_page(path.read_text("utf-8"), len(relative.parts) - 1, fill)
        path.write_text(page, "utf-8")
    shutil.rmtree(docs_dir / "static", ignore_errors=True)
    (docs_dir / GX_STYLESHEET).parent.mkdir(parents=True, exist_ok=True)
    (docs_dir / GX_STYLESHEET).write_text(_GX_CSS, "utf-8")


# What Bootstrap and Font Awesome gave GX's markup, in a few rules; the controls that only
# a script could work (filters, tabs, "Show more info") are hidden or left as anchors.
_GX_CSS = """\
/* mlrail: GX Data Docs without Bootstrap, Font Awesome or scripts. */
body { font: 14px/1.45 system-ui, sans-serif; color: #1f2328; margin: 0; }
a { color: #0969da; text-decoration: none; }
.navbar { display: flex; align-items: center; gap: 1rem; padding: .5rem 1.5rem;
  border-bottom: 1px solid #d1d9e0; height: auto !important; }
.navbar-brand a { font-weight: 600; }
.breadcrumb { display: flex; flex-wrap: wrap; list-style: none; margin: 0; padding: 0; }
.breadcrumb-item + .breadcrumb-item::before { content: "/"; margin: 0 .4rem; color: #8c959f; }
.container-fluid { padding: 1rem 1.5rem; }
.row { display: flex; flex-wrap: wrap; gap: 0 1.5rem; }
.col-12 { flex: 1 1 100%; }
.col-6 { flex: 1 1 40%; }
.col-md-2, .col-lg-2 { flex: 0 0 14rem; }
.col-md-10, .col-lg-10 { flex: 1 1 0; min-width: 0; }
.sticky { position: sticky; top: 1rem; }
.card { border: 1px solid #d1d9e0; border-radius: .4rem; margin-bottom: 1rem; }
.card-header { background: #f6f8fa; padding: .4rem .6rem; }
.nav, .nav-tabs { list-style: none; padding: 0; margin: 0 0 .5rem; }
.nav-tabs { display: flex; gap: 1.5rem; border-bottom: 1px solid #d1d9e0; }
.alert-secondary { background: #f6f8fa; border: 1px solid #d1d9e0; border-radius: .4rem;
  padding: .5rem .9rem; margin: 1rem 0 .5rem; }
h4, h5, h6, .h6 { margin: .25rem 0; font-weight: 600; }
h4 { font-size: 1.1rem; } h5 { font-size: 1rem; } h6, .h6 { font-size: .9rem; }
table { border-collapse: collapse; margin: .25rem 0 1rem; }
th, td { text-align: left; padding: .3rem .7rem; border-bottom: 1px solid #d1d9e0;
  vertical-align: top; }
th { background: #f6f8fa; }
.show-scrollbars { overflow: auto; }
td .show-scrollbars { max-height: 80vh; }
.text-success { color: #1a7f37; }
.text-danger { color: #cf222e; }
.text-warning { color: #9a6700; }
i.fas { font-style: normal; font-weight: 700; }
.fa-check-circle::before { content: "\\2714"; }
.fa-times::before { content: "\\2718"; }
.fa-exclamation-triangle::before { content: "\\26A0"; }
.fa-question-circle::before { content: "?"; }
.cooltip { position: relative; display: inline-block; }
.cooltip .top { display: none; position: absolute; z-index: 10; bottom: 100%; left: 0;
  min-width: 14rem; padding: .5rem .8rem; color: #fff; background: #222;
  border-radius: .4rem; white-space: pre-wrap; }
.cooltip:hover .top { display: block; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 1rem; font-weight: 600; }
.badge.pass { color: #1a7f37; background: #dafbe1; }
.badge.fail { color: #cf222e; background: #ffebe9; }
.btn, .card:has(.btn-group-toggle), footer { display: none; }
"""
