"""Run one DAG with ``dag.test()`` as the Airflow CLI does; print its id and state as JSON.

Usage: python run_dag.py DAG_ID CONF_JSON (with AIRFLOW_HOME and the DAGs folder set).
"""

import json
import sys

from airflow.utils.cli import get_bagged_dag

dag = get_bagged_dag(None, sys.argv[1])  # syncs the bundle to the database first
run = dag.test(run_conf=json.loads(sys.argv[2]))
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print(json.dumps({"run_id": run.run_id, "state": str(run.state), "tasks": states}))
