"""Ask the Vertex trigger, through Airflow's real task SDK and database, whether its task
was killed, for each state the task instance can be in. Run in a prepared Airflow home
(tests/airflow_project.py); prints the trigger's log, then one JSON line: state -> decision.

The trigger talks to Airflow as it does in the triggerer: RuntimeTaskInstance over the
supervisor channel; here the channel is Airflow's own in-process supervisor (the one
dag.test() uses), backed by the execution API on this home's database.
"""

import asyncio
import json
import os

import psutil
import structlog
from airflow import settings
from airflow.models.dagrun import get_or_create_dagrun
from airflow.sdk import timezone
from airflow.sdk.execution_time.supervisor import (
    InProcessSupervisorComms,
    InProcessTestSupervisor,
    set_supervisor_comms,
)
from airflow.serialization.serialized_objects import DagSerialization
from airflow.utils.cli import get_bagged_dag
from airflow.utils.types import DagRunTriggeredByType

from mlrail_airflow.triggers.vertex import CustomJobTrigger

JOB = "projects/acme/locations/europe-west4/customJobs/7"


def channel(ti):
    supervisor = InProcessTestSupervisor(
        id=ti.id,
        pid=os.getpid(),
        process=psutil.Process(),
        process_log=structlog.get_logger(logger_name="task").bind(),
        client=InProcessTestSupervisor._api_client(),
    )
    supervisor.comms = InProcessSupervisorComms(supervisor=supervisor)
    return supervisor.comms


def decide(ti, comms) -> bool:
    trigger = CustomJobTrigger(conn_id="mlrail_vertex", job_name=JOB)
    trigger.task_instance = ti
    with set_supervisor_comms(comms):
        return asyncio.run(trigger._task_was_killed())


def main() -> None:
    dag = DagSerialization.deserialize_dag(
        DagSerialization.serialize_dag(get_bagged_dag(None, "taxi_tips_training"))
    )
    session = settings.Session()
    now = timezone.utcnow()
    run = get_or_create_dagrun(
        dag=dag,
        run_id=f"probe__{now.isoformat()}",
        logical_date=now,
        data_interval=(now, now),
        run_after=now,
        conf={},
        triggered_by=DagRunTriggeredByType.TEST,
        triggering_user_name="probe",
        start_date=now,
        session=session,
    )
    ti = run.get_task_instance("train", session=session)
    comms = channel(ti)
    decisions = {}
    for state in ("deferred", None, "failed", "up_for_retry", "success", "scheduled"):
        ti.state = state
        session.merge(ti)
        session.commit()
        decisions[str(state)] = decide(ti, comms)
    decisions["unreadable"] = decide(ti, None)  # no supervisor channel: the state is unknown
    session.delete(run)
    session.commit()
    decisions["run deleted"] = decide(ti, comms)
    print(json.dumps(decisions))


if __name__ == "__main__":
    main()
