"""Train and tune as Vertex AI jobs: the two halves of an execution around a remote job.

``begin_*`` returns the cache hit, or records a ``running`` execution (inputs, parameters,
Airflow identity) and builds the request for google-cloud-aiplatform; the caller submits
it and waits (the Airflow operator defers to a trigger). ``finish_*`` turns the finished
job into artifacts with lineage: the model the job wrote in place is committed and
registered, or the best trial becomes a Hyperparameters artifact. ``abandon`` records a
job that failed, was cancelled or timed out, and removes what it left behind.

The core never talks to Google Cloud; the hook in mlrail_airflow does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrail.cloud.vertex import (
    VertexTarget,
    custom_job_request,
    fuse_path,
    tuning_job_request,
    tuning_outcome,
)
from mlrail.components import train as train_component
from mlrail.components import tune as tune_component
from mlrail.components.pipeline import train_inputs, tune_inputs
from mlrail.spec import PipelineSpec
from mlrail.store.files import HYPERPARAMETERS, SCHEMA, STATISTICS, split_uri
from mlrail.store.runner import (
    ComponentResult,
    Env,
    PendingExecution,
    RunInfo,
    fail_external,
    finish_external,
    run_component,
    start_external,
)
from mlrail.training.tuning import TuningState


@dataclass(frozen=True)
class RemoteJob:
    """A recorded execution and the request that runs it."""

    pending: PendingExecution
    request: Any  # google.cloud.aiplatform_v1 Create...Request
    kind: str  # "custom_job" | "hyperparameter_tuning_job"


def job_lease_seconds(spec: PipelineSpec) -> float:
    """How long a submitted job holds its cache key: its own timeout and half an hour for
    queueing, or a day when the spec sets no budget (Vertex AI's default job timeout is
    7 days, but a run still waiting after a day should not block others silently)."""
    return spec.train.max_minutes * 60 + 1800 if spec.train.max_minutes else 24 * 3600


def vertex_parameters(spec: PipelineSpec) -> dict[str, Any]:
    """Where and on what the job ran, recorded with the execution (and in its cache key:
    the same inputs trained on Vertex AI are a different execution from a local one)."""
    v, t = spec.vertex, spec.train
    return {
        "backend": "vertex",
        "vertex": {
            "image": v.image,
            "machine_type": v.machine_type,
            "ps_machine_type": v.ps_machine_type,
            "accelerator_type": t.accelerator_type,
            "accelerator_count": t.accelerator_count,
            "parameter_servers": t.parameter_servers,
            "max_minutes": t.max_minutes,
        },
    }


def _require_cloud_storage(env: Env) -> None:
    fuse_path(env.artifacts.root)  # raises with the fix when the root is not gs://


def begin_training(
    env: Env,
    spec: PipelineSpec,
    run: RunInfo,
    target: VertexTarget,
    examples_id: int,
    statistics_id: int,
    schema_id: int,
    force: bool = False,
    hyperparameters_id: int | None = None,
) -> ComponentResult | RemoteJob:
    """The cache hit, or a recorded execution and its CreateCustomJobRequest."""
    _require_cloud_storage(env)
    inputs, params = train_inputs(
        env, spec, run, examples_id, statistics_id, schema_id, hyperparameters_id, force
    )
    schema = SCHEMA.read(env.artifacts, inputs["schema"])
    train_component.check_training_data(env.artifacts, inputs["examples"], schema)
    module = params["module_path"]
    params = {**params, **vertex_parameters(spec)}
    started = start_external(
        env,
        train_component.TRAIN,
        inputs,
        params,
        run,
        force,
        code_files=(module,),
        lease_seconds=job_lease_seconds(spec),
    )
    if isinstance(started, ComponentResult):
        return started
    model_uri = started.outputs["model"]
    try:
        # The job runs the model module it was submitted with, kept with the model it made.
        source = f"{model_uri}/source/{Path(module).name}"
        env.artifacts.fs.makedirs(f"{model_uri}/source", exist_ok=True)  # a no-op on GCS
        env.artifacts.fs.pipe(source, Path(module).read_bytes())
        files = {
            "train_data": split_uri(inputs["examples"].uri, "train"),
            "eval_data": split_uri(inputs["examples"].uri, "eval"),
            "schema": SCHEMA.uri(inputs["schema"].uri),
            "statistics": STATISTICS.uri(inputs["statistics"].uri),
            "hyperparameters": HYPERPARAMETERS.uri(inputs["hyperparameters"].uri),
            "module": source,
            "model_dir": model_uri,
        }
        files = {name: fuse_path(uri) for name, uri in files.items()}
        if params["stages"]:
            files["stages"] = json.dumps(params["stages"])
        request = custom_job_request(
            spec,
            target,
            execution_id=started.execution_id,
            args=train_component.entrypoint_args(params, files),
        )
    except BaseException as err:
        abandon(env, started, err)
        raise
    return RemoteJob(started, request, "custom_job")


def finish_training(env: Env, pending: PendingExecution, job_name: str) -> ComponentResult:
    """Commit and register the model a succeeded training job wrote."""
    model_uri = pending.outputs["model"]
    try:
        record = json.loads(env.artifacts.fs.cat_file(f"{model_uri}/training.json"))
        if not env.artifacts.fs.exists(f"{model_uri}/saved_model/saved_model.pb"):
            raise RuntimeError(f"{job_name} succeeded but wrote no {model_uri}/saved_model")
        examples = _input(env, pending, "examples")
    except BaseException as err:
        abandon(env, pending, err)
        raise
    output = train_component.model_output(record, examples, vertex_job=job_name)
    return finish_external(env, train_component.TRAIN, pending, output)


def begin_tuning(
    env: Env,
    spec: PipelineSpec,
    run: RunInfo,
    target: VertexTarget,
    examples_id: int,
    statistics_id: int,
    schema_id: int,
    force: bool = False,
) -> ComponentResult | RemoteJob:
    """The cache hit, a reuse of the last search (nothing to submit), or a recorded
    execution and its CreateHyperparameterTuningJobRequest."""
    _require_cloud_storage(env)
    inputs, params = tune_inputs(env, spec, examples_id, statistics_id, schema_id, force)
    module_path = params["module_path"]
    the_plan, module = tune_component.plan(env, params, inputs)
    if the_plan.decision == "reuse":
        return run_component(
            env, tune_component.COMPONENT, inputs, params, run, force, code_files=(module_path,)
        )
    if the_plan.searcher != "space":
        raise ValueError(
            f"{module_path}: a TFX tuner_fn builds its tuner in-process and cannot run as "
            "a Vertex AI tuning job; declare hyperparameter_space(hp), or use backend: local"
        )
    params = {**params, **vertex_parameters(spec)}
    started = start_external(
        env,
        tune_component.COMPONENT,
        inputs,
        params,
        run,
        force,
        code_files=(module_path,),
        lease_seconds=job_lease_seconds(spec),
    )
    if isinstance(started, ComponentResult):
        return started
    out = started.outputs["hyperparameters"]
    try:
        space = _search_space(module, the_plan, params)
        decided = {
            "searcher": the_plan.searcher,
            "decision": the_plan.decision,
            "reason": the_plan.reason,
            "current": vars(the_plan.current),
        }
        fs = env.artifacts.fs
        fs.makedirs(f"{out}/source", exist_ok=True)  # a no-op on GCS
        fs.pipe(f"{out}/source/{Path(module_path).name}", Path(module_path).read_bytes())
        fs.pipe(f"{out}/search_space.json", json.dumps(space).encode())
        fs.pipe(f"{out}/plan.json", json.dumps(decided).encode())
        examples = inputs["examples"]
        files = {
            "train-data": split_uri(examples.uri, "train"),
            "eval-data": split_uri(examples.uri, "eval"),
            "schema": SCHEMA.uri(inputs["schema"].uri),
            "statistics": STATISTICS.uri(inputs["statistics"].uri),
            "module": f"{out}/source/{Path(module_path).name}",
            "space": f"{out}/search_space.json",
        }
        args = [part for name, uri in files.items() for part in (f"--{name}", fuse_path(uri))]
        args += [
            "--defaults",
            json.dumps(params["defaults"]),
            "--steps",
            str(tune_component.trial_steps(params, examples.properties["splits"]["train"])),
            "--objective",
            params["objective"],
            "--seed",
            str(params["seed"]),
        ]
        request = tuning_job_request(
            spec,
            target,
            execution_id=started.execution_id,
            space=space,
            args=args,
        )
    except BaseException as err:
        abandon(env, started, err)
        raise
    return RemoteJob(started, request, "hyperparameter_tuning_job")


def _search_space(module, the_plan, params: dict) -> dict:
    """The KerasTuner space Vizier searches: the module's, or narrowed around the last best."""
    import keras_tuner as kt

    from mlrail.training.tuning import narrowed

    if the_plan.decision == "narrow":
        previous = the_plan.previous
        return narrowed(previous["space"], previous["best"], params["narrow_epsilon"]).get_config()
    hp = kt.HyperParameters()
    module.hyperparameter_space(hp)
    return hp.get_config()


