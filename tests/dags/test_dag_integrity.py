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


def _graph(dag_id: str):
    """The pipeline model's graph of ``dag_id``, from the spec its DAG file names."""
    from mlrail.pipeline import graphs
    from mlrail.spec import load_spec

    for spec_path in ROOT.glob("include/pipelines/*.yaml"):
        for graph in graphs(load_spec(spec_path)):
            if graph.dag_id == dag_id:
                return graph
    pytest.skip(f"{dag_id} is not rendered from a pipeline spec of this project")


def test_each_dag_runs_its_stages_as_the_pipeline_model_declares(dag_id):
    """Every stage of the graph is a task that waits for each stage it reads from or
    follows, and no task is there that the graph lacks."""
    graph, tasks = _graph(dag_id), dagbag()["dags"][dag_id]["tasks"]
    assert sorted(tasks) == sorted(s.name for s in graph.stages)
    for stage in graph.stages:
        assert set(stage.upstream()) <= set(tasks[stage.name]), stage.name


def test_setups_and_teardowns_are_those_the_graph_declares(dag_id):
    from mlrail.pipeline.model import SETUP, TEARDOWN

    graph, dag = _graph(dag_id), dagbag()["dags"][dag_id]
    assert dag["setups"] == sorted(s.name for s in graph.stages if s.role == SETUP)
    assert dag["teardowns"] == {
        s.name: [s.setup] for s in graph.stages if s.role == TEARDOWN
    }
    for teardown in dag["teardowns"]:  # each runs after what it tears down for
        assert set(graph.stage(teardown).after) <= set(dag["tasks"][teardown])
