"""Evaluate the candidate model (and the blessed one, in the same run) on the test split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlrail.evaluation.blessing import decide_blessing
from mlrail.evaluation.metrics import binary_metrics, regression_metrics
from mlrail.store.runner import Component, ExecutorContext, ExecutorOutput
from mlrail.training.keras_features import to_model_inputs

BATCH = 4096


def predict_saved_model(model_dir: Path, table: pa.Table, schema: dict) -> np.ndarray:
    """Predictions of an exported SavedModel from raw features, as serving would make them."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    inputs = to_model_inputs(table, schema)
    names = list(serve.structured_input_signature[1])
    missing = sorted(set(names) - set(inputs))
    if missing:
        raise ValueError(f"model at {model_dir} expects features {missing} that the data lacks")
    outputs = []
    for start in range(0, table.num_rows, BATCH):
        batch = {n: tf.constant(inputs[n][start : start + BATCH]) for n in names}
        result = serve(**batch)
        outputs.append(next(iter(result.values())).numpy().reshape(-1))
    return np.concatenate(outputs) if outputs else np.array([])


def _metrics(task: str, labels: np.ndarray, predictions: np.ndarray) -> dict:
    if task == "regression":
        return regression_metrics(labels, predictions)
    return binary_metrics(labels, predictions)


def evaluate(ctx: ExecutorContext) -> ExecutorOutput:
    artifacts, p = ctx.env.artifacts, ctx.params
    schema = artifacts.read_json(ctx.inputs["schema"].uri, "schema.json")
    with artifacts.read(ctx.inputs["examples"].uri) as examples:
        test = pq.read_table(examples / "test" / "data.parquet")
    labels = test.column(schema["label"]["name"]).to_numpy(zero_copy_only=False)
    models = {"candidate": ctx.inputs["model"]}
    if "baseline" in ctx.inputs:
        models["baseline"] = ctx.inputs["baseline"]
    metrics = {}
    for role, model in models.items():
        if role == "baseline" and model.id == models["candidate"].id:
            # A re-run whose training came from the cache: the candidate is the blessed model.
            metrics[role] = metrics["candidate"]
            continue
        with artifacts.read(model.uri) as local:
            predictions = predict_saved_model(local / "saved_model", test, schema)
        metrics[role] = _metrics(p["task"], labels, predictions)
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


# Not cacheable: the verdict depends on which model is blessed at the time it runs.
COMPONENT = Component(
    name="evaluate",
    executor=evaluate,
    outputs={"evaluation": "ModelEvaluation", "blessing": "ModelBlessing"},
    cacheable=False,
)