def finish_tuning(env: Env, pending: PendingExecution, job_json: str) -> ComponentResult:
    """The best trial of a finished tuning job as the Hyperparameters artifact."""
    from google.cloud import aiplatform_v1

    out, fs, p = pending.outputs["hyperparameters"], env.artifacts.fs, pending.parameters
    try:
        job = aiplatform_v1.HyperparameterTuningJob.from_json(job_json)
        space = json.loads(fs.cat_file(f"{out}/search_space.json"))
        decided = json.loads(fs.cat_file(f"{out}/plan.json"))
        the_plan = tune_component.TunePlan(
            searcher=decided["searcher"],
            schema={},
            current=TuningState(**decided["current"]),
            decision=decided["decision"],
            reason=decided["reason"],
            previous={},
        )
        best, trials = tuning_outcome(job, space, p["objective"])
        content, output = tune_component.tuning_output(
            p, the_plan, best, space, trials, p["parallel_trials"], vertex_job=job.name
        )
        fs.pipe(HYPERPARAMETERS.uri(out), content.encode())
    except BaseException as err:
        abandon(env, pending, err)
        raise
    return finish_external(env, tune_component.COMPONENT, pending, output)


def _input(env: Env, pending: PendingExecution, slot: str):
    return env.metadata.io_of(pending.execution_id, "input")[slot]


def abandon(env: Env, pending: PendingExecution, error: BaseException | str) -> None:
    """Record the execution as failed and remove the outputs the job left half-written."""
    fail_external(env, pending.execution_id, error, pending.outputs.values())
