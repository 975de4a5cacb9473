"""backend: vertex end to end against a fake Vertex AI JobService on 127.0.0.1.

The real google-cloud-aiplatform clients talk gRPC to tests/fake_vertex.py; the fake
runs the submitted container command on this machine with /gcs/ mapped to the folder
behind a fake gs:// filesystem, so the model really is trained by the job's arguments.
"""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from fsspec.registry import _registry as fsspec_registry

from tests.conftest import ROOT, prepare_data
from tests.fake_vertex import FakeGCS, FakeJobService, write_vertex_spec
from tests.plugins.task_context import TaskInstance, context

pytestmark = pytest.mark.slow
ARTIFACTS = "gs://acme-ml/artifacts"


@pytest.fixture
def vertex(tmp_path, monkeypatch):
    from mlrail_airflow.hooks.vertex import VertexAIHook

    gcs = tmp_path / "gcs"
    gcs.mkdir()
    monkeypatch.setattr(FakeGCS, "root", str(gcs))
    monkeypatch.setitem(fsspec_registry, "gs", FakeGCS)
    service = FakeJobService(gcs)
    service.start()
    monkeypatch.setattr(VertexAIHook, "get_job_client", lambda self: service.client())
    monkeypatch.setattr(
        VertexAIHook, "get_async_job_client", lambda self, arguments=None: service.async_client()
    )
    extra = {
        "project": "acme",
        "location": "europe-west4",
        "staging_bucket": "gs://acme-ml",
        "service_account": "trainer@acme.iam.gserviceaccount.com",
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLRAIL_VERTEX", json.dumps({"conn_type": "generic", "extra": extra})
    )
    settings = {
        "artifact_root": ARTIFACTS,
        "metadata_url": f"sqlite:///{tmp_path / 'metadata.db'}",
        "serving_root": str(tmp_path / "serving"),
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLRAIL_DEFAULT", json.dumps({"conn_type": "generic", "extra": settings})
    )
    yield service
    service.stop()


@pytest.fixture
def upstream(tmp_path, vertex, taxi_file):
    """A backend: vertex spec and its ingest, statistics and schema results on gs://."""
    yield from _upstream(tmp_path, taxi_file, "")


@pytest.fixture
def tuning_upstream(tmp_path, vertex, taxi_file):
    yield from _upstream(
        tmp_path, taxi_file, "tune: {enabled: true, max_trials: 2, parallel_trials: 2}\n"
    )


def _upstream(tmp_path, taxi_file, extra):
    from mlrail.spec import load_spec
    from mlrail.store.runner import Env
    from mlrail.store.settings import Settings

    spec_path = write_vertex_spec(tmp_path, "taxi_tips", taxi_file, extra)
    env = Env.open(
        Settings(ARTIFACTS, f"sqlite:///{tmp_path / 'metadata.db'}", str(tmp_path / "s"))
    )
    yield spec_path, env, prepare_data(env, load_spec(spec_path), run_id="r1").xcom()
    env.metadata.close()


def operator(spec_path, results, kind="train"):
    from mlrail_airflow.operators import TrainModelOperator, TuneHyperparametersOperator

    cls = TrainModelOperator if kind == "train" else TuneHyperparametersOperator
    return cls(task_id=kind, spec_path=str(spec_path), **results)


def submit(op, ti=None):
    """Run execute until it defers; return the deferral."""
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context(ti))
    return deferred.value


async def _first_event(trigger):
    async for event in trigger.run():
        return event.payload


def wait(trigger) -> dict:
    return asyncio.run(_first_event(trigger))


