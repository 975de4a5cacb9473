"""Schema inference and data validation components."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from mlrail.data.dataset import iter_batches
from mlrail.data.expectations import SuiteSpec, run_expectations, suite_from_schema
from mlrail.data.schema import apply_overrides, infer_schema
from mlrail.data.validation import (
    BLOCKING,
    WARNING,
    Anomaly,
    anomalies_document,
    schema_changes,
    validate_statistics,
)
from mlrail.store.files import ANOMALIES, SCHEMA, STATISTICS, split_uri
from mlrail.store.runner import Component, ExecutorContext, ExecutorOutput
from mlrail.verdict import FAILED, PASSED


def _statistics(ctx: ExecutorContext) -> dict:
    return STATISTICS.read(ctx.env.artifacts, ctx.inputs["statistics"])


def infer(ctx: ExecutorContext) -> ExecutorOutput:
    p = ctx.params
    schema = infer_schema(
        _statistics(ctx)["splits"]["train"],
        p["label"],
        p["task"],
        p["numeric"],
        p["categorical"],
        p["categorical_max_unique"],
        p.get("positive_label"),
    )
    if p.get("overrides"):
        schema = apply_overrides(schema, p["overrides"], p["overrides_file"])
    SCHEMA.write(ctx.outputs["schema"], schema)
    roles = {f["name"]: f["role"] for f in schema["features"]}
    label = schema["label"]
    result = {"features": roles, "label": {k: v for k, v in label.items() if k != "name"}}
    return ExecutorOutput(properties={"schema": {"features": len(roles)}}, result=result)


def _sample(examples_uri: str, split: str, rows: int) -> pd.DataFrame:
    batches, taken = [], 0
    for batch in iter_batches(split_uri(examples_uri, split)):
        batches.append(batch.slice(0, rows - taken))
        taken += batches[-1].num_rows
        if taken >= rows:
            break
    return (
        pa.concat_tables(
            pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b for b in batches
        ).to_pandas()
        if batches
        else pd.DataFrame()
    )


def _expectation_anomalies(summary: dict, suites: list[SuiteSpec]) -> list[Anomaly]:
    by_name = {s.name: s for s in suites}
    found = []
    for suite_name, splits in summary.items():
        suite = by_name[suite_name]
        for split, outcome in splits.items():
            for failed in outcome["failed"]:
                observed = failed["observed"]
                shown = observed[:5] if isinstance(observed, list) else observed
                found.append(
                    Anomaly(
                        "expectation_failed",
                        BLOCKING if suite.blocking else WARNING,
                        split,
                        failed["column"],
                        f"{split}: expectation {failed['expectation']} {failed['kwargs']} on "
                        f"{failed['column']!r} failed (suite {suite_name!r} from {suite.source}); "
                        f"observed {shown}",
                        {
                            "suite": suite_name,
                            "expectation": failed["expectation"],
                            "kwargs": failed["kwargs"],
                            "observed": shown,
                        },
                    )
                )
    return found


def validate(ctx: ExecutorContext) -> ExecutorOutput:
    schema = SCHEMA.read(ctx.env.artifacts, ctx.inputs["schema"])
    statistics = _statistics(ctx)
    anomalies = validate_statistics(statistics["splits"], schema, ctx.params["limits"])
    if "reference_schema" in ctx.inputs:
        reference = SCHEMA.read(ctx.env.artifacts, ctx.inputs["reference_schema"])
        severity = ctx.params["limits"]["schema_change"]
        anomalies = schema_changes(reference, schema, ctx.params["reference"], severity) + anomalies
    gx = ctx.params["expectations"]
    summary = {}
    if gx["enabled"]:
        suites = [
            suite_from_schema(schema, ctx.params["limits"]),
            *(SuiteSpec(**s) for s in gx["user_suites"]),
        ]
        examples = ctx.inputs["examples"]
        frames = {
            split: _sample(examples.uri, split, gx["sample_rows"])
            for split, table in statistics["splits"].items()
            if table["rows"]
        }
        # The docs name the pipeline's data and its version (ingest copies the Dataset's
        # version onto the Examples).
        summary = run_expectations(
            frames,
            suites,
            ctx.outputs["anomalies"] / "gx_docs",
            dataset=ctx.run.pipeline,
            version=examples.properties.get("dataset_version"),
        )
        anomalies += _expectation_anomalies(summary, suites)
    document = {**anomalies_document(anomalies), "great_expectations": summary}
    ANOMALIES.write(ctx.outputs["anomalies"], document)
    counts = {"blocking": document["blocking"], "warnings": document["warnings"]}
    return ExecutorOutput(
        properties={"anomalies": {**counts, "gx_docs": "gx_docs/index.html" if summary else None}},
        result={
            **counts,
            "messages": [f"[{a.severity}] {a.message}" for a in anomalies],
            "verdict": document["verdict"],
        },
    )


def _legacy_verdict(result: dict) -> dict | None:
    """Results recorded before the shared verdict type: the counts alone."""
    if "blocking" not in result:
        return None
    blocking, warnings = result["blocking"], result.get("warnings", 0)
    return {
        "state": FAILED if blocking else PASSED,
        "lets_through": not blocking,
        "sentence": f"{blocking} blocking anomalies, {warnings} warnings",
    }


INFER = Component(name="schema", executor=infer, outputs={"schema": "Schema"})
VALIDATE = Component(
    name="validate",
    executor=validate,
    outputs={"anomalies": "Anomalies"},
    reads_verdict=_legacy_verdict,
)
