"""Every DAG the dags folder holds parses cleanly, quickly and without heavy ML libraries.

Parametrized per dag_id over what the folder actually defines (tests/dags/conftest.py);
each parse check runs in a fresh interpreter so that nothing imported by other tests hides
a heavy import done by a DAG file.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.dags.conftest import dagbag

# The stages of a training DAG, in order: each runs after the one before it.
CHAIN = (
    "ingest",
    "statistics",
    "schema",
    "validate",
    "train",
    "evaluate",
    "sandbox_servers",
    "validate_sandbox",
    "push",
)

# google.cloud itself is an empty namespace package that airflow.sdk already imports; its
# sub-packages (google.cloud.aiplatform, ...) are the heavy part.
PROBE = r"""
import importlib.util, json, sys, time
import airflow.sdk  # Airflow is present in every parse; measure the DAG file on top of it
from airflow.sdk import DAG
path = sys.argv[1]
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"tensorflow", "keras",
        "apache_beam", "great_expectations"} or m.startswith("google.cloud."))
dags = sorted(v.dag_id for v in vars(module).values() if isinstance(v, DAG))
print(json.dumps({"seconds": elapsed, "heavy": heavy, "dags": dags}))
"""


def _probe(path, tmp_path):
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dags_folder_has_no_import_errors():
    assert dagbag()["errors"] == {}
    assert dagbag()["dags"], "the dags folder defines no DAG"


def test_every_dag_file_defines_a_dag(dag_file):
    files = {info["file"] for info in dagbag()["dags"].values()}
    assert str(dag_file) in files, f"{dag_file.name} defines no DAG"


def test_dag_parses_light_and_fast(dag_id, tmp_path):
    result = _probe(dagbag()["dags"][dag_id]["file"], tmp_path)
    assert dag_id in result["dags"]
    assert result["heavy"] == [], f"{dag_id} imports {result['heavy']} at parse time"
    # The parse budget; the scheduler re-parses every file continuously.
    assert result["seconds"] < 1.0, f"{dag_id} took {result['seconds']:.2f} s to parse"


def test_training_dag_runs_its_stages_in_order(dag_id):
    if not dag_id.endswith("_training"):
        pytest.skip(f"{dag_id} is not a training DAG")
    tasks = dagbag()["dags"][dag_id]["tasks"]
    assert set(CHAIN) <= set(tasks), f"{dag_id} lacks {sorted(set(CHAIN) - set(tasks))}"

    def upstream_closure(task):
        seen, pending = set(), list(tasks[task])
        while pending:
            name = pending.pop()
            if name not in seen:
                seen.add(name)
                pending.extend(tasks[name])
        return seen

    for before, after in zip(CHAIN, CHAIN[1:], strict=False):
        assert before in upstream_closure(after), f"{dag_id}: {after} does not wait for {before}"


def test_sandbox_servers_are_set_up_and_torn_down_around_the_validation(dag_id):
    if not dag_id.endswith("_training"):
        pytest.skip(f"{dag_id} is not a training DAG")
    dag = dagbag()["dags"][dag_id]
    assert dag["setups"] == ["sandbox_servers"]
    assert dag["teardowns"] == {"stop_sandbox_servers": ["sandbox_servers"]}
    assert "validate_sandbox" in dag["tasks"]["stop_sandbox_servers"]
