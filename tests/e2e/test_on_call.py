"""Real DAG runs as the on-call person meets them: runs at the same time, and a run done
again (dag.test, as `airflow dags test` runs them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import Env
from mlrail.store.settings import Settings
from tests.store_snapshot import sandbox_processes, snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DAG = "taxi_tips_training"


def _own_stores(request, tmp_path, backend: str) -> tuple[Settings, dict]:
    """Stores of this test alone, through the mlrail_default connection's environment
    variable (Airflow reads it before the one in its database)."""
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    if backend == "postgresql":
        url = request.getfixturevalue("postgres").new_database()
    settings = Settings(str(tmp_path / "artifacts"), url, str(tmp_path / "serving"))
    extra = {"artifact_root": settings.artifact_root, "metadata_url": url}
    extra["serving_root"] = settings.serving_root
    connection = json.dumps({"conn_type": "generic", "extra": extra})
    return settings, {"AIRFLOW_CONN_MLRAIL_DEFAULT": connection}


@pytest.mark.parametrize(("backend", "runs"), [("sqlite", 2), ("postgresql", 4)])
def test_concurrent_runs_train_once_and_bless_once(
    request, airflow_project, taxi_file, tmp_path, backend, runs
):
    settings, env_vars = _own_stores(request, tmp_path, backend)
    conf = {"data_source": str(taxi_file)}
    # Airflow's own DAG sync is not safe to race on a DAG it has never seen (two inserts
    # of the same dag row): let it see the DAG first, as a deployment always has.
    airflow_project.run(str(Path(sys.executable).parent / "airflow"), "dags", "reserialize")
    started = [airflow_project.start_dag_test(DAG, conf, env_vars) for _ in range(runs)]
    results = [airflow_project.finish(p) for p in started]
    assert [r["state"] for r in results] == ["success"] * runs, results[0]["log"]

    env = Env.open(settings)
    trained = [e for e in env.metadata.executions(component="train") if e.state == "complete"]
    assert len(trained) == 1  # the other runs waited for it and reused it
    registry = ModelRegistry(env.metadata)
    assert [v.version for v in registry.versions("taxi_tips")] == [1]
    assert [h["to_version"] for h in registry.alias_history("taxi_tips")] == [1]
    assert env.metadata.executions(state="running") == []
    env.metadata.close()


def test_running_a_date_again_changes_nothing(request, airflow_project, taxi_file, tmp_path):
    """dag.test on the same logical date replaces that run and runs every task again
    (clearing tasks under a real scheduler: benchmarks/reliability)."""
    settings, env_vars = _own_stores(request, tmp_path, "sqlite")
    conf = {"data_source": str(taxi_file)}
    first = airflow_project.dag_test(DAG, conf, env_vars)
    assert first["state"] == "success", first["log"]
    env = Env.open(settings)
    before = snapshot(env, "taxi_tips")
    again = airflow_project.dag_test(DAG, conf, env_vars, logical_date=first["logical_date"])
    assert again["state"] == "success", again["log"]
    assert snapshot(env, "taxi_tips") == before
    states = {e.component: e.state for e in env.metadata.executions(run_id=again["run_id"])}
    assert states["train"] == states["evaluate"] == "cached" and states["push"] == "complete"
    assert states["sandbox"] == "complete"  # measured again, then its servers torn down
    assert not sandbox_processes(DAG, again["run_id"], settings.metadata_url)
    env.metadata.close()
