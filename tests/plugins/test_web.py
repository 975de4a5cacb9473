"""The /mlrail pages, over a small lineage graph recorded through the real runner."""

import pytest
from fastapi.testclient import TestClient

from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import Component, ExecutorOutput, RunInfo, run_component
from mlrail_airflow.web import create_app


def _write(ctx):
    for slot, path in ctx.outputs.items():
        (path / "out.txt").write_text(f"{slot} from {sorted(ctx.inputs)}")
    return ExecutorOutput(result={"note": "ok"})


def _docs(ctx):
    docs = ctx.outputs["anomalies"] / "gx_docs"
    docs.mkdir()
    (docs / "index.html").write_text("<html>suite fares_are_small</html>")
    return ExecutorOutput()


PREPARE = Component("ingest", _write, {"examples": "Examples"})
VALIDATE = Component("validate", _docs, {"anomalies": "Anomalies"})
FIT = Component("train", _write, {"model": "Model"})


@pytest.fixture
def client(env, settings, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n")
    dataset = env.metadata.put_artifact(
        "Dataset", str(data), "fp", {"version": 1, "files": []}, external=True
    )
    run = RunInfo("demo", run_id="manual__1", dag_id="demo_training", task_id="t")
    examples = run_component(env, PREPARE, {"dataset": dataset}, {}, run).outputs["examples"]
    model = run_component(env, FIT, {"examples": examples}, {"lr": 0.1}, run).outputs["model"]
    run_component(env, VALIDATE, {"examples": examples}, {}, run)
    registry = ModelRegistry(env.metadata)
    registry.register("demo", model.id, None)
    registry.move_alias("demo", "blessed", 1, "auc 0.9 >= 0.7", "tester", "manual__1")
    return TestClient(create_app(lambda: settings))


def test_run_page(client):
    page = client.get("/runs/demo_training/manual__1")
    assert page.status_code == 200 and "computed: ingest, train, validate" in page.text
    data = client.get("/runs/demo_training/manual__1", params={"format": "json"}).json()
    assert data["steps"]["train"]["state"] == "complete"
    assert client.get("/runs/demo_training/nope").status_code == 404


def test_lineage_page(client, tmp_path):
    data = client.get("/lineage/demo/1", params={"format": "json"}).json()
    assert data["dataset"]["source"] == str(tmp_path / "d.csv")
    assert data["training_run"]["run_id"] == "manual__1"
    assert data["aliases"] == ["blessed"]
    page = client.get("/lineage/demo/1")
    assert "alias blessed: set to v1 (first)" in page.text and "vNone" not in page.text
    missing = client.get("/lineage/demo/7")
    assert missing.status_code == 404 and "known versions: [1]" in missing.json()["detail"]


def test_data_docs_are_served_from_the_anomalies_artifact(client):
    page = client.get("/runs/demo_training/manual__1/gx-docs/index.html")
    assert page.status_code == 200 and "fares_are_small" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert client.get("/runs/demo_training/manual__1/gx-docs/other.html").status_code == 404
    assert client.get("/runs/demo_training/nope/gx-docs/index.html").status_code == 404
    escape = client.get("/runs/demo_training/manual__1/gx-docs/%2E%2E/%2E%2E/etc/passwd")
    assert escape.status_code in (400, 404)
