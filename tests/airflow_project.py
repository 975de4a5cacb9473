"""A real Airflow home (SQLite) in a temporary folder, prepared as `make airflow-home` does.

Used by the e2e tests (whole DAG runs) and by plugin tests that need Airflow's own
database and task SDK (the Vertex trigger's kill decision). ApiServer serves a project over
HTTP, for the browser tests of the pages (tests/plugins/ui_project.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, TEST_SANDBOX

RUN_DAG = Path(__file__).with_name("run_dag.py")


def short_sandbox_project(root: Path) -> Path:
    """The repository's DAG files and pipeline specs in a project of their own under
    ``root``, every spec with the tests' short sandbox (``TEST_SANDBOX``); the model modules
    and expectation suites are the repository's. Returns the project's dags folder.

    A DAG run measures its sandbox under the spec's policy, and the real one (8 rounds of
    400 requests per level) is for judging a model, not for tests that run the DAG to check
    something else; tests/include/serving/test_sandbox.py holds the latency checks."""
    import yaml

    shutil.copytree(ROOT / "dags", root / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    pipelines = root / "include" / "pipelines"
    shutil.copytree(ROOT / "include" / "pipelines", pipelines)
    for spec in pipelines.glob("*.yaml"):
        if not spec.name.endswith(".schema.yaml"):
            body = yaml.safe_load(spec.read_text())
            body["sandbox"] = {**body.get("sandbox", {}), **TEST_SANDBOX}
            spec.write_text(yaml.safe_dump(body, sort_keys=False))
    for shared in ("models", "expectations"):
        (root / "include" / shared).symlink_to(ROOT / "include" / shared)
    return root / "dags"


class AirflowProject:
    """Runs Airflow commands and DAGs in their own processes, against one Airflow home."""

    def __init__(self, home: Path, dags: Path | None = None):
        """``dags``: the folder of DAG files; by default the repository's, in a project
        under ``home`` with a short sandbox (``short_sandbox_project``)."""
        self.home = home
        if dags is None:
            dags = short_sandbox_project(home / "project")
        self.mlrail_home = home / "mlrail"
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "MLRAIL_HOME": str(self.mlrail_home),
            # Runs read data that tests write to their own temporary folders, all under
            # pytest's base folder: the data roots a deployment would configure.
            "MLRAIL_DATA_ROOTS": str(home.parent),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }

    def run(
        self, *args: str, timeout: int = 600, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            args,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
            )
        return done

    def dag_test(
        self, dag_id: str, conf: dict, env: dict | None = None, logical_date: str | None = None
    ) -> dict:
        """``dag.test()`` in a fresh interpreter; returns the run's id and state. The same
        ``logical_date`` again re-runs that run's every task, as clearing them all does."""
        return self.finish(self.start_dag_test(dag_id, conf, env, logical_date))

    def dag_tests(self, runs: list[tuple[str, dict]], env: dict | None = None) -> list[dict]:
        """One ``dag.test()`` per (dag_id, conf), in turn, in one fresh interpreter
        (Airflow and TensorFlow imported once); each run's id and state, and the log of
        all."""
        runs, log = self._outcome(self._start(["--runs", json.dumps(runs)], env))
        return [{**run, "log": log} for run in runs]

    def start_dag_test(
        self, dag_id: str, conf: dict, env: dict | None = None, logical_date: str | None = None
    ) -> subprocess.Popen:
        """``dag_test`` started, not waited for: several run at once."""
        when = [logical_date] if logical_date else []
        return self._start([dag_id, json.dumps(conf), *when], env)

    def _start(self, arguments: list[str], env: dict | None) -> subprocess.Popen:
        """run_dag.py with ``arguments``. Output goes to files: a pipe nobody reads yet
        fills up and blocks the run writing to it."""
        args = [sys.executable, str(RUN_DAG), *arguments]
        logs = Path(tempfile.mkdtemp(prefix="dag-test-", dir=self.home))
        process = subprocess.Popen(
            args,
            env={**self.env, **(env or {})},
            stdout=(logs / "stdout").open("w"),
            stderr=(logs / "stderr").open("w"),
            cwd=ROOT,
        )
        process.logs = logs
        return process

    @classmethod
    def finish(cls, process: subprocess.Popen, timeout: int = 900) -> dict:
        result, log = cls._outcome(process, timeout)
        return {**result, "log": log}

    @staticmethod
    def _outcome(process: subprocess.Popen, timeout: int = 900) -> tuple[Any, str]:
        """What run_dag.py printed last (parsed), and the end of its output."""
        process.wait(timeout=timeout)
        out = (process.logs / "stdout").read_text()
        err = (process.logs / "stderr").read_text()
        if process.returncode != 0:
            raise AssertionError(f"dag test failed:\n{out[-4000:]}\n{err[-4000:]}")
        return json.loads(out.strip().splitlines()[-1]), out[-8000:] + err[-8000:]

    def settings(self):
        from mlrail.store.settings import Settings

        return Settings(
            artifact_root=str(self.mlrail_home / "artifacts"),
            metadata_url=f"sqlite:///{self.mlrail_home / 'metadata.db'}",
            serving_root=str(self.mlrail_home / "serving"),
        )


def prepare(project: AirflowProject) -> AirflowProject:
    """Migrate the Airflow database and load airflow_settings.yaml, as `make` does."""
    bin_dir = Path(sys.executable).parent
    project.run(str(bin_dir / "airflow"), "db", "migrate")
    project.run(
        sys.executable, "-m", "mlrail_airflow.settings_loader", str(ROOT / "airflow_settings.yaml")
    )
    return project


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ApiServer:
    """``airflow api-server`` of a project on a free 127.0.0.1 port (the UI and the REST
    API, plugins included), one worker, output in ``log``.

    ``stop`` is always safe to call, also when ``start`` failed.
    """

    def __init__(self, project: AirflowProject, env: dict[str, str], log: Path):
        self.project = project
        self.env = env
        self.log = log
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> ApiServer:
        """Start the server and wait until its health endpoint answers."""
        import httpx

        port = self.url.rsplit(":", 1)[1]
        with self.log.open("w") as output:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "airflow"), "api-server", "--workers", "1"]
                + ["--host", "127.0.0.1", "--port", port],
                env={**self.project.env, "AIRFLOW__API__HOST": "127.0.0.1", **self.env},
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                # Its uvicorn workers join this session's process group; stop() ends them all.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout  # a healthy start takes seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"airflow api-server exited:\n{self.log.read_text()[-6000:]}")
            try:
                if httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"airflow api-server never became healthy:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
