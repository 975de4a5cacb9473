"""A real Airflow home (SQLite) in a temporary folder, prepared as `make airflow-home` does.

Used by the e2e tests (whole DAG runs) and by plugin tests that need Airflow's own
database and task SDK (the Vertex trigger's kill decision).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

RUN_DAG = Path(__file__).with_name("run_dag.py")


class AirflowProject:
    """Runs Airflow commands and DAGs in their own processes, against one Airflow home."""

    def __init__(self, home: Path, dags: Path = ROOT / "dags"):
        self.home = home
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

    def dag_test(self, dag_id: str, conf: dict, env: dict | None = None) -> dict:
        """``dag.test()`` in a fresh interpreter; returns the run's id and state."""
        done = self.run(sys.executable, str(RUN_DAG), dag_id, json.dumps(conf), env=env)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        return {**result, "log": done.stdout[-8000:] + done.stderr[-8000:]}

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