def test_train_job_runs_defers_and_registers_the_model(upstream, vertex, tmp_path):
    import tensorflow as tf

    spec_path, env, results = upstream
    op, ti = operator(spec_path, results), TaskInstance()
    deferral = submit(op, ti)

    (request,) = vertex.created()
    name = deferral.trigger.job_name
    assert type(deferral.trigger).__name__ == "CustomJobTrigger"
    assert deferral.method_name == "execute_complete"
    assert ti.xcoms["vertex_job"] == {
        "name": name,
        "url": "https://console.cloud.google.com/vertex-ai/locations/europe-west4/training/"
        f"{name.rsplit('/', 1)[-1]}/cpu?project=acme",
    }
    args = request.custom_job.job_spec.worker_pool_specs[0].container_spec.args
    model_uri = deferral.trigger.resume["pending"]["outputs"]["model"]
    assert args[args.index("--model-dir") + 1] == model_uri.replace("gs://", "/gcs/")
    examples_uri = results["examples"]["artifacts"]["examples"]["uri"]
    train_data = args[args.index("--train-data") + 1]
    assert train_data == f"/gcs/{examples_uri[5:]}/train/data.parquet"

    done = vertex.run_custom_job(name)
    assert done.returncode == 0, done.stderr[-3000:]
    event = wait(deferral.trigger)
    assert event["status"] == "success" and event["state"] == "JOB_STATE_SUCCEEDED"

    result = op.execute_complete(context(ti), event)
    model = env.metadata.get_artifact(result["artifacts"]["model"]["id"])
    assert model.type == "Model" and model.properties["vertex_job"] == name
    assert env.artifacts.exists(model.uri)
    execution = env.metadata.get_execution(result["execution_id"])
    assert execution.state == "complete" and execution.task_id == "train"
    assert execution.parameters["backend"] == "vertex"
    inputs = env.metadata.io_of(result["execution_id"], "input")
    assert set(inputs) == {"examples", "statistics", "schema", "hyperparameters"}
    local = FakeGCS.root + "/" + model.uri[len("gs://") :]
    serve = tf.saved_model.load(local + "/saved_model").signatures["serving_default"]
    assert "fare" in serve.structured_input_signature[1]

    # Cleared and re-run: the cache answers, no second job is submitted.
    again = operator(spec_path, results).execute(context())
    assert again["cached"] and again["cached_from"] == result["execution_id"]
    assert len(vertex.created()) == 1

    # With force (the trigger form's "recompute every stage"), a new job is submitted, and
    # the hyperparameters it trains with are written anew, not taken from the cache.
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred) as forced:
        operator(spec_path, results).execute(context(force=True))
    assert len(vertex.created()) == 2
    pending = forced.value.trigger.resume["pending"]
    hyperparameters = env.metadata.io_of(pending["execution_id"], "input")["hyperparameters"]
    producer = env.metadata.producer_of(hyperparameters.id)
    assert producer.state == "complete" and producer.run_id == "r1"
    assert producer.id > result["execution_id"]


def test_failed_job_fails_the_task_with_its_message_and_leaves_nothing(upstream, vertex):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    spec_path, env, results = upstream
    op = operator(spec_path, results)
    deferral = submit(op)
    name, model_uri = (
        deferral.trigger.job_name,
        deferral.trigger.resume["pending"]["outputs"]["model"],
    )
    assert env.artifacts.fs.exists(model_uri)  # the module source the job runs
    vertex.fail(name, "Replica worker-1 exited with a non-zero status of 137 (OOM)")
    event = wait(deferral.trigger)
    assert event["status"] == "failed"
    with pytest.raises(AirflowException, match="status of 137 \\(OOM\\)") as raised:
        op.execute_complete(context(), event)
    assert not isinstance(raised.value, AirflowFailException)  # a failed job may retry
    execution = env.metadata.get_execution(deferral.trigger.resume["pending"]["execution_id"])
    assert execution.state == "failed" and "OOM" in execution.error
    assert not env.artifacts.fs.exists(model_uri)


def test_cancelled_job_fails_without_retry(upstream, vertex):
    from airflow.sdk.exceptions import AirflowFailException

    spec_path, _, results = upstream
    op = operator(spec_path, results)
    deferral = submit(op)
    vertex.script(deferral.trigger.job_name, "JOB_STATE_RUNNING", "JOB_STATE_CANCELLED")
    event = wait(deferral.trigger)
    assert event["status"] == "cancelled"
    with pytest.raises(AirflowFailException, match="cancelled"):
        op.execute_complete(context(), event)


def test_budget_timeout_cancels_the_job(upstream, vertex):
    from airflow.sdk.exceptions import AirflowFailException

    spec_path, _, results = upstream
    op = operator(spec_path, results)
    deferral = submit(op)
    name = deferral.trigger.job_name
    vertex.script(name, "JOB_STATE_RUNNING")
    deferral.trigger.deadline = 0  # the budget ran out while it was running
    event = wait(deferral.trigger)
    assert event["status"] == "timeout" and event["state"] == "JOB_STATE_RUNNING"
    with pytest.raises(AirflowFailException, match="training budget"):
        op.execute_complete(context(), event)
    assert vertex.cancelled() == [name]


def test_on_kill_cancels_the_submitted_job(upstream, vertex):
    spec_path, _, results = upstream
    op = operator(spec_path, results)
    deferral = submit(op)
    op.on_kill()
    assert vertex.cancelled() == [deferral.trigger.job_name]


@pytest.mark.parametrize("killed", [True, False])
def test_trigger_cancels_the_job_only_when_the_task_was_killed(
    upstream, vertex, monkeypatch, killed
):
    spec_path, _, results = upstream
    trigger = submit(operator(spec_path, results)).trigger
    vertex.script(trigger.job_name, *["JOB_STATE_RUNNING"] * 100)

    async def was_killed():
        return killed

    monkeypatch.setattr(trigger, "_task_was_killed", was_killed)

    async def cancel_while_waiting():
        waiting = asyncio.create_task(_first_event(trigger))
        await asyncio.sleep(1.5)  # at least one poll
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(cancel_while_waiting())
    assert vertex.cancelled() == ([trigger.job_name] if killed else [])


