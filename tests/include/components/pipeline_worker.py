"""The training chain in a process of its own, to be killed (SIGKILL) at a chosen point.

``python -m tests.include.components.pipeline_worker <settings json>`` starts a zygote
(``zygote``): for each trial, a JSON line {"data": path, "run_id": ..., "seed": n,
"kill_at_copy": bool, "log": path} on its stdin, it forks a process that runs the chain.
With ``kill_at_copy`` that process kills itself when the push copies ``saved_model.pb``
(the last file of a copy), injected by replacing ``shutil.copy2`` in that process only.
The other kill points (training, export) are chosen by the test, which watches the stores.

The sweep kills training, export and the push copy, never the sandbox: its stage here is
``UNMEASURED_SANDBOX``, an InfraBlessing recorded through the same runner that says it
measured nothing, instead of two model servers started (about 7 s each) and measured for
every trial. The sandbox's own kills are tested in tests/include/serving/test_sandbox.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import traceback
from pathlib import Path

from mlrail.components import pipeline as stages
from mlrail.store.runner import Component, Env, ExecutorOutput, RunInfo, run_component
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


def _unmeasured_infra_blessing(ctx) -> ExecutorOutput:
    model = ctx.inputs["model"]
    verdict = {
        "blessed": True,
        "sentence": "Infra-blessed without measuring: the kill sweep tests training and push",
        "model_artifact_id": model.id,
    }
    (ctx.outputs["infra_blessing"] / "blessing.json").write_text(json.dumps(verdict))
    return ExecutorOutput(properties={"infra_blessing": verdict}, result=verdict)


UNMEASURED_SANDBOX = Component(
    name="sandbox",
    executor=_unmeasured_infra_blessing,
    outputs={"infra_blessing": "InfraBlessing"},
    cacheable=False,
)


def run(settings: Settings, data: str, run_id: str, seed: int, try_number: int = 1):
    """The chain of ``run_training_pipeline`` (no tuning) with the unmeasured sandbox."""
    env = Env.open(settings)
    try:
        spec = sweep_spec(data, seed)
        info = RunInfo(spec.pipeline, spec.digest, run_id=run_id, try_number=try_number)
        results = {"ingest": stages.ingest_examples(env, spec, info)}
        examples = results["ingest"].outputs["examples"].id
        results["statistics"] = stages.compute_statistics(env, spec, info, examples)
        statistics = results["statistics"].outputs["statistics"].id
        results["schema"] = stages.infer_schema(env, spec, info, statistics)
        schema = results["schema"].outputs["schema"].id
        results["validate"] = stages.validate_data(env, spec, info, examples, statistics, schema)
        results["train"] = stages.train_model(env, spec, info, examples, statistics, schema)
        model = results["train"].outputs["model"].id
        results["evaluate"] = stages.evaluate_model(env, spec, info, model, examples, schema)
        candidate = {"model": env.metadata.get_artifact(model)}
        results["sandbox"] = run_component(env, UNMEASURED_SANDBOX, candidate, {}, info)
        results["push"] = stages.push_model(
            env,
            spec,
            info,
            model,
            results["evaluate"].outputs["blessing"].id,
            results["sandbox"].outputs["infra_blessing"].id,
        )
        return results
    finally:
        env.metadata.close()


def _trial(settings: Settings, args: dict) -> None:
    """One trial in this (forked) process, its output into the trial's log."""
    with open(args["log"], "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    if args.get("kill_at_copy"):
        die_when_copying_saved_model()
    run(settings, args["data"], args["run_id"], args["seed"])


def zygote(settings: Settings) -> None:
    """Fork a child per trial, each starting with TensorFlow already imported.

    Reads a trial's arguments as one JSON line on stdin; answers ``started <pid>`` and,
    once the child is gone, ``exited <pid> <code>`` (negative: the signal). Importing
    TensorFlow takes about 12 s of CPU: once here instead of once per trial. This process
    runs no TensorFlow op before a fork (only imports), so each child starts clean."""
    import keras  # noqa: F401
    import tensorflow  # noqa: F401

    for line in sys.stdin:
        args = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _trial(settings, args)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        print(f"started {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exited {pid} {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    zygote(Settings(**json.loads(sys.argv[1])))
