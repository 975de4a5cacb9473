"""Evaluate the candidate model (and the blessed one, in the same run) on the test split."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from mlrail.data.labels import class_names, encode
from mlrail.data.schema import check_columns
from mlrail.evaluation.blessing import decide_blessing
from mlrail.evaluation.metrics import task_metrics
from mlrail.evaluation.predict import predict_saved_model
from mlrail.store.runner import Component, ExecutorContext, ExecutorOutput


def evaluate(ctx: ExecutorContext) -> ExecutorOutput:
    artifacts, p = ctx.env.artifacts, ctx.params
    schema = artifacts.read_json(ctx.inputs["schema"].uri, "schema.json")
    label = schema["label"]
    columns = [f["name"] for f in schema["features"]] + [label["name"]]
    with artifacts.read(ctx.inputs["examples"].uri) as examples:
        path = examples / "test" / "data.parquet"
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
    verdict = blessing.to_dict()
    (ctx.outputs["evaluation"] / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (ctx.outputs["blessing"] / "blessing.json").write_text(json.dumps(verdict, indent=2))
    return ExecutorOutput(
        properties={
            "evaluation": {"metrics": metrics["candidate"]},
            "blessing": {"blessed": blessing.blessed, "sentence": blessing.sentence},
        },
        result={"metrics": metrics, "blessed": blessing.blessed, "reasons": blessing.sentence},
    )


# Cacheable: the verdict depends on which model is blessed when it runs, and that model
# (and its version) is an input of the key, so a new blessed model is a new evaluation.
COMPONENT = Component(
    name="evaluate",
    executor=evaluate,
    outputs={"evaluation": "ModelEvaluation", "blessing": "ModelBlessing"},
)
