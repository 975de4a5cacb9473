"""A fake Vertex AI JobService on 127.0.0.1: the transport boundary of the real client.

Google Cloud cannot be reached from here, so tests talk to this gRPC server with the real
``google.cloud.aiplatform_v1`` clients (real serialization, real gRPC). It records every
request, answers Get calls with the states a test scripts, and can run a CustomJob's
container command on this machine, with ``/gcs/`` (Cloud Storage FUSE in Vertex AI)
mapped to the local folder that backs the fake ``gs://`` filesystem.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem
from google.cloud import aiplatform_v1 as v
from google.cloud.aiplatform_v1.services.job_service.transports import (
    JobServiceGrpcAsyncIOTransport,
    JobServiceGrpcTransport,
)
from google.protobuf import empty_pb2

SERVICE = "google.cloud.aiplatform.v1.JobService"
IMAGE = "europe-docker.pkg.dev/acme/mlrail/trainer:1"
KINDS = {
    "CustomJob": ("custom_job", v.CustomJob, "customJobs"),
    "HyperparameterTuningJob": (
        "hyperparameter_tuning_job",
        v.HyperparameterTuningJob,
        "hyperparameterTuningJobs",
    ),
}


class FakeGCS(DirFileSystem):
    """``gs://bucket/path`` stored at ``<root>/bucket/path`` on this machine."""

    protocol = "gs"
    root = ""
    cachable = False

    def __init__(self, *args, **kwargs):
        super().__init__(path=self.root, fs=LocalFileSystem())


class FakeJobService:
    def __init__(self, gcs_root: Path, auto_run: bool = False):
        self.gcs_root = gcs_root
        # Run each created CustomJob in the background, as Vertex AI would: for DAG runs.
        self.auto_run = auto_run
        self.requests: list[tuple[str, object]] = []
        self.jobs: dict[str, object] = {}
        self.scripted: dict[str, list[str]] = {}  # job name -> states Get returns in turn
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((self._handlers(),))
        self.address = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"

    # --- the server ---------------------------------------------------------------
    def _handlers(self):
        methods = {}
        for kind, (field, message, collection) in KINDS.items():
            request_type = getattr(v, f"Create{kind}Request")
            methods[f"Create{kind}"] = grpc.unary_unary_rpc_method_handler(
                self._create(field, collection),
                request_deserializer=request_type.deserialize,
                response_serializer=message.serialize,
            )
            methods[f"Get{kind}"] = grpc.unary_unary_rpc_method_handler(
                self._get,
                request_deserializer=getattr(v, f"Get{kind}Request").deserialize,
                response_serializer=message.serialize,
            )
            methods[f"Cancel{kind}"] = grpc.unary_unary_rpc_method_handler(
                self._cancel,
                request_deserializer=getattr(v, f"Cancel{kind}Request").deserialize,
                response_serializer=empty_pb2.Empty.SerializeToString,
            )
        return grpc.method_handlers_generic_handler(SERVICE, methods)

    def _create(self, field: str, collection: str):
        def create(request, context):
            with self._lock:
                self.requests.append(("create", request))
                job = type(getattr(request, field)).deserialize(
                    type(getattr(request, field)).serialize(getattr(request, field))
                )
                job.name = f"{request.parent}/{collection}/{1000 + len(self.jobs)}"
                job.state = v.JobState.JOB_STATE_PENDING
                self.jobs[job.name] = job
            if self.auto_run and field == "custom_job":
                threading.Thread(target=self.run_custom_job, args=(job.name,)).start()
            return job

        return create

    def _get(self, request, context):
        with self._lock:
            self.requests.append(("get", request))
            job = self.jobs.get(request.name)
            if job is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
            script = self.scripted.get(request.name)
            if script:
                job.state = v.JobState[script.pop(0)]
            return job

    def _cancel(self, request, context):
        with self._lock:
            self.requests.append(("cancel", request))
            self.jobs[request.name].state = v.JobState.JOB_STATE_CANCELLING
            return empty_pb2.Empty()

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None)

    # --- what tests use -----------------------------------------------------------
    def client(self):
        channel = grpc.insecure_channel(self.address)
        return v.JobServiceClient(transport=JobServiceGrpcTransport(channel=channel))

    def async_client(self):
        channel = grpc.aio.insecure_channel(self.address)
        return v.JobServiceAsyncClient(transport=JobServiceGrpcAsyncIOTransport(channel=channel))

    def created(self) -> list:
        return [request for kind, request in self.requests if kind == "create"]

    def cancelled(self) -> list[str]:
        return [request.name for kind, request in self.requests if kind == "cancel"]

    def script(self, name: str, *states: str) -> None:
        self.scripted[name] = list(states)

    def fail(self, name: str, message: str) -> None:
        job = self.jobs[name]
        job.state = v.JobState.JOB_STATE_FAILED
        job.error.message = message

    def run_custom_job(self, name: str) -> subprocess.CompletedProcess:
        """Run the chief's container command here, as Vertex AI would run it there; the
        job's state becomes SUCCEEDED or FAILED (with the output's tail as the error)."""
        job = self.jobs[name]
        job.state = v.JobState.JOB_STATE_RUNNING
        container = job.job_spec.worker_pool_specs[0].container_spec
        local = str(self.gcs_root) + "/"
        command = [sys.executable if part == "python" else part for part in container.command]
        args = [arg.replace("/gcs/", local) for arg in container.args]
        env = {**os.environ, "CLOUD_ML_JOB_ID": name.rsplit("/", 1)[-1]}
        env.pop("TF_CONFIG", None)
        done = subprocess.run([*command, *args], capture_output=True, text=True, env=env)
        if done.returncode == 0:
            job.state = v.JobState.JOB_STATE_SUCCEEDED
        else:
            self.fail(name, done.stderr[-2000:])
        return done

    def run_tuning_job(self, name: str, trials: list[dict]) -> None:
        """Run one trial per entry of ``trials`` (values Vizier would pick) with the trial
        container command, collect what each reports through hypertune, and end the job."""
        job = self.jobs[name]
        container = job.trial_job_spec.worker_pool_specs[0].container_spec
        local = str(self.gcs_root) + "/"
        command = [sys.executable if part == "python" else part for part in container.command]
        args = [arg.replace("/gcs/", local) for arg in container.args]
        objective = job.study_spec.metrics[0].metric_id
        for number, values in enumerate(trials, start=1):
            metrics = self.gcs_root.parent / f"hypertune-{number}" / "output.metrics"
            env = {
                **os.environ,
                "CLOUD_ML_HP_METRIC_FILE": str(metrics),
                "CLOUD_ML_TRIAL_ID": str(number),
            }
            chosen = [f"--{key}={value}" for key, value in values.items()]
            done = subprocess.run(
                [*command, *args, *chosen], capture_output=True, text=True, env=env
            )
            trial = v.Trial(
                id=str(number),
                parameters=[
                    v.Trial.Parameter(parameter_id=key, value=value)
                    for key, value in values.items()
                ],
            )
            if done.returncode == 0:
                report = json.loads(metrics.read_text().splitlines()[-1])
                trial.state = v.Trial.State.SUCCEEDED
                trial.final_measurement = v.Measurement(
                    metrics=[
                        v.Measurement.Metric(metric_id=objective, value=float(report[objective]))
                    ]
                )
            else:
                trial.state = v.Trial.State.INFEASIBLE
                trial.infeasible_reason = done.stderr[-500:]
            job.trials.append(trial)
        succeeded = any(t.state == v.Trial.State.SUCCEEDED for t in job.trials)
        job.state = v.JobState.JOB_STATE_SUCCEEDED if succeeded else v.JobState.JOB_STATE_FAILED


