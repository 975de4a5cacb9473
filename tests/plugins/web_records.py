"""What the /mlrail page tests read: one DAG run recorded through the real runner (ingest,
train, validate with Data Docs) and version 1 of model ``demo``, blessed; and, for the
served Data Docs, validations by the real pipeline components (``record_validation``)."""

from __future__ import annotations

from pathlib import Path

from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import Component, Env, ExecutorOutput, RunInfo, run_component

# What a Parquet column name can carry into the Data Docs GX renders from the schema.
XSS = '"><script>alert(3)</script>'
SCHEMA_DOCS = "expectations/mlrail_schema.html"


def _write(ctx):
    for slot, path in ctx.outputs.items():
        (path / "out.txt").write_text(f"{slot} from {sorted(ctx.inputs)}")
    return ExecutorOutput(result={"note": "ok"})


def _docs(ctx):
    docs = ctx.outputs["anomalies"] / "gx_docs"
    (docs / SCHEMA_DOCS).parent.mkdir(parents=True)
    (docs / "index.html").write_text("<html>suite fares_are_small</html>")
    (docs / SCHEMA_DOCS).write_text(f'<html><td><span title="{XSS}">{XSS}</span></td></html>')
    return ExecutorOutput()


PREPARE = Component("ingest", _write, {"examples": "Examples"})
VALIDATE = Component("validate", _docs, {"anomalies": "Anomalies"})
FIT = Component("train", _write, {"model": "Model"})


def record_run(env: Env, data: Path, dag_id: str, run_id: str = "manual__1") -> None:
    """Run ``data`` through ingest, train and validate in ``dag_id`` and bless demo v1."""
    data.write_text("x\n1\n")
    dataset = env.metadata.put_artifact(
        "Dataset", str(data), "fp", {"version": 1, "files": []}, external=True
    )
    run = RunInfo("demo", run_id=run_id, dag_id=dag_id, task_id="t")
    examples = run_component(env, PREPARE, {"dataset": dataset}, {}, run).outputs["examples"]
    model = run_component(env, FIT, {"examples": examples}, {"lr": 0.1}, run).outputs["model"]
    run_component(env, VALIDATE, {"examples": examples}, {}, run)
    registry = ModelRegistry(env.metadata)
    registry.register("demo", model.id, None)
    registry.publish("demo", 1, "blessed", "auc 0.9 >= 0.7", "tester", None, run_id)


def record_validation(env: Env, spec, dag_id: str, run_id: str):
    """Ingest, statistics, schema and validation of ``spec`` (real GX and its Data Docs)
    as DAG run ``dag_id/run_id``, through the real components; the validation's result."""
    from mlrail.components.pipeline import (
        compute_statistics,
        infer_schema,
        ingest_examples,
        validate_data,
    )

    run = RunInfo(spec.pipeline, run_id=run_id, dag_id=dag_id, task_id="validate")
    examples = ingest_examples(env, spec, run).outputs["examples"]
    statistics = compute_statistics(env, spec, run, examples.id).outputs["statistics"]
    schema = infer_schema(env, spec, run, statistics.id).outputs["schema"]
    return validate_data(env, spec, run, examples.id, statistics.id, schema.id)
