"""Run one DAG with ``dag.test()`` as the Airflow CLI does; print its id and state as JSON.

Usage: python run_dag.py DAG_ID CONF_JSON [LOGICAL_DATE] (with AIRFLOW_HOME and the DAGs
folder set). An earlier LOGICAL_DATE runs that run again, every task a new try.
``python run_dag.py --runs RUNS_JSON``, RUNS_JSON a list of [DAG_ID, CONF], makes the
runs in turn in this one interpreter (Airflow and TensorFlow imported once) and prints a
list.
With MLRAIL_FAKE_VERTEX='{"address": ..., "gcs_root": ...}' in the environment, gs:// and
the Vertex AI clients of this process go to a tests.fake_vertex.FakeJobService.
"""

import json
import os
import sys

if os.environ.get("MLRAIL_FAKE_VERTEX"):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from tests.fake_vertex import install_in_this_process

    install_in_this_process(**json.loads(os.environ["MLRAIL_FAKE_VERTEX"]))

from airflow.utils.cli import get_bagged_dag


def _test(dag, conf: dict, logical_date: str | None) -> dict:
    when = {}
    if logical_date:
        from datetime import datetime

        when["logical_date"] = datetime.fromisoformat(logical_date)
    run = dag.test(run_conf=conf, **when)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    logical = run.logical_date.isoformat() if run.logical_date else None
    return {"run_id": run.run_id, "state": str(run.state), "tasks": states, "logical_date": logical}


if sys.argv[1] == "--runs":  # several runs, one after the other, in this one interpreter
    dags = {}
    results = []
    for dag_id, conf in json.loads(sys.argv[2]):
        if dag_id not in dags:
            dags[dag_id] = get_bagged_dag(None, dag_id)  # syncs the bundle to the database
        results.append(_test(dags[dag_id], conf, None))
    print(json.dumps(results))
else:
    dag = get_bagged_dag(None, sys.argv[1])  # syncs the bundle to the database first
    print(json.dumps(_test(dag, json.loads(sys.argv[2]), (sys.argv[3:] or [None])[0])))
