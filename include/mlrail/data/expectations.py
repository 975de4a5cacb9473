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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def run_expectations(
    frames: dict[str, pd.DataFrame], suites: list[SuiteSpec], docs_dir: Path
) -> dict[str, dict[str, dict[str, Any]]]:
    """Validate every split with every suite; write Data Docs into ``docs_dir``.

    Returns ``{suite: {split: {success, evaluated, failed: [...]}}}``.
    """
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    context = gx.get_context(mode="ephemeral")
    context.add_data_docs_site(
        site_name="mlrail",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    asset = context.data_sources.add_pandas("mlrail").add_dataframe_asset("examples")
    gx_suites = []
    for spec in suites:
        suite = context.suites.add(gx.ExpectationSuite(name=spec.name))
        for expectation in spec.expectations:
            suite.add_expectation_configuration(
                ExpectationConfiguration(type=expectation["type"], kwargs=expectation["kwargs"])
            )
        suite.save()
        gx_suites.append(suite)
    summary: dict[str, dict[str, dict[str, Any]]] = {s.name: {} for s in suites}
    for split, frame in frames.items():
        batch = asset.add_batch_definition_whole_dataframe(split)
        definitions = [
            context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{suite.name}:{split}", data=batch, suite=suite)
            )
            for suite in gx_suites
        ]
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"mlrail:{split}",
                validation_definitions=definitions,
                actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["mlrail"])],
            )
        )
        run = checkpoint.run(batch_parameters={"dataframe": frame})
        for definition, result in zip(definitions, run.run_results.values(), strict=True):
            summary[definition.suite.name][split] = _summary(result)
    return summary
