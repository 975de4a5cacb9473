"""`make demo`: trigger the taxi-tips training DAG, let Airflow's scheduler run it, print
what it did.

The run is triggered as ``airflow dags trigger`` triggers one (a manual run, triggered by
you from the command line), and its tasks run as in production: the scheduler hands each
one to the LocalExecutor, in a process of its own, which writes the task's log to
Airflow's log folder, where the UI's log tab reads it (``make airflow``). If a scheduler
already runs against this Airflow home (``make airflow``), it runs the tasks. Otherwise
the demo starts one for the run, with the execution API server its task processes report
to, and stops both when the run ends, fails or is interrupted (Ctrl-C marks the run
failed: no scheduler is left to finish it); their output goes to ``.airflow/demo-logs/``.

A paused DAG is unpaused for the run, as the trigger form's "Unpause on trigger" does. The
demo's own scheduler only runs triggered runs (no schedule), and the DAG is paused again
afterwards; a running ``make airflow`` would start the DAG's scheduled runs the moment it
is unpaused, so there it stays unpaused.

The summary is read back from the metadata store: who triggered the run, dataset version
and rows per split, which stages came from the cache, metrics, the blessing verdict and the
pushed version.

    python -m mlrail_airflow.demo [--dag-id DAG_ID] [--conf JSON]

``--dag-id`` runs another pipeline's DAG the same way (``make run DAG=<dag_id>``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlrail.store.runner import Env

DAG_ID = "taxi_tips_training"
FINISHED = {"success", "failed"}


def airflow_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("airflow")), *args]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scheduler_alive() -> bool:
    """A scheduler heartbeats against this Airflow database from this machine: the check of
    ``airflow jobs check --job-type SchedulerJob --local``, without starting the CLI."""
    from airflow.jobs.job import Job, JobState
    from airflow.utils.net import get_hostname
    from airflow.utils.session import create_session
    from sqlalchemy import select

    query = select(Job).where(
        Job.state == JobState.RUNNING,
        Job.job_type == "SchedulerJob",
        Job.hostname == get_hostname(),
    )
    with create_session() as session:
        return any(job.is_alive() for job in session.scalars(query))


class DemoScheduler:
    """An Airflow scheduler (LocalExecutor) and the execution API server its task processes
    report to, started for one demo run.

    ``stop`` is always called, also when ``start`` failed: it ends each part's whole process
    group (the executor's workers and their task processes too).
    """

    def __init__(self, log_dir: Path, env: dict[str, str]):
        self.log_dir = log_dir
        self.port = _free_port()
        self.env = {
            **env,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            # Only triggered runs: unpausing the DAG for the demo starts no scheduled run.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        }
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        api = ["api-server", "--apps", "execution", "--host", "127.0.0.1", "--port", str(self.port)]
        for name, args in (("api-server", api), ("scheduler", ["scheduler"])):
            with (self.log_dir / f"{name}.log").open("w") as log:
                self.processes[name] = subprocess.Popen(
                    airflow_command(*args),
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches the demo, which stops them
                )

    def wait_until_running(self, timeout: float = 180) -> None:
        """Until the execution API answers: a task started before would fail to report."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            try:
                health = httpx.get(f"http://127.0.0.1:{self.port}/execution/health", timeout=5)
                if health.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the execution API server did not start; see {self.log_dir}")

    def check(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                log = self.log_dir / f"{name}.log"
                raise RuntimeError(f"airflow {name} exited ({process.returncode}); see {log}")

    def stop(self) -> None:
        # The scheduler first: its running tasks, stopped too, still report to the API.
        for process in reversed(self.processes.values()):
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:  # the whole group has already ended
        pass


def reserialize(log_dir: Path, env: dict[str, str]) -> None:
    """Parse the DAG files into Airflow's database, as the DAG processor would: the scheduler
    and the trigger read the DAG from there."""
    with (log_dir / "dags-reserialize.log").open("w") as log:
        code = subprocess.call(
            airflow_command("dags", "reserialize"), env=env, stdout=log, stderr=subprocess.STDOUT
        )
    if code != 0:
        raise RuntimeError(f"airflow dags reserialize failed; see {log.name}")


def dag_problem(dag_id: str) -> str | None:
    """Why ``dag_id`` cannot run, read from the DAGs folder as the DAG processor reads it:
    the error of each DAG file that fails to import (a bad spec names its file, line and
    field), or that no file defines it; None when it loads."""
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    folder = conf.get("core", "dags_folder")
    bag = DagBag(dag_folder=folder)
    if dag_id in bag.dags:
        return None
    errors = [
        f"  {file}: {error.strip().splitlines()[-1]}" for file, error in bag.import_errors.items()
    ]
    if not errors:
        return f"no DAG file in {folder} defines it"
    return "no DAG file that loads defines it, and these failed to import:\n" + "\n".join(errors)


def wait_for_dag(dag_id: str, timeout: float = 180) -> None:
    """Until the running Airflow's DAG processor has put ``dag_id`` in its database."""
    from airflow.models.dag import DagModel

    deadline = time.monotonic() + timeout
    while DagModel.get_current(dag_id) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the running Airflow has not parsed the DAG {dag_id}")
        time.sleep(1)


def set_paused(dag_id: str, paused: bool) -> bool:
    """Pause or unpause ``dag_id`` (as ``airflow dags pause/unpause``); whether it was paused."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        dag = session.get(DagModel, dag_id)
        was_paused, dag.is_paused = dag.is_paused, paused
    return was_paused


def trigger(dag_id: str, conf: dict | None) -> str:
    """A manual run of ``dag_id``, triggered as ``airflow dags trigger`` does: from the
    command line, by the user running it. Its conf is validated against the DAG's params."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.platform import getuser
    from airflow.utils.types import DagRunTriggeredByType

    run = trigger_dag(
        dag_id, triggered_by=DagRunTriggeredByType.CLI, triggering_user_name=getuser(), conf=conf
    )
    return run.run_id


def run_record(dag_id: str, run_id: str) -> tuple[str, dict[str, str], str | None]:
    """The run's state, its tasks' states and Airflow's ``triggered_by``."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    # A short session per look: an open SQLite read would hold off the scheduler's writes.
    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        tasks = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
            )
        )
        states = {task_id: str(state) for task_id, state in tasks if state}
        return str(run.state), states, run.triggered_by and run.triggered_by.value


def wait_for_run(dag_id: str, run_id: str, check, triggerer: bool) -> str:
    """Poll the run until it has finished, printing each task as it ends; ``check`` raises
    when the scheduler running it has gone. Without a ``triggerer``, a deferred task (a
    window sensor, a Vertex AI job) would wait forever."""
    done: set[str] = set()
    while True:
        check()
        state, tasks, _ = run_record(dag_id, run_id)
        for task_id, task_state in tasks.items():
            if task_state == "deferred" and not triggerer:
                raise RuntimeError(
                    f"{task_id} is deferred and no triggerer runs (the demo starts none): "
                    f"trigger {dag_id} in make airflow instead"
                )
            if task_id not in done and task_state in FINISHED | {"upstream_failed", "skipped"}:
                print(f"  {task_id}: {task_state}", flush=True)
                done.add(task_id)
        if state in FINISHED:
            return state
        time.sleep(1)


def fail_run(dag_id: str, run_id: str) -> None:
    """Mark the run and its unfinished tasks failed, as the UI's "Mark as failed" does, and
    do its teardown tasks' work: Airflow leaves a run with a pending teardown running, for
    a scheduler to run the teardown, and the demo's scheduler is gone."""
    from airflow.api.common.mark_tasks import set_dag_run_state_to_failed
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, State, TaskInstanceState
    from sqlalchemy import select

    from mlrail.components.sandbox import stop_sandbox
    from mlrail_airflow.hooks import MlrailHook

    # What stop_sandbox_servers would have done.
    stop_sandbox(None, dag_id, run_id, MlrailHook().get_settings().metadata_url)
    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        dag = DBDagBag().get_dag_for_run(run, session=session)
        set_dag_run_state_to_failed(dag=dag, run_id=run_id, commit=True, session=session)
        for ti in run.get_task_instances(session=session):
            if dag.task_dict[ti.task_id].is_teardown and ti.state not in State.finished:
                ti.set_state(TaskInstanceState.SKIPPED, session=session)
        run.set_state(DagRunState.FAILED)
        session.merge(run)


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # `kill` or a closing terminal: stop the scheduler on the way out


@contextmanager
def scheduler_for(dag_id: str, log_dir: Path, env: dict[str, str]):
    """A scheduler to run ``dag_id`` with the DAG unpaused: the running one, or one started
    here and stopped on leaving. Yields whether it is ours, and a check that raises once the
    scheduler has gone."""
    if scheduler_alive():
        print("a scheduler is running (make airflow?): it runs the tasks", flush=True)
        wait_for_dag(dag_id)
        if set_paused(dag_id, False):
            print(f"unpaused {dag_id}, as the trigger form does; its schedule now applies")

        def alive() -> None:
            if not scheduler_alive():
                raise RuntimeError("the running scheduler stopped heartbeating")

        yield False, alive
        return
    scheduler = DemoScheduler(log_dir, env)
    try:
        scheduler.start()
        reserialize(log_dir, env)
        scheduler.wait_until_running()
        was_paused = set_paused(dag_id, False)
        try:
            yield True, scheduler.check
        finally:
            set_paused(dag_id, was_paused)
    finally:
        scheduler.stop()


def run_demo(dag_id: str, conf: dict | None, log_dir: Path, env: dict[str, str]) -> tuple[str, str]:
    """Trigger ``dag_id`` and wait for the run; its id and final state. The processes
    started for it get ``env``."""
    run_id = ours = None
    try:
        with scheduler_for(dag_id, log_dir, env) as (ours, check):
            run_id = trigger(dag_id, conf)
            print(f"triggered {dag_id} run {run_id}; its tasks:", flush=True)
            # make airflow (airflow standalone) runs a triggerer with its scheduler.
            return run_id, wait_for_run(dag_id, run_id, check, triggerer=not ours)
    except (KeyboardInterrupt, RuntimeError) as stopped:
        why = "interrupted" if isinstance(stopped, KeyboardInterrupt) else str(stopped)
        if run_id and ours:  # its scheduler has stopped: nothing would finish the run
            fail_run(dag_id, run_id)
            print(f"\n{why}: run {run_id} marked failed", file=sys.stderr)
        elif run_id:
            print(f"\n{why}: run {run_id} goes on in the running Airflow", file=sys.stderr)
        raise


def summary_of(env: Env, dag_id: str, run_id: str) -> dict[str, Any] | None:
    """The run's summary from the metadata store, ``via`` completed from Airflow: the tasks
    that record the trigger are not told how their run was triggered."""
    from mlrail.store.summary import run_summary

    try:
        summary = run_summary(env, f"{dag_id}/{run_id}")
    except LookupError:  # no task got as far as recording anything
        return None
    trigger = summary["triggered_by"]
    if trigger and not trigger.get("via"):
        summary["triggered_by"] = {**trigger, "via": run_record(dag_id, run_id)[2]}
    return summary


def main(argv: list[str] | None = None) -> int:
    # Airflow's info lines in this process (parsing, run creation) would bury the demo's;
    # the processes it starts, and their task logs, keep the configured level.
    parts_env = dict(os.environ)
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    from airflow.configuration import conf as airflow_conf

    from mlrail.reports.summary import format_summary
    from mlrail.store.runner import Env
    from mlrail_airflow.hooks.mlrail import MlrailHook

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dag-id", default=DAG_ID, help=f"the DAG to run (default {DAG_ID})")
    parser.add_argument("--conf", type=json.loads, help="the run's conf (JSON), as for Trigger")
    args = parser.parse_args(argv)
    dag_id = args.dag_id
    signal.signal(signal.SIGTERM, _interrupt)
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # after Airflow's own setup
    problem = dag_problem(dag_id)
    if problem is not None:  # refused before anything starts or is written
        print(f"cannot run {dag_id}:\n{problem}", file=sys.stderr)
        return 1
    home = Path(os.environ["AIRFLOW_HOME"])
    log_dir = home / "demo-logs" / f"{dag_id}-{datetime.now():%Y%m%dT%H%M%S}"
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"running {dag_id} on Airflow's scheduler (Airflow home {home}) ...", flush=True)
    started = time.monotonic()
    try:
        run_id, state = run_demo(dag_id, args.conf, log_dir, parts_env)
    except KeyboardInterrupt:
        return 130
    except RuntimeError as err:  # a part of Airflow did not start or went away
        print(f"the demo could not run {dag_id}: {err}", file=sys.stderr)
        return 1
    print(f"\nAirflow run {state} after {time.monotonic() - started:.1f} s")
    env = Env.open(MlrailHook().get_settings())
    try:
        summary = summary_of(env, dag_id, run_id)
    finally:
        env.metadata.close()
    if summary:
        print(format_summary(summary))
        pushed = summary["steps"].get("push", {}).get("result", {})
        model = pushed.get("model", "MODEL")
        print(
            f"\nartifacts: {env.settings.artifact_root}\nmetadata:  {env.settings.metadata_url}"
            f"\nlineage:   .venv/bin/python -m mlrail lineage --model {model} --version N"
        )
    logs = Path(airflow_conf.get("logging", "base_log_folder")) / f"dag_id={dag_id}"
    print(f"task logs: the run's Logs tab in the Airflow UI (make airflow), files in {logs}")
    if state != "success":
        print(f"the DAG run failed; the failed task's log says why ({logs})", file=sys.stderr)
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
