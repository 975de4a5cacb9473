"""``python -m mlrail gc``: finds what interrupted work left, removes it only when asked."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from mlrail.store.runner import Env
from tests.conftest import ROOT


def _mlrail(settings, *args: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MLRAIL_ARTIFACT_ROOT": settings.artifact_root,
        "MLRAIL_METADATA_URL": settings.metadata_url,
        "MLRAIL_SERVING_ROOT": settings.serving_root,
    }
    done = subprocess.run(
        [sys.executable, "-m", "mlrail", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_gc_is_a_dry_run_until_applied(settings):
    killed = subprocess.run(
        [sys.executable, "-m", "tests.include.store.lease_worker"]
        + [json.dumps(dataclasses.asdict(settings)), "run1"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "LEASE_WORKER_DIE": "0"},
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -9
    # What the code before leases left after kills: staging folders with no record.
    old_copy = Path(settings.serving_root) / "taxi" / ".3.staging-0a1b2c3d"
    old_stage = (
        Path(settings.artifact_root) / "taxi" / "r" / "train" / "99" / ".model.staging-9f8e7d6c"
    )
    for folder in (old_copy, old_stage):
        (folder / "variables").mkdir(parents=True)
    env = Env.open(settings)
    (dead,) = env.metadata.executions(state="running")

    listed = _mlrail(settings, "gc")
    assert f"execution {dead.id} (statistics)" in listed and "has exited" in listed
    assert str(old_copy) in listed and str(old_stage) in listed
    assert "dry run" in listed
    assert old_copy.exists() and env.metadata.get_execution(dead.id).state == "running"

    applied = _mlrail(settings, "gc", "--apply")
    assert "cleaned" in applied
    assert not old_copy.exists() and not old_stage.exists()
    assert env.metadata.get_execution(dead.id).state == "interrupted"
    assert not any(Path(settings.artifact_root).glob("**/.*.staging-*"))
    assert "nothing to clean" in _mlrail(settings, "gc")
    env.metadata.close()
