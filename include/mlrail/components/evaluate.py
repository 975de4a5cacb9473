"""Evaluate the candidate model (and the blessed one, in the same run) on the test split."""

from __future__ import annotations

import pyarrow.parquet as pq

from mlrail.data.labels import class_names, encode
from mlrail.data.schema import check_columns
from mlrail.evaluation.blessing import decide_blessing
from mlrail.evaluation.metrics import task_metrics
from mlrail.evaluation.predict import predict_saved_model
from mlrail.spec.metrics import METRICS
from mlrail.store.files import BLESSING, EVALUATION_METRICS, SCHEMA, split_path
from mlrail.store.runner import Component, ExecutorContext, ExecutorOutput
from mlrail.verdict import summary_of


def evaluate(ctx: ExecutorContext) -> ExecutorOutput:
    artifacts, p = ctx.env.artifacts, ctx.params
    schema = SCHEMA.read(artifacts, ctx.inputs["schema"])
    label = schema["label"]
    columns = [f["name"] for f in schema["features"]] + [label["name"]]
    with artifacts.read(ctx.inputs["examples"].uri) as examples:
        path = split_path(examples, "test")
        check_columns(pq.read_schema(path), schema, "the test split")
        test = pq.read_table(path, columns=columns)
    targets = encode(test.column(label["name"]), label)
    models = {"candidate": ctx.inputs["model"]}
    if "baseline" in ctx.inputs:
        models["baseline"] = ctx.inputs["baseline"]
    metrics = {}
    for role, model in models.items():
        with artifacts.read(model.uri) as local:
            predictions = predict_saved_model(local / "saved_model", test, schema)
        metrics[role] = task_metrics(label["task"], targets, predictions, class_names(label))
    blessing = decide_blessing(
        metrics["candidate"],
        p["thresholds"],
        metrics.get("baseline"),
        p.get("baseline_version"),
        p["tolerance"],
    )
    # The push moves the blessed alias only if it still points where this verdict compared.
    document = {**blessing.to_dict(), "baseline_version": p.get("baseline_version")}
    EVALUATION_METRICS.write(ctx.outputs["evaluation"], metrics)
    BLESSING.write(ctx.outputs["blessing"], document)
    return ExecutorOutput(
        properties={
            "evaluation": {"metrics": metrics["candidate"]},
            "blessing": blessing.summary(),
        },
        result={"metrics": metrics, "verdict": blessing.summary()},
    )


def _legacy_verdict(result: dict) -> dict | None:
    """Results recorded before the shared verdict type: ``blessed`` and ``reasons``."""
    if "reasons" not in result:
        return None
    return summary_of({"blessed": result.get("blessed"), "sentence": result["reasons"]})


def _describe(result: dict) -> list[str]:
    metrics = result["metrics"]["candidate"]
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k in METRICS and v is not None)
    verdict = COMPONENT.verdict_of(result)
    return [f"metrics (test split): {shown}", f"evaluate: {verdict['sentence']}"]


# Cacheable: the verdict depends on which model is blessed when it runs, and that model
# (and its version) is an input of the key, so a new blessed model is a new evaluation.
COMPONENT = Component(
    name="evaluate",
    executor=evaluate,
    outputs={"evaluation": "ModelEvaluation", "blessing": "ModelBlessing"},
    reads_verdict=_legacy_verdict,
    describe=_describe,
)
