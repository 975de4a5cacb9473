"""Schema inference and data validation components."""

from __future__ import annotations

import json

from mlrail.runner import Component, ExecutorContext, ExecutorOutput
from mlrail.schema import (
    anomalies_document,
    apply_overrides,
    infer_schema,
    validate_statistics,
)


def _statistics(ctx: ExecutorContext) -> dict:
    return ctx.env.artifacts.read_json(ctx.inputs["statistics"].uri, "statistics.json")


def infer(ctx: ExecutorContext) -> ExecutorOutput:
    p = ctx.params
    schema = infer_schema(
        _statistics(ctx)["splits"]["train"],
        p["label"],
        p["task"],
        p["numeric"],
        p["categorical"],
        p["categorical_max_unique"],
    )
    if p.get("overrides"):
        schema = apply_overrides(schema, p["overrides"], p["overrides_file"])
    (ctx.outputs["schema"] / "schema.json").write_text(json.dumps(schema, indent=2))
    roles = {f["name"]: f["role"] for f in schema["features"]}
    return ExecutorOutput(
        properties={"schema": {"features": len(roles)}}, result={"features": roles}
    )


def validate(ctx: ExecutorContext) -> ExecutorOutput:
    schema = ctx.env.artifacts.read_json(ctx.inputs["schema"].uri, "schema.json")
    anomalies = validate_statistics(_statistics(ctx)["splits"], schema, ctx.params["limits"])
    document = anomalies_document(anomalies)
    (ctx.outputs["anomalies"] / "anomalies.json").write_text(json.dumps(document, indent=2))
    summary = {"blocking": document["blocking"], "warnings": document["warnings"]}
    return ExecutorOutput(
        properties={"anomalies": summary},
        result={**summary, "messages": [f"[{a.severity}] {a.message}" for a in anomalies]},
    )


INFER = Component(
    name="schema", executor=infer, outputs={"schema": "Schema"}, code_modules=("mlrail.schema",)
)
VALIDATE = Component(
    name="validate",
    executor=validate,
    outputs={"anomalies": "Anomalies"},
    code_modules=("mlrail.schema",),
)
