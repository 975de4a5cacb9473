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
    TrainModelOperator,
    ValidateDataOperator,
)

DEFAULT_ARGS = {"retries": 1, "retry_delay": timedelta(minutes=1), "owner": "mlrail"}


def training_dag(spec_path: str | Path) -> DAG:
    """``<pipeline>_training``: ingest -> statistics -> schema -> validate -> train ->
    evaluate -> push, with a trigger form (``force``, ``data_source``)."""
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
        params={
            "force": Param(
                False,
                type="boolean",
                description="Recompute every stage instead of reusing cached results",
            ),
            "data_source": Param(
                "",
                type="string",
                description="Override data.source for this run (path or URL); "
                f"empty uses {spec.data.source}",
            ),
        },
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
        train = TrainModelOperator(
            task_id="train",
            examples=ingest.output,
            statistics=statistics.output,
            schema=schema.output,
            pool=spec.train.pool,
            **common,
        )
        validate >> train
        evaluate = EvaluateModelOperator(
            task_id="evaluate",
            model=train.output,
            examples=ingest.output,
            schema=schema.output,
            **common,
        )
        PushModelOperator(task_id="push", model=train.output, evaluation=evaluate.output, **common)
    return dag
