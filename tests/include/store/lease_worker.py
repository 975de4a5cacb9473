"""One run of a slow component in its own process, for the lease tests.

``python -m tests.include.store.lease_worker <settings json> <run id> [force]`` computes
for a few seconds; with ``LEASE_WORKER_DIE=<s>`` in its environment the process kills
itself with SIGKILL after ``s`` seconds, halfway through writing its output (set in the
environment, not as a parameter, so the cache key is the same as a healthy run's). Each
computation appends a line to ``computed.log`` beside the artifact root, so a test can
count them. The last stdout line is the result as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from mlrail.store.runner import Component, Env, ExecutorOutput, RunInfo, run_component
from mlrail.store.settings import Settings


def computations(settings: Settings) -> Path:
    return Path(settings.artifact_root).parent / "computed.log"


def _compute(ctx):
    with computations(ctx.env.settings).open("a") as log:
        log.write(f"{ctx.run.run_id} {os.getpid()}\n")
    (ctx.outputs["statistics"] / "part.txt").write_text("half")
    if "LEASE_WORKER_DIE" in os.environ:
        time.sleep(float(os.environ["LEASE_WORKER_DIE"]))
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(ctx.params["seconds"])
    (ctx.outputs["statistics"] / "stats.json").write_text('{"mean": 1.5}')
    return ExecutorOutput(result={"mean": 1.5})


SLOW = Component("statistics", _compute, {"statistics": "DatasetStatistics"})


def run(settings: Settings, run_id: str, seconds: float = 3.0, force: bool = False):
    env = Env.open(settings)
    try:
        dataset = env.metadata.put_artifact("Dataset", "/data/trips.csv", "fp-1", external=True)
        run = RunInfo("lease_demo", run_id=run_id, dag_id="lease_demo_training", task_id="stats")
        params = {"seconds": seconds}
        return run_component(env, SLOW, {"dataset": dataset}, params, run, force=force)
    finally:
        env.metadata.close()


if __name__ == "__main__":
    settings = Settings(**json.loads(sys.argv[1]))
    result = run(settings, sys.argv[2], force=len(sys.argv) > 3)
    print(json.dumps({"execution_id": result.execution_id, "cached_from": result.cached_from}))
