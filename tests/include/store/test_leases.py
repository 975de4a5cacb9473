"""One computation per cache key across processes, and recovery after a SIGKILL."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlrail.reports.summary import format_summary
from mlrail.store.leases import owner_gone
from mlrail.store.metadata import Execution
from mlrail.store.recovery import execution_folder
from mlrail.store.runner import Env
from mlrail.store.summary import run_summary
from tests.conftest import ROOT
from tests.include.store import lease_worker

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _holder(**fields) -> Execution:
    base = dict(
        id=1, component="train", code_version="v", cache_key="k", parameters={},
        state="running", cached_from=None, result=None, error=None, pipeline="p",
        dag_id="p_training", run_id="r1", task_id="train", try_number=1, started_at=NOW,
        finished_at=None, owner="worker-1:4242:1700000000",
        lease_expires_at=NOW + timedelta(seconds=30),
    )  # fmt: skip
    return Execution(**{**base, **fields})


def started(pid: int) -> int | None:
    return {4242: 1700000000}.get(pid)


@pytest.mark.parametrize(
    ("holder", "host", "task", "gone"),
    [
        (_holder(), "worker-1", (None, None, None), None),  # its process lives
        (_holder(), "worker-2", (None, None, None), None),  # elsewhere, lease still valid
        (_holder(owner="worker-1:4243:1700000000"), "worker-1", (None,) * 3, "has exited"),
        (_holder(owner="worker-1:4242:1600000000"), "worker-1", (None,) * 3, "has exited"),
        (_holder(lease_expires_at=NOW - timedelta(seconds=1)), "worker-2", (None,) * 3, "expired"),
        (_holder(owner=None), "worker-1", (None,) * 3, "no owner recorded"),
        (_holder(owner="remote:p/r1/train"), "worker-1", ("p_training", "r1", "train"), "try 2"),
        (_holder(owner="remote:p/r1/train"), "worker-1", ("p_training", "r2", "train"), None),
    ],
)
def test_owner_gone(holder, host, task, gone):
    reason = owner_gone(holder, NOW, host, started, task, try_number=2)
    assert (reason is None) if gone is None else (gone in reason)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path):
    from mlrail.store.settings import Settings

    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").new_database()
    return Settings(str(tmp_path / "artifacts"), url, str(tmp_path / "serving"))


def _start(settings, run_id: str, *extra: str, die_after: float | None = None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if die_after is not None:
        env["LEASE_WORKER_DIE"] = str(die_after)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.include.store.lease_worker"]
        + [json.dumps(dataclasses.asdict(settings)), run_id, *extra],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _computed(settings) -> list[str]:
    log = lease_worker.computations(settings)
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_runs_compute_a_key_once(settings, runs):
    processes = [_start(settings, f"run{n}") for n in range(runs)]
    results = [_result(p) for p in processes]
    assert len(_computed(settings)) == 1
    computed = [r for r in results if r["cached_from"] is None]
    assert len(computed) == 1
    assert {r["cached_from"] for r in results} - {None} == {computed[0]["execution_id"]}


def test_force_recomputes_after_the_running_one_not_beside_it(settings):
    first = _start(settings, "run1")
    _wait_for_running(settings)
    forced = _start(settings, "run2", "force")
    results = [_result(first), _result(forced)]
    assert [r["cached_from"] for r in results] == [None, None]
    env = Env.open(settings)
    one, two = (env.metadata.get_execution(r["execution_id"]) for r in results)
    env.metadata.close()
    assert two.started_at >= one.finished_at  # it waited for the first to finish
    assert len(_computed(settings)) == 2


def _wait_for_running(settings, timeout: float = 60) -> Execution:
    env = Env.open(settings)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = env.metadata.executions(state="running")
            if running:
                return running[0]
            time.sleep(0.2)
        raise AssertionError("no execution started running")
    finally:
        env.metadata.close()


def test_a_killed_owner_is_recovered_by_the_next_run(settings):
    dying = _start(settings, "run1", die_after=0)
    dying.communicate(timeout=120)
    assert dying.returncode == -9
    env = Env.open(settings)
    (dead,) = env.metadata.executions(state="running")
    folder = Path(execution_folder(env, dead))
    assert any(p.name.startswith(".statistics.staging-") for p in folder.iterdir())

    result = lease_worker.run(settings, "run2", seconds=0)
    assert result.cached_from is None
    interrupted = env.metadata.get_execution(dead.id)
    assert interrupted.state == "interrupted" and "has exited" in interrupted.error
    assert not folder.exists()  # the partial output is gone, not just hidden
    summary = format_summary(run_summary(env, "lease_demo_training/run1"))
    assert "INTERRUPTED statistics: started" in summary and "None" not in summary
    env.metadata.close()


def test_a_waiting_run_takes_over_when_the_owner_dies(settings):
    dying = _start(settings, "run1", die_after=3)
    holder = _wait_for_running(settings)
    waiting = _start(settings, "run2")
    dying.communicate(timeout=120)
    result = _result(waiting)
    assert result["cached_from"] is None  # it computed the key itself, once the owner died
    env = Env.open(settings)
    assert env.metadata.get_execution(holder.id).state == "interrupted"
    assert env.metadata.get_execution(result["execution_id"]).state == "complete"
    env.metadata.close()
    assert len(_computed(settings)) == 2
