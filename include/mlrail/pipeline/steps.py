"""The steps of the training pipeline: each stage's one core call, with one signature, so
the Airflow operator and the in-process runner run exactly the same thing.

    run(env, spec, run_info, inputs, force, conf)

``inputs``: per argument, the upstream artifact's id (or, for ``values``, the upstream
result itself); ``conf``: the run's params. Imports happen inside each function: DAG files
import this module when they are parsed.
"""

from __future__ import annotations

from typing import Any

from mlrail.pipeline.model import Step

DATA = {"examples": "examples", "statistics": "statistics", "schema": "schema"}


def _ingest(env, spec, run, inputs, force, conf):
    from mlrail.components.pipeline import ingest_examples

    return ingest_examples(env, spec, run, force, source=conf.get("data_source") or None)


def _statistics(env, spec, run, inputs, force, conf):
    from mlrail.components.pipeline import compute_statistics

    return compute_statistics(env, spec, run, inputs["examples"], force)


def _schema(env, spec, run, inputs, force, conf):
    from mlrail.components.pipeline import infer_schema

    return infer_schema(env, spec, run, inputs["statistics"], force)


def _data(inputs: dict[str, Any]) -> list[int]:
    return [inputs[name] for name in DATA]


def _validate(env, spec, run, inputs, force, conf):
    from mlrail.components.pipeline import validate_data

    return validate_data(env, spec, run, *_data(inputs), force)


def _tune(env, spec, run, inputs, force, conf):
    from mlrail.components.pipeline import tune_hyperparameters

    return tune_hyperparameters(env, spec, run, *_data(inputs), force)


def _train(env, spec, run, inputs, force, conf):
    from mlrail.components.pipeline import train_model

    return train_model(
        env, spec, run, *_data(inputs), force, hyperparameters_id=inputs.get("hyperparameters")
    )


def _evaluate(env, spec, run, inputs, force, conf):
    from mlrail.components.pipeline import evaluate_model

    return evaluate_model(
        env, spec, run, inputs["model"], inputs["examples"], inputs["schema"], force
    )


def _start_sandbox(env, spec, run, inputs, force, conf):
    from mlrail.components.sandbox import start_sandbox

    # In Airflow the setup task returns before the validation starts: it hands the
    # servers off; in-process the runner holds them until the teardown.
    return start_sandbox(env, spec, run, inputs["model"], hand_off=conf.get("hand_off", True))


def _validate_sandbox(env, spec, run, inputs, force, conf):
    from mlrail.components.pipeline import validate_sandbox

    ids = (inputs["model"], inputs["examples"], inputs["schema"])
    return validate_sandbox(env, spec, run, *ids, inputs["servers"])


def _stop_sandbox(env, spec, run, inputs, force, conf):
    from mlrail.components.sandbox import stop_sandbox

    record = inputs["servers"] if isinstance(inputs["servers"], dict) else None
    # Which store's run: another project on this worker may have the same run ids.
    dag_id = run.dag_id or run.pipeline
    return stop_sandbox(record, dag_id, run.run_id, env.settings.metadata_url)


def _window(env, spec, run, inputs, force, conf):
    """Airflow waits in a sensor for the spec's cheap hours; a run in-process has no
    scheduler to wait in and goes on at once."""
    return None


def _push(env, spec, run, inputs, force, conf):
    from mlrail.components.pipeline import push_model

    ids = (inputs["model"], inputs["evaluation"], inputs["infra_blessing"])
    return push_model(env, spec, run, *ids)


INGEST = Step("ingest", _ingest, components=("ingest",))
STATISTICS = Step("statistics", _statistics, {"examples": "examples"}, components=("statistics",))
SCHEMA = Step("schema", _schema, {"statistics": "statistics"}, components=("schema",))
VALIDATE = Step("validate", _validate, dict(DATA), components=("validate",))
TUNE = Step("tune", _tune, dict(DATA), components=("tune",))
TRAIN = Step(
    "train",
    _train,
    {**DATA, "hyperparameters": "hyperparameters"},
    optional=frozenset({"hyperparameters"}),
    components=("hyperparameters", "train"),
)
EVALUATE = Step(
    "evaluate",
    _evaluate,
    {"model": "model", "examples": "examples", "schema": "schema"},
    components=("evaluate",),
)
START_SANDBOX = Step("start_sandbox", _start_sandbox, {"model": "model"})
VALIDATE_SANDBOX = Step(
    "validate_sandbox",
    _validate_sandbox,
    {"model": "model", "examples": "examples", "schema": "schema"},
    values=("servers",),
    components=("sandbox",),
)
STOP_SANDBOX = Step("stop_sandbox", _stop_sandbox, values=("servers",))
PUSH = Step(
    "push",
    _push,
    {"model": "model", "evaluation": "blessing", "infra_blessing": "infra_blessing"},
    optional=frozenset({"infra_blessing"}),
    components=("push",),
)
WINDOW = Step("window", _window)

# Every step of this module, by name: an operator names the step it runs.
STEPS = {value.name: value for value in list(globals().values()) if isinstance(value, Step)}
