"""One small real model, trained and pushed once per session, and real server processes."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.airflow_project import free_port

ROOT = Path(__file__).resolve().parents[3]
MODEL = "taxi_tips"


@dataclass(frozen=True)
class Trained:
    settings: object
    schema: dict
    frame: object  # the generated taxi trips (pandas)

    @property
    def model_folder(self) -> Path:
        return Path(self.settings.serving_root) / MODEL


def _value(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def instances(trained, count: int, start: int = 0) -> list[dict]:
    names = [f["name"] for f in trained.schema["features"]]
    rows = trained.frame.iloc[start : start + count][names]
    return [{k: _value(v) for k, v in row.items()} for row in rows.to_dict("records")]


def post(server, path: str, body=None, **kwargs) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=30, **kwargs)


def get(server, path: str) -> httpx.Response:
    return httpx.get(server.url + path, timeout=30)


def metric(server, name: str, **labels: str) -> float:
    """The value of one sample in /metrics, read by Prometheus's own parser (0 when it was
    never recorded)."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = get(server, "/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=")  # Prometheus text
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


class ServerProcess:
    """``python -m mlrail serve`` in its own process group on a free 127.0.0.1 port;
    ``stop`` always ends the group, so no worker outlives a failed test."""

    def __init__(self, settings, *args: str, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(settings.serving_root).parent / f"server-{self.port}.log"
        environ = {
            **os.environ,
            "MLRAIL_ARTIFACT_ROOT": settings.artifact_root,
            "MLRAIL_METADATA_URL": settings.metadata_url,
            "MLRAIL_SERVING_ROOT": settings.serving_root,
            "MLRAIL_LOG_ROOT": str(Path(settings.serving_root).parent / "logs"),
            "AIP_HTTP_PORT": str(self.port),  # the Vertex contract picks the port
            **(env or {}),
        }
        self.command = [sys.executable, "-m", "mlrail", "serve", "--model", MODEL, *args]
        self.environ = environ
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> ServerProcess:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.environ,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server not ready within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    """One small taxi model, trained, evaluated, sandboxed and pushed."""
    from mlrail.data.datagen import TaxiConfig, generate_taxi_trips, write_dataset
    from tests.conftest import spec_for, train_and_push

    root = tmp_path_factory.mktemp("serving")
    frame = generate_taxi_trips(TaxiConfig(rows=4000, seed=7))
    pushed = train_and_push(root, spec_for(write_dataset(frame, root / "data" / "trips.parquet")))
    return Trained(pushed.settings, pushed.schema, frame)


@pytest.fixture(scope="module")
def server(trained):
    process = ServerProcess(
        trained.settings,
        "--poll-seconds",
        "0.5",
        "--batch-timeout-micros",
        "20000",
        "--no-request-log",
        env={
            "AIP_HEALTH_ROUTE": "/vertex/health",
            "AIP_PREDICT_ROUTE": "/vertex/predict",
            # Short, so the slow-body tests wait seconds, not the default's 15.
            "MLRAIL_BODY_TIMEOUT_SECONDS": "3",
        },
    )
    try:
        yield process.start()
    finally:
        process.stop()


@pytest.fixture(scope="module")
def blessed_model(trained):
    """The pushed version of ``trained``, as the sandbox serves the blessed model (a
    mlrail.serving.sandbox.servers.ModelToServe)."""
    from mlrail.deployment.aliases import BLESSED as BLESSED_ALIAS
    from mlrail.serving.sandbox.servers import BLESSED, ModelToServe
    from mlrail.store.registry import ModelRegistry
    from mlrail.store.runner import Env

    env = Env.open(trained.settings)
    try:
        entry = ModelRegistry(env.metadata).resolve(MODEL, BLESSED_ALIAS)
    finally:
        env.metadata.close()
    assert entry is not None, "the trained model was not pushed"
    path = trained.model_folder / str(entry.version)
    return ModelToServe(BLESSED, entry.model_artifact_id, str(path), trained.schema, entry.version)
