"""`make demo`'s runs in the Airflow UI: every task's log, and who triggered the run.

The demo (``python -m mlrail_airflow.demo``, what `make demo` runs) runs in a process of
its own against a temporary Airflow home, on small data. An ``airflow api-server`` of that
home plays the UI a user opens with `make airflow`, asked over HTTP with a token from
Airflow's own ``POST /auth/token`` (simple auth manager). After every demo no process of
it may remain; whatever does is reported and ended.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mlrail.store.runner import Env
from mlrail.store.summary import run_summary
from tests.airflow_project import AirflowProject, ApiServer, prepare
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAG_ID = "taxi_tips_training"
PASSWORD = "viewer-pw"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = prepare(AirflowProject(tmp_path_factory.mktemp("demo-logs")))
    data = project.home / "data" / "trips.parquet"
    project.run(sys.executable, "-m", "mlrail", "datagen", "--out", str(data), "--rows", "2000")
    project.data = data
    return project


@pytest.fixture(scope="module")
def ui(project):
    """A client of the project's API server, logged in as ``viewer``."""
    passwords = project.home / "passwords.json"
    passwords.write_text(json.dumps({"viewer": PASSWORD}))
    server = ApiServer(
        project,
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "viewer:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        },
        project.home / "api-server.log",
    )
    try:
        server.start()
        token = httpx.post(
            f"{server.url}/auth/token", json={"username": "viewer", "password": PASSWORD}
        )
        assert token.status_code == 201, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        with httpx.Client(base_url=f"{server.url}/api/v2", headers=headers, timeout=30) as client:
            client.server = server
            yield client
    finally:
        server.stop()


def _processes_of(project: AirflowProject, spared: set[int]) -> dict[int, str]:
    """Processes running with the project's Airflow home, but for the process groups in
    ``spared``: pid -> command line."""
    needle = f"AIRFLOW_HOME={project.env['AIRFLOW_HOME']}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if os.getpgid(int(entry.name)) in spared:
                continue
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, ProcessLookupError):  # gone meanwhile, or not ours to read
            continue
    return {pid: cmd.decode(errors="replace") for pid, cmd in found.items()}


def assert_nothing_left(project: AirflowProject, spared: set[int]) -> None:
    left = _processes_of(project, spared)
    for pid in left:  # end them, so that one failure does not leak into the next test
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert left == {}, f"the demo left processes behind: {left}"


def start_demo(project: AirflowProject, conf: dict) -> subprocess.Popen:
    output = (project.home / f"demo-{time.monotonic_ns()}.out").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlrail_airflow.demo", "--conf", json.dumps(conf)],
        env=project.env,
        stdout=output,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    process.output = Path(output.name)
    return process