def test_trigger_round_trips_through_serialize():
    from mlrail_airflow.triggers.vertex import CustomJobTrigger

    trigger = CustomJobTrigger(conn_id="c", job_name="projects/p/x/1", poll_seconds=5, deadline=9.0)
    path, kwargs = trigger.serialize()
    assert kwargs["resume"] == {}
    assert path == "mlrail_airflow.triggers.vertex.CustomJobTrigger"
    assert CustomJobTrigger(**kwargs).serialize() == (path, kwargs)


def test_local_artifact_root_is_refused_before_anything_is_recorded(
    upstream, vertex, monkeypatch, tmp_path
):
    from airflow.sdk.exceptions import AirflowFailException

    spec_path, env, results = upstream
    local = {
        "artifact_root": str(tmp_path / "local"),
        "metadata_url": f"sqlite:///{tmp_path / 'm2.db'}",
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLRAIL_DEFAULT", json.dumps({"conn_type": "generic", "extra": local})
    )
    with pytest.raises(AirflowFailException, match="not on Cloud Storage.*artifact_root"):
        operator(spec_path, results).execute(context())
    assert vertex.created() == []


def test_tuning_job_searches_and_its_best_trial_trains(tuning_upstream, vertex):
    spec_path, env, results = tuning_upstream
    op = operator(spec_path, results, "tune")
    deferral = submit(op)
    assert type(deferral.trigger).__name__ == "HyperparameterTuningJobTrigger"
    (request,) = vertex.created()
    job = request.hyperparameter_tuning_job
    assert (job.max_trial_count, job.parallel_trial_count) == (2, 2)
    assert [p.parameter_id for p in job.study_spec.parameters] == [
        "learning_rate",
        "hidden_units",
        "dropout",
    ]
    name = deferral.trigger.job_name
    # Vizier's picks: one learning rate that cannot learn in a few steps, one that can.
    vertex.run_tuning_job(
        name,
        [
            {"learning_rate": 1e-7, "hidden_units": "32", "dropout": 0.0},
            {"learning_rate": 0.03, "hidden_units": "32", "dropout": 0.0},
        ],
    )
    event = wait(deferral.trigger)
    assert event["status"] == "success", event
    result = op.execute_complete(context(), event)
    assert result["decision"] == "full" and result["trials"] == 2
    assert result["best"] == {"learning_rate": 0.03, "hidden_units": "32", "dropout": 0.0}
    hparams = env.metadata.get_artifact(result["artifacts"]["hyperparameters"]["id"])
    assert hparams.properties["vertex_job"] == name
    assert env.artifacts.read_json(hparams.uri, "hyperparameters.json")["learning_rate"] == 0.03

    # Same data again: the history policy reuses the search, and nothing is submitted.
    again = operator(spec_path, results, "tune").execute(context())
    assert again["decision"] == "reuse" and again["best"] == result["best"]
    assert len(vertex.created()) == 1

    # The train job reads the tuned values.
    submit(operator(spec_path, {**results, "hyperparameters": result}))
    job_spec = vertex.created()[-1].custom_job.job_spec
    container_args = job_spec.worker_pool_specs[0].container_spec.args
    hp_path = container_args[container_args.index("--hyperparameters") + 1]
    assert hp_path == f"/gcs/{hparams.uri[5:]}/hyperparameters.json"


@pytest.mark.parametrize(
    "state, killed",
    [
        ("deferred", False),  # a triggerer stops or hands the trigger over: the job goes on
        (None, True),  # cleared
        ("failed", True),  # marked failed, or timed out
        ("up_for_retry", True),
        ("success", True),  # marked success
        ("scheduled", True),  # cleared and already queued again
    ],
)
def test_the_kill_decision_on_each_task_state(state, killed):
    from mlrail_airflow.triggers.vertex import task_was_killed

    assert task_was_killed({"r": {"train": state}}, "r", "train", -1) is killed
    assert task_was_killed({"r": {"train_3": state}}, "r", "train", 3) is killed


def test_a_task_gone_with_its_run_counts_as_killed():
    from mlrail_airflow.triggers.vertex import task_was_killed

    assert task_was_killed({}, "r", "train", -1)
    assert task_was_killed({"r": {"evaluate": "deferred"}}, "r", "train", -1)


def test_the_trigger_reads_the_task_state_through_airflow(airflow_project):
    """The real decision: task states set in a real Airflow database, read by the trigger
    through the task SDK the triggerer gives it (tests/plugins/trigger_probe.py)."""
    probe = ROOT / "tests" / "plugins" / "trigger_probe.py"
    done = airflow_project.run(sys.executable, str(probe), timeout=300)
    decisions = json.loads(done.stdout.strip().splitlines()[-1])
    assert decisions == {
        "deferred": False,
        "None": True,
        "failed": True,
        "up_for_retry": True,
        "success": True,
        "scheduled": True,
        "unreadable": False,
        "run deleted": True,
    }
    # Unreadable: the job is left running, and the log says which one and what to do.
    (line,) = [line for line in done.stdout.splitlines() if "could not read whether" in line]
    assert "customJobs/7 was killed" in line and "cancel it in the Vertex AI console" in line
