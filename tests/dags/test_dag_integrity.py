"""Every DAG file imports cleanly, quickly, and without heavy ML libraries.

Each check runs in a fresh interpreter so that nothing imported by other tests hides a
heavy import done by a DAG file.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DAG_FILES = sorted((ROOT / "dags").glob("*.py"))

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
dags = {v.dag_id: sorted(v.task_dict) for v in vars(module).values() if isinstance(v, DAG)}
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


def test_there_are_dags():
    assert [p.name for p in DAG_FILES] == ["taxi_tips_training.py"]


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.stem for p in DAG_FILES])
def test_dag_file_imports_light_and_fast(path, tmp_path):
    result = _probe(path, tmp_path)
    assert result["dags"], f"{path.name} defines no DAG"
    assert result["heavy"] == [], f"{path.name} imports {result['heavy']} at parse time"
    # The parse budget; the scheduler re-parses every file continuously.
    assert result["seconds"] < 1.0, f"{path.name} took {result['seconds']:.2f} s to parse"


def test_dagbag_has_no_import_errors(tmp_path):
    code = (
        "import json; from airflow.dag_processing.dagbag import DagBag;"
        f"b = DagBag(dag_folder={str(ROOT / 'dags')!r},"
        " known_pools={'default_pool', 'training', 'gpu'});"
        "print(json.dumps({'errors': b.import_errors, 'dags': sorted(b.dag_ids)}))"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"errors": {}, "dags": ["taxi_tips_training"]}


def test_training_dag_shape(tmp_path):
    result = _probe(ROOT / "dags" / "taxi_tips_training.py", tmp_path)
    assert result["dags"] == {
        "taxi_tips_training": sorted(
            ["ingest", "statistics", "schema", "validate", "train", "evaluate", "push"]
        )
    }
