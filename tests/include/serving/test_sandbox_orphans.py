"""Orphaned sandbox servers: a setup whose process is SIGKILLed leaves real servers behind
(ppid 1); ``python -m mlrail gc`` and the next sandbox setup of another run stop them,
and never the servers of a run whose holder lives or that were handed off to Airflow.

Each test has a sandbox folder of its own (TMPDIR), so it sweeps only its own runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from mlrail.serving.sandbox.folder import OWNER, SPAWNED, STATE, sandbox_root
from mlrail.serving.sandbox.orphans import claim, find_orphans, hand_off, held
from mlrail.serving.sandbox.servers import (
    BLESSED,
    ModelToServe,
    RunningServer,
    Servers,
    start_servers,
    stop_servers,
)
from mlrail.spec.sandbox import SandboxSpec
from mlrail.spec.serving import ServingSpec
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

CPU = sorted(os.sched_getaffinity(0))[-1]
POLICY = SandboxSpec(cpus=[CPU], max_loading_seconds=120.0)
# The metadata store the runs belong to (part of their sandbox folder's name).
STORE = "sqlite:///orphans"

# Starts the servers of one run as a setup does, says so, and waits to be killed.
SETUP = """
import json, sys, time
from mlrail.serving.sandbox.folder import sandbox_root
from mlrail.serving.sandbox.servers import ModelToServe, start_servers
from mlrail.spec.sandbox import SandboxSpec
from mlrail.spec.serving import ServingSpec
model, policy = (json.loads(a) for a in sys.argv[1:3])
root = sandbox_root("taxi_tips_training", sys.argv[3], "sqlite:///orphans")
start_servers([ModelToServe(**model)], root, SandboxSpec(**policy), ServingSpec(),
              "taxi_tips_training/" + sys.argv[3])
print("up", flush=True)
time.sleep(600)
"""


@pytest.fixture
def tmpdir_env(tmp_path, monkeypatch) -> dict[str, str]:
    """This test's temporary folder, for this process and the processes it starts."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "TMPDIR": str(folder), "PYTHONPATH": path}


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def killed_setup(model: ModelToServe, run_id: str, env: dict[str, str]) -> list[int]:
    """SIGKILL a real setup once its server answers; the pids of the servers it left."""
    setup = subprocess.Popen(
        [sys.executable, "-c", SETUP, json.dumps(dataclasses.asdict(model))]
        + [json.dumps(vars(POLICY)), run_id],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert setup.stdout.readline().strip() == "up"
    finally:
        setup.kill()
        setup.wait()
    root = sandbox_root("taxi_tips_training", run_id, STORE)
    pids = [s["pid"] for s in json.loads((root / STATE).read_text())["running"].values()]
    assert pids and all(alive(pid) for pid in pids)
    assert all(psutil.Process(pid).ppid() != setup.pid for pid in pids)  # orphans now
    return pids


def kill_left(pids: list[int]) -> None:
    """Servers a failed sweep left: a failing test must not leave them to their max_minutes."""
    for pid in pids:
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)


def other_process() -> subprocess.Popen:
    """A stand-in for a server (its own process group, as servers have)."""
    return subprocess.Popen(["sleep", "300"], start_new_session=True)


def recorded_folder(run_id: str, process: subprocess.Popen) -> Path:
    """A run's sandbox folder recording ``process`` as started (no holder yet)."""
    root = sandbox_root("taxi_tips_training", run_id, STORE)
    root.mkdir(parents=True)
    started = psutil.Process(process.pid).create_time()
    (root / SPAWNED).write_text(f"{process.pid} {started!r}\n")
    return root


def mlrail(env: dict[str, str], settings, *args: str) -> str:
    stores = {
        "MLRAIL_ARTIFACT_ROOT": settings.artifact_root,
        "MLRAIL_METADATA_URL": settings.metadata_url,
        "MLRAIL_SERVING_ROOT": settings.serving_root,
    }
    done = subprocess.run(
        [sys.executable, "-m", "mlrail", *args],
        env={**env, **stores},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_gc_stops_the_servers_a_killed_setup_left(blessed_model, tmpdir_env, settings):
    pids = killed_setup(blessed_model, "killed", tmpdir_env)
    try:
        listed = mlrail(tmpdir_env, settings, "gc")
        assert "would stop: sandbox servers of run taxi_tips_training/killed" in listed
        assert f"pids {pids[0]}" in listed and "held by a process that is gone" in listed
        assert "dry run" in listed and all(alive(pid) for pid in pids)

        applied = mlrail(tmpdir_env, settings, "gc", "--apply")
        assert "stopped: sandbox servers of run taxi_tips_training/killed" in applied
        assert not any(alive(pid) for pid in pids)
        assert not sandbox_root("taxi_tips_training", "killed", STORE).exists()
        assert "nothing to clean" in mlrail(tmpdir_env, settings, "gc")
    finally:
        kill_left(pids)


def test_the_next_setup_of_another_run_stops_them_and_nothing_live(blessed_model, tmpdir_env):
    pids = killed_setup(blessed_model, "killed", tmpdir_env)
    held, handed_off = other_process(), other_process()
    try:
        live = recorded_folder("live", held)
        claim(live, "taxi_tips_training/live")  # held by this test's process, alive
        recorded_folder("handed_off", handed_off)  # under Airflow: between setup and validation

        root = sandbox_root("taxi_tips_training", "next", STORE)
        servers = start_servers([blessed_model], root, POLICY, ServingSpec(), "next")
        try:
            assert not any(alive(pid) for pid in pids)
            assert not sandbox_root("taxi_tips_training", "killed", STORE).exists()
            assert alive(held.pid) and alive(handed_off.pid) and (live / OWNER).exists()
            assert alive(servers.running[BLESSED].pid)
        finally:
            stop_servers(servers)
    finally:
        for process in (held, handed_off):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        kill_left(pids)


# A validation task that holds the servers of its run, then is SIGKILLed.
VALIDATION = """
import json, os, signal, sys
from mlrail.serving.sandbox.orphans import held
from mlrail.serving.sandbox.servers import Servers
with held(Servers.from_dict(json.loads(sys.argv[1]))):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_under_airflow_only_a_killed_validation_leaves_orphans(tmpdir_env):
    """The setup task hands its servers off when it returns; a validation holds them while
    it runs and gives them back when it ends, even by failing (a retry finds them); only a
    validation that is killed leaves them to the next sweep."""
    process = other_process()
    try:
        root = recorded_folder("airflow", process)
        claim(root, "taxi_tips_training/airflow")
        hand_off(root)  # the setup task returned
        started = psutil.Process(process.pid).create_time()
        server = RunningServer(BLESSED, "http://127.0.0.1:1", process.pid, started, 1, 0, 0.0, 1)
        servers = Servers(str(root), {BLESSED: server})
        assert find_orphans() == []
        with pytest.raises(RuntimeError), held(servers):
            raise RuntimeError("a failing validation")
        assert find_orphans() == []

        killed = subprocess.run(
            [sys.executable, "-c", VALIDATION, json.dumps(servers.to_dict())],
            env=tmpdir_env,
            cwd=ROOT,
            timeout=120,
        )
        assert killed.returncode == -signal.SIGKILL
        (orphan,) = find_orphans()
        assert orphan.run == "taxi_tips_training/airflow" and orphan.pids == (process.pid,)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