def finish_demo(process: subprocess.Popen, timeout: float = 900) -> tuple[int, str]:
    """The demo's exit code and output; a demo that hangs gets SIGTERM, which it takes as
    Ctrl-C (stop its scheduler), then SIGKILL."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode, process.output.read_text()


def run_id_in(output: str) -> str:
    found = re.search(rf"triggered {DAG_ID} run (\S+);", output)
    assert found, output[-4000:]
    return found.group(1)


def scheduler_jobs(project: AirflowProject) -> int:
    """How many schedulers have ever started on the project's Airflow database."""
    database = Path(project.env["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM job WHERE job_type = 'SchedulerJob'").fetchone()[0]


def task_log(ui: httpx.Client, run_id: str, task: dict) -> str:
    """The task's log as the UI's Logs tab fetches it."""
    answer = ui.get(
        f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task['task_id']}/logs/{task['try_number']}",
        headers={"Accept": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    return "\n".join(line.get("event", "") for line in answer.json()["content"])


def assert_task_logs_served(ui: httpx.Client, run_id: str) -> None:
    tasks = ui.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    assert {t["task_id"] for t in tasks} >= {"ingest", "train", "push"}
    for task in tasks:
        log = task_log(ui, run_id, task)
        # Each mlrail operator's report (MlrailBaseOperator.report), from the task process.
        assert re.search(rf"^{task['task_id']}: (ran|cache hit)", log, re.M), log[-3000:]
        assert "Log file not found" not in log


def is_paused(ui: httpx.Client) -> bool:
    answer = ui.get(f"/dags/{DAG_ID}")
    # Not parsed into the database yet: it will be created paused (the default).
    return answer.status_code == 404 or answer.json()["is_paused"]


def test_the_demo_run_shows_every_task_log_in_the_ui_and_who_triggered_it(project, ui):
    spared = {ui.server.process.pid}
    paused = is_paused(ui)
    try:
        code, output = finish_demo(start_demo(project, {"data_source": str(project.data)}))
    finally:
        assert_nothing_left(project, spared)
    assert code == 0, output[-6000:]
    user = getpass.getuser()
    assert f"triggered by {user} (manual, from the command line)" in output
    run_id = run_id_in(output)
    run = ui.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()
    assert run["state"] == "success"
    assert (run["triggering_user_name"], run["triggered_by"]) == (user, "cli")
    assert_task_logs_served(ui, run_id)
    env = Env.open(project.settings())
    try:  # what the tasks recorded: Airflow tells them no triggered_by
        recorded = run_summary(env, f"{DAG_ID}/{run_id}")["triggered_by"]
    finally:
        env.metadata.close()
    assert recorded == {"user": user, "run_type": "manual", "via": None}
    assert is_paused(ui) == paused, "the demo's own scheduler gone, the pause is as it was"


def test_with_make_airflow_running_the_demo_only_triggers_and_waits(project, ui):
    """`make airflow`'s scheduler (here one started alone; its tasks report to the API
    server) runs the demo's tasks: the demo starts no second scheduler."""
    log = (project.home / "scheduler.log").open("w")
    scheduler = subprocess.Popen(
        [str(Path(sys.executable).with_name("airflow")), "scheduler"],
        env={
            **project.env,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{ui.server.url}/execution/",
            # Only the demo's run, not the weekly run that unpausing the DAG would start.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    spared = {ui.server.process.pid, scheduler.pid}
    try:
        # What make airflow's DAG processor does first: the DAG is in Airflow's database.
        project.run(str(Path(sys.executable).with_name("airflow")), "dags", "reserialize")
        deadline = time.monotonic() + 180
        while ui.get("/monitor/health").json()["scheduler"]["status"] != "healthy":
            assert time.monotonic() < deadline and scheduler.poll() is None, "no scheduler"
            time.sleep(1)
        before = scheduler_jobs(project)
        try:
            code, output = finish_demo(start_demo(project, {"data_source": str(project.data)}))
        finally:
            assert_nothing_left(project, spared)
        assert code == 0, output[-6000:]
        assert "a scheduler is running" in output
        assert scheduler_jobs(project) == before
        assert_task_logs_served(ui, run_id_in(output))
    finally:
        os.killpg(scheduler.pid, signal.SIGTERM)
        try:
            scheduler.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(scheduler.pid, signal.SIGKILL)
            scheduler.wait()
        log.close()
    # As the trigger form's "Unpause on trigger" does: a running Airflow keeps it unpaused.
    assert not is_paused(ui)


def test_ctrl_c_stops_the_demos_scheduler_and_fails_its_run(project, ui):
    spared = {ui.server.process.pid}
    demo = start_demo(project, {"data_source": str(project.data), "force": True})
    try:
        deadline = time.monotonic() + 300
        while not re.search(r"triggered \S+ run", demo.output.read_text()):
            assert demo.poll() is None and time.monotonic() < deadline, demo.output.read_text()
            time.sleep(0.5)
        run_id = run_id_in(demo.output.read_text())
        tasks = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances"
        while "running" not in {t["state"] for t in ui.get(tasks).json()["task_instances"]}:
            assert demo.poll() is None and time.monotonic() < deadline, demo.output.read_text()
            time.sleep(0.5)
        demo.send_signal(signal.SIGINT)  # Ctrl-C: the demo's parts have sessions of their own
        code, output = finish_demo(demo, timeout=300)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        assert_nothing_left(project, spared)
    assert code == 130, output[-6000:]
    assert f"interrupted: run {run_id} marked failed" in output
    assert ui.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"] == "failed"
