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
they are written, to load nothing from outside their own folder
(mlrail.data.data_docs).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from mlrail.data.data_docs import write_offline_docs

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
