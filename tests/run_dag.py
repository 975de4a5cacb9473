"""Run one DAG with ``dag.test()`` as the Airflow CLI does; print its id and state as JSON.

Usage: python run_dag.py DAG_ID CONF_JSON [LOGICAL_DATE] (with AIRFLOW_HOME and the DAGs
folder set). An earlier LOGICAL_DATE runs that run again, every task a new try.
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

dag = get_bagged_dag(None, sys.argv[1])  # syncs the bundle to the database first
when = {}
if len(sys.argv) > 3:
    from datetime import datetime

    when["logical_date"] = datetime.fromisoformat(sys.argv[3])
run = dag.test(run_conf=json.loads(sys.argv[2]), **when)
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
logical = run.logical_date.isoformat() if run.logical_date else None
print(
    json.dumps(
        {"run_id": run.run_id, "state": str(run.state), "tasks": states, "logical_date": logical}
    )
)
