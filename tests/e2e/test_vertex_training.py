"""backend: vertex in a real Airflow DAG run: the train task defers to its trigger
(dag.test() runs triggers in-process) while a fake Vertex AI JobService on 127.0.0.1 runs
the submitted job here; the rest of the DAG evaluates and pushes the model it produced."""

import json

import pytest

from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import Env
from mlrail.store.settings import Settings
from tests.airflow_project import AirflowProject, prepare
from tests.dags.conftest import training_tasks
from tests.fake_vertex import FakeGCS, FakeJobService, write_vertex_spec

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_vertex_training_dag_run(tmp_path, taxi_file, monkeypatch):
    project = prepare(AirflowProject(tmp_path / "project"))
    gcs = tmp_path / "gcs"
    gcs.mkdir()
    service = FakeJobService(gcs, auto_run=True)
    service.start()
    extra = "  retries: 0\nevaluation: {thresholds: {auc: {min: 0.5}}}\n"
    spec = write_vertex_spec(tmp_path, "taxi_vertex", taxi_file, extra)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "taxi_vertex_training.py").write_text(
        "from mlrail_airflow.dag_factory import training_dag\n\n"
        f"dag = training_dag({str(spec)!r})\n"
    )
    settings = Settings(
        "gs://acme-ml/artifacts", f"sqlite:///{tmp_path / 'metadata.db'}", str(tmp_path / "srv")
    )
    vertex = {
        "project": "acme",
        "location": "europe-west4",
        "staging_bucket": "gs://acme-ml/staging",
        "service_account": "t@acme.iam",
    }
    env = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW_CONN_MLRAIL_DEFAULT": json.dumps(
            {"conn_type": "generic", "extra": vars(settings)}
        ),
        "AIRFLOW_CONN_MLRAIL_VERTEX": json.dumps({"conn_type": "generic", "extra": vertex}),
        "MLRAIL_FAKE_VERTEX": json.dumps({"address": service.address, "gcs_root": str(gcs)}),
    }
    try:
        result = project.dag_test("taxi_vertex_training", {}, env=env)
    finally:
        service.stop()
    assert result["state"] == "success", result["log"]
    assert result["tasks"] == dict.fromkeys(training_tasks("taxi_tips_training"), "success")

    (request,) = service.created()
    (job,) = service.jobs.values()
    assert job.state.name == "JOB_STATE_SUCCEEDED"
    assert request.parent == "projects/acme/locations/europe-west4"

    monkeypatch.setattr(FakeGCS, "root", str(gcs))
    from fsspec.registry import _registry

    monkeypatch.setitem(_registry, "gs", FakeGCS)
    metadata = Env.open(settings).metadata
    (train,) = [e for e in metadata.executions(run_id=result["run_id"]) if e.component == "train"]
    assert train.state == "complete" and train.task_id == "train"
    assert train.result["vertex_job"] == job.name
    version = ModelRegistry(metadata).resolve("taxi_vertex", "blessed")
    model = metadata.get_artifact(version.model_artifact_id)
    assert model.uri.startswith("gs://acme-ml/artifacts/taxi_vertex/")
    assert model.properties["vertex_job"] == job.name
