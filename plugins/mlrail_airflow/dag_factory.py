"""DAGs built from a pipeline spec. DAG files call these; nothing heavy is imported here."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, Param

from mlrail.spec import load_spec
from mlrail_airflow.operators import (
    ComputeStatisticsOperator,
    EvaluateModelOperator,
    InferSchemaOperator,
    IngestExamplesOperator,
    PushModelOperator,
    StartSandboxOperator,
    StopSandboxOperator,
    TrainModelOperator,
    TuneHyperparametersOperator,
    ValidateDataOperator,
    ValidateSandboxOperator,
)
from mlrail_airflow.operators.window import WaitForWindowSensor

DEFAULT_ARGS = {"retries": 1, "retry_delay": timedelta(minutes=1), "owner": "mlrail"}


def training_knobs(spec) -> dict:
    """The train task's scheduling from the spec: pool, priority, budget, retries."""
    knobs = {
        "pool": "gpu" if spec.train.accelerator_count else spec.train.pool,
        "priority_weight": spec.train.priority_weight,
        "retries": spec.train.retries,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    }
    if spec.train.max_minutes:
        knobs["execution_timeout"] = timedelta(minutes=spec.train.max_minutes)
    return knobs


def training_params(spec) -> dict[str, Param]:
    """The training DAG's trigger form. Its defaults must submit as they are: Airflow's
    form requires a value for every param whose type does not include "null", and counts
    an empty text field as none, so a param that may be left empty is nullable."""
    return {
        "force": Param(
            False,
            type="boolean",
            description="On: recompute every stage instead of reusing cached results",
        ),
        "data_source": Param(
            None,
            type=["null", "string"],
            description="A path or URL to read this run's data from instead of data.source "
            "(inside the data roots: data_roots in the mlrail_default connection, by default "
            "the project's data folder and the folder of data.source); "
            f"empty uses {spec.data.source}",
        ),
    }


def training_dag(spec_path: str | Path) -> DAG:
    """``<pipeline>_training``: ingest -> statistics -> schema -> validate -> train ->
    evaluate -> sandbox (setup, validation, teardown) -> push, with a trigger form
    (``force``, ``data_source``).

    The spec is loaded (and checked: module, schema file, schedule) here, at parse time,
    so a broken spec is an import error of the DAG file that names the file and field."""
    spec = load_spec(spec_path)
    path = str(Path(spec_path).resolve())
    with DAG(
        dag_id=f"{spec.pipeline}_training",
        schedule=spec.schedule,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["mlrail", spec.pipeline, "training"],
        doc_md=f"Training pipeline for **{spec.model_name}**, from `{path}`.",
        params=training_params(spec),
    ) as dag:
        common = {"spec_path": path}
        ingest = IngestExamplesOperator(task_id="ingest", **common)
        statistics = ComputeStatisticsOperator(
            task_id="statistics", examples=ingest.output, **common
        )
        schema = InferSchemaOperator(task_id="schema", statistics=statistics.output, **common)
        validate = ValidateDataOperator(
            task_id="validate",
            examples=ingest.output,
            statistics=statistics.output,
            schema=schema.output,
            **common,
        )
        data = {"examples": ingest.output, "statistics": statistics.output, "schema": schema.output}
        tuned = {}
        if spec.tune.enabled:
            tune = TuneHyperparametersOperator(
                task_id="tune", pool=spec.train.pool, **data, **common
            )
            validate >> tune
            tuned = {"hyperparameters": tune.output}
        train = TrainModelOperator(
            **training_knobs(spec), task_id="train", **data, **tuned, **common
        )
        validate >> train
        if spec.train.start_after:
            # Deferred: the wait holds no worker slot, only a trigger in the triggerer.
            window = WaitForWindowSensor(
                task_id="wait_for_window", start=spec.train.start_after, end=spec.train.start_before
            )
            validate >> window >> train
        evaluate = EvaluateModelOperator(
            task_id="evaluate",
            model=train.output,
            examples=ingest.output,
            schema=schema.output,
            **common,
        )
        # The sandbox's servers are a setup task and a teardown task around the validation:
        # Airflow runs the teardown whatever became of the validation, and clearing the
        # validation clears (and so restarts) both.
        servers = StartSandboxOperator(task_id="sandbox_servers", model=train.output, **common)
        evaluate >> servers  # measured alone: evaluation's CPU use would skew latency
        sandbox = ValidateSandboxOperator(
            task_id="validate_sandbox",
            model=train.output,
            examples=ingest.output,
            schema=schema.output,
            servers=servers.output,
            **common,
        )
        stop = StopSandboxOperator(task_id="stop_sandbox_servers", servers=servers.output)
        sandbox >> stop.as_teardown(setups=servers)
        PushModelOperator(
            task_id="push",
            model=train.output,
            evaluation=evaluate.output,
            infra_blessing=sandbox.output,
            **common,
        )
    return dag
