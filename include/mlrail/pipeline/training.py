"""The training DAG, ``<pipeline>_training``: ingest -> statistics -> schema -> validate ->
(tune) -> (wait for the window) -> train -> evaluate -> sandbox (setup, validation,
teardown) -> push, with a trigger form (``force``, ``data_source``)."""

from __future__ import annotations

from typing import Any

from mlrail.pipeline import steps
from mlrail.pipeline.model import SENSOR, SETUP, TEARDOWN, Declared, Kind, Knobs, Param, Stage

DATA = {"examples": "ingest", "statistics": "statistics", "schema": "schema"}


def training_knobs(spec: Any) -> Knobs:
    """The train task's scheduling from the spec: pool, priority, budget, retries."""
    return Knobs(
        pool="gpu" if spec.train.accelerator_count else spec.train.pool,
        priority_weight=spec.train.priority_weight,
        retries=spec.train.retries,
        retry_exponential_backoff=True,
        max_retry_delay_minutes=30,
        execution_timeout_minutes=spec.train.max_minutes or None,
    )


def training_params(spec: Any) -> tuple[Param, ...]:
    """The trigger form. Its defaults must submit as they are: Airflow's form requires a
    value for every param whose type does not include "null", and counts an empty text
    field as none, so a param that may be left empty is nullable."""
    return (
        Param(
            "force",
            False,
            "boolean",
            "On: recompute every stage instead of reusing cached results",
        ),
        Param(
            "data_source",
            None,
            ["null", "string"],
            "A path or URL to read this run's data from instead of data.source "
            "(inside the data roots: data_roots in the mlrail_default connection, by default "
            "the project's data folder and the folder of data.source); "
            f"empty uses {spec.data.source}",
        ),
    )


def _window(spec: Any) -> dict[str, str]:
    return {"start": spec.train.start_after, "end": spec.train.start_before}


def _dag(spec: Any) -> dict[str, Any]:
    return {
        "dag_id": f"{spec.pipeline}_training",
        "schedule": spec.schedule,
        "params": training_params(spec),
        "tags": ("mlrail", spec.pipeline, "training"),
        "doc": f"Training pipeline for **{spec.model_name}**, from `{spec.path}`.",
    }


TRAINING = Kind(
    name="training",
    dag=_dag,
    declared=(
        Declared(Stage("ingest", steps.INGEST)),
        Declared(Stage("statistics", steps.STATISTICS, {"examples": "ingest"})),
        Declared(Stage("schema", steps.SCHEMA, {"statistics": "statistics"})),
        Declared(Stage("validate", steps.VALIDATE, DATA)),
        Declared(
            Stage("tune", steps.TUNE, DATA, after=("validate",)),
            when=lambda spec: spec.tune.enabled,
            knobs=lambda spec: Knobs(pool=spec.train.pool),
        ),
        # Deferred: the wait holds no worker slot, only a trigger in the triggerer.
        Declared(
            Stage("wait_for_window", steps.WINDOW, after=("validate",), role=SENSOR),
            when=lambda spec: bool(spec.train.start_after),
            arguments=_window,
        ),
        Declared(
            Stage(
                "train",
                steps.TRAIN,
                {**DATA, "hyperparameters": "tune"},
                after=("validate", "wait_for_window"),
            ),
            knobs=training_knobs,
        ),
        Declared(
            Stage(
                "evaluate",
                steps.EVALUATE,
                {"model": "train", "examples": "ingest", "schema": "schema"},
            )
        ),
        # The sandbox's servers are a setup task and a teardown task around the validation:
        # Airflow runs the teardown whatever became of the validation, and clearing the
        # validation clears (and so restarts) both. The servers start after the
        # evaluation: measured alone, as evaluation's CPU use would skew latency.
        Declared(
            Stage(
                "sandbox_servers",
                steps.START_SANDBOX,
                {"model": "train"},
                after=("evaluate",),
                role=SETUP,
            )
        ),
        Declared(
            Stage(
                "validate_sandbox",
                steps.VALIDATE_SANDBOX,
                {
                    "model": "train",
                    "examples": "ingest",
                    "schema": "schema",
                    "servers": "sandbox_servers",
                },
            )
        ),
        Declared(
            Stage(
                "stop_sandbox_servers",
                steps.STOP_SANDBOX,
                {"servers": "sandbox_servers"},
                after=("validate_sandbox",),
                role=TEARDOWN,
                setup="sandbox_servers",
            )
        ),
        Declared(
            Stage(
                "push",
                steps.PUSH,
                {"model": "train", "evaluation": "evaluate", "infra_blessing": "validate_sandbox"},
            )
        ),
    ),
)
