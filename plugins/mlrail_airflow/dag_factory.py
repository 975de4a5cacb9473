"""DAGs rendered from a pipeline spec's graphs (mlrail.pipeline): one loop turns any graph
into operators, so a new stage or DAG kind is declared in the core only. DAG files call
``pipeline_dags``; nothing heavy is imported here."""

from __future__ import annotations

import functools
import inspect
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, BaseOperator, Param

from mlrail.pipeline import graphs
from mlrail.pipeline.model import TEARDOWN, Graph, Kind, Knobs, Stage
from mlrail.spec import load_spec

DEFAULT_ARGS = {"retries": 1, "retry_delay": timedelta(minutes=1), "owner": "mlrail"}
START_DATE = datetime(2026, 1, 1)


@functools.cache
def operators() -> dict[str, type[BaseOperator]]:
    """The operator class of every core step, found among mlrail's operators by the step
    each names (``step``); a step without one runs in RunStepOperator."""
    import mlrail_airflow.operators as package
    from mlrail_airflow.operators.window import WaitForWindowSensor

    found = [v for v in vars(package).values() if isinstance(v, type)]
    return {cls.step: cls for cls in (*found, WaitForWindowSensor) if getattr(cls, "step", "")}


def _knobs(knobs: Knobs) -> dict[str, Any]:
    given = knobs.given()
    for minutes, argument in (
        ("max_retry_delay_minutes", "max_retry_delay"),
        ("execution_timeout_minutes", "execution_timeout"),
    ):
        if minutes in given:
            given[argument] = timedelta(minutes=given.pop(minutes))
    return given


def _task(stage: Stage, tasks: dict[str, BaseOperator], spec_path: str) -> BaseOperator:
    from mlrail_airflow.operators.generic import RunStepOperator

    cls = operators().get(stage.step.name, RunStepOperator)
    arguments = {name: tasks[upstream].output for name, upstream in stage.inputs.items()}
    arguments.update(stage.arguments)
    if "spec_path" in inspect.signature(cls.__init__).parameters or cls is RunStepOperator:
        arguments["spec_path"] = spec_path
    if cls is RunStepOperator:
        arguments["step"] = stage.step
    return cls(task_id=stage.name, **_knobs(stage.knobs), **arguments)


def render(graph: Graph, spec_path: str) -> DAG:
    """The graph as an Airflow DAG: a task per stage, an edge per input and ``after``, and
    each teardown around its setup."""
    params = {
        p.name: Param(p.default, type=p.type, description=p.description) for p in graph.params
    }
    with DAG(
        dag_id=graph.dag_id,
        schedule=graph.schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=graph.max_active_runs,
        default_args=DEFAULT_ARGS,
        tags=list(graph.tags),
        doc_md=graph.doc,
        params=params,
    ) as dag:
        tasks: dict[str, BaseOperator] = {}
        for stage in graph.stages:
            task = tasks[stage.name] = _task(stage, tasks, spec_path)
            if stage.role == TEARDOWN:
                task.as_teardown(setups=tasks[stage.setup])
            for upstream in stage.after:
                tasks[upstream] >> task
    return dag


def pipeline_dags(spec_path: str | Path, kinds: tuple[Kind, ...] | None = None) -> dict[str, DAG]:
    """Every DAG the spec at ``spec_path`` declares, by dag_id (the training DAG always;
    more as the spec's sections declare them). ``kinds``: only these DAG kinds.

    The spec is loaded (and checked: module, schema file, schedule) here, at parse time,
    so a broken spec is an import error of the DAG file that names the file and field. A
    pipeline's DAG file is ``globals().update(pipeline_dags(SPEC))``."""
    spec = load_spec(spec_path)
    path = str(Path(spec_path).resolve())
    return {graph.dag_id: render(graph, path) for graph in graphs(spec, kinds)}


def training_dag(spec_path: str | Path) -> DAG:
    """``<pipeline>_training`` of the spec at ``spec_path`` (see pipeline_dags)."""
    from mlrail.pipeline.training import TRAINING

    (dag,) = pipeline_dags(spec_path, (TRAINING,)).values()
    return dag