def install_in_this_process(address: str, gcs_root: str) -> None:
    """Point this process's gs:// and Vertex AI clients at a FakeJobService (for a DAG run
    in a subprocess; see tests/run_dag.py)."""
    from fsspec.registry import _registry

    from mlrail_airflow.hooks.vertex import VertexAIHook

    FakeGCS.root = gcs_root
    _registry["gs"] = FakeGCS
    channel = {"address": address}

    def client(self):
        return v.JobServiceClient(
            transport=JobServiceGrpcTransport(channel=grpc.insecure_channel(channel["address"]))
        )

    def async_client(self, arguments=None):
        transport = JobServiceGrpcAsyncIOTransport(
            channel=grpc.aio.insecure_channel(channel["address"])
        )
        return v.JobServiceAsyncClient(transport=transport)

    VertexAIHook.get_job_client = client
    VertexAIHook.get_async_job_client = async_client


def write_vertex_spec(root: Path, pipeline: str, source: Path, extra: str = "") -> Path:
    """A backend: vertex pipeline spec for the taxi data at ``source`` under ``root``,
    training a tiny taxi model; ``extra`` is appended YAML (the ``train`` mapping is last,
    so indented lines extend it)."""
    model = Path(__file__).resolve().parents[1] / "include" / "models" / "taxi_tips.py"
    path = root / "include" / "pipelines" / f"{pipeline}.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        f"pipeline: {pipeline}\n"
        "backend: vertex\n"
        f'vertex: {{image: "{IMAGE}", poll_seconds: 1}}\n'
        f'data: {{source: "{source}", label: big_tipper, features: {{exclude: [trip_id, tips]}}}}\n'
        "train:\n"
        f'  module: "{model}"\n'
        "  hyperparameters: {epochs: 1, batch_size: 128, hidden_units: [8]}\n" + extra
    )
    return path
