"""Parametrize DAG tests over what the dags folder actually holds, per dag_id."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile

from tests.conftest import ROOT

DAGS = ROOT / "dags"
# Reads the dags folder the way the DAG processor does and prints what it found.
BAG = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1],
             known_pools={"default_pool", "training", "gpu"})
dags = {
    dag_id: {
        "file": dag.fileloc,
        "tasks": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
        "setups": sorted(t.task_id for t in dag.tasks if t.is_setup),
        "teardowns": {t.task_id: sorted(u.task_id for u in t.upstream_list if u.is_setup)
                      for t in dag.tasks if t.is_teardown},
    }
    for dag_id, dag in bag.dags.items()
}
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags}))
"""


def read_dagbag(folder) -> dict:
    """What the DAG processor finds in ``folder``: ``{"errors": {file: error}, "dags":
    {dag_id: {"file", "tasks": {task: upstream}, "setups": [task], "teardowns": {task:
    [its setups]}}}}``. Read in a fresh interpreter in the project (DAG files may import
    from ``tests``), with an Airflow home of its own."""
    with tempfile.TemporaryDirectory(prefix="mlrail-dagbag-") as home:
        env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        done = subprocess.run(
            [sys.executable, "-c", BAG, str(folder)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=180,
        )
    if done.returncode != 0:
        raise RuntimeError(f"reading {folder} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@functools.cache
def dagbag() -> dict:
    """The project's dags folder, as read_dagbag reads it (once per session)."""
    return read_dagbag(DAGS)


def pytest_generate_tests(metafunc):
    if "dag_id" in metafunc.fixturenames:
        ids = sorted(dagbag()["dags"])
        metafunc.parametrize("dag_id", ids, ids=ids)
    if "dag_file" in metafunc.fixturenames:
        files = sorted(DAGS.glob("*.py"))
        metafunc.parametrize("dag_file", files, ids=[p.stem for p in files])


def training_tasks(dag_id: str) -> tuple[str, ...]:
    """The task ids of a training DAG, as the dags folder defines them."""
    return tuple(sorted(dagbag()["dags"][dag_id]["tasks"]))
