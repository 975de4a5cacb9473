"""The training chain in a process of its own, to be killed (SIGKILL) at a chosen point.

``python -m tests.include.components.pipeline_worker <settings json> <spec json>`` with
``<spec json>`` = {"data": path, "run_id": ..., "seed": n, "kill_at_copy": bool}. With
``kill_at_copy`` the process kills itself when the push copies ``saved_model.pb`` (the
last file of a copy), injected by replacing ``shutil.copy2`` in this process only. The
other kill points (training, export) are chosen by the test, which watches the stores.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from mlrail.components.pipeline import run_training_pipeline
from mlrail.store.runner import Env, RunInfo
from mlrail.store.settings import Settings
from tests.conftest import spec_for
from tests.include.components.faults import die_when_copying_saved_model


def sweep_spec(data: str, seed: int):
    """Small training whose every model is blessed, so each trial pushes a new version."""
    spec = spec_for(Path(data))
    evaluation = dataclasses.replace(
        spec.evaluation, thresholds={}, baseline_tolerance={"auc": 1.0}
    )
    train = dataclasses.replace(spec.train, seed=seed)
    return dataclasses.replace(spec, train=train, evaluation=evaluation)


def run(settings: Settings, data: str, run_id: str, seed: int, try_number: int = 1):
    env = Env.open(settings)
    try:
        spec = sweep_spec(data, seed)
        info = RunInfo(spec.pipeline, spec.digest, run_id=run_id, try_number=try_number)
        return run_training_pipeline(env, spec, info)
    finally:
        env.metadata.close()


if __name__ == "__main__":
    settings = Settings(**json.loads(sys.argv[1]))
    args = json.loads(sys.argv[2])
    if args.get("kill_at_copy"):
        die_when_copying_saved_model()
    run(settings, args["data"], args["run_id"], args["seed"])
