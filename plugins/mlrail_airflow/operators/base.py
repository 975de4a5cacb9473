"""The base every mlrail operator shares: spec loading, run identity, result to XCom."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from mlrail_airflow.hooks.mlrail import MlrailHook
from mlrail_airflow.links import RunSummaryLink

if TYPE_CHECKING:
    from mlrail.spec import PipelineSpec
    from mlrail.store.runner import ComponentResult, Env, RunInfo, Trigger


def artifact_id(upstream: dict[str, Any] | None, slot: str, argument: str) -> int:
    """The id of output ``slot`` in an upstream operator's returned dict, given to this
    task as ``argument``."""
    try:
        return int(upstream["artifacts"][slot]["id"])
    except (TypeError, KeyError) as err:
        raise ValueError(
            f"upstream result {upstream!r} has no artifact {slot!r}; the task that gives this "
            f"task its {argument} must run first and succeed (clear it too if you cleared "
            "this task alone)"
        ) from err


def run_trigger(dag_run: Any) -> Trigger | None:
    """Who triggered the task's DAG run, from the context's ``dag_run``.

    Airflow 3 hands a task its run's type and triggering user but not ``triggered_by``
    (UI, REST API, CLI, ...), and a task may not read Airflow's database, so ``via`` stays
    unknown except for the runs of ``dag.test`` (``airflow dags test``), which Airflow
    always triggers as the user ``dag_test``."""
    from mlrail.store.runner import Trigger

    if dag_run is None:  # an operator executed outside Airflow's task runner
        return None
    user = dag_run.triggering_user_name
    via = "test" if user == "dag_test" else None
    return Trigger(user=user, run_type=dag_run.run_type.value, via=via)


@contextmanager
def final_errors() -> Iterator[None]:
    """Fail the task without retries on a deterministic failure (mlrail.errors): a bad spec
    or schema file, data of the wrong shape or type, an unreadable data file, a data source
    outside the allowed roots, blocking anomalies. A retry would fail the same way,
    and the message names the file, column or field. ValueError counts too: it is how
    Python and the libraries say an argument is wrong. Missing files and I/O errors still
    retry: the data may simply not have arrived yet."""
    from mlrail.errors import DeterministicError

    try:
        yield
    except (DeterministicError, ValueError) as err:
        raise AirflowFailException(f"{type(err).__name__}: {err}") from err


def step_named(name: str):
    """The core step (mlrail.pipeline.steps) an operator runs."""
    from mlrail.pipeline.steps import STEPS

    return STEPS[name]


class MlrailBaseOperator(BaseOperator):
    """Runs one stage of the spec at ``spec_path``: the core step named by ``step``
    (mlrail.pipeline.steps), the same one the in-process runner runs.

    The step says which upstream results it takes: an artifact from an output slot
    (``inputs``: argument -> slot, e.g. ``{"examples": "examples"}``) or a whole upstream
    result (``values``). Each such argument takes the upstream operator's ``.output`` (an
    XComArg, resolved at run time) and ``self.input_id(name)`` gives the artifact id. The
    task's identity (dag, run, task, try) is recorded with every execution, and the DAG
    param ``force`` bypasses the cache.
    """

    step = ""  # the name of the core step this operator runs
    inputs: dict[str, str] = {}
    optional_inputs: frozenset[str] = frozenset()  # inputs that may be absent (None)
    values: tuple[str, ...] = ()  # upstream results passed as they are (not artifacts)
    template_fields: Sequence[str] = ()
    ui_color = "#e8f1fb"
    operator_extra_links = (RunSummaryLink(),)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.step:
            step = step_named(cls.step)
            cls.inputs, cls.values = dict(step.artifacts), step.values
            cls.optional_inputs = step.optional
        cls.template_fields = (*cls.inputs, *cls.values)

    def __init__(self, *, spec_path: str, mlrail_conn_id: str = "mlrail_default", **kwargs):
        missing = [
            name for name in self.inputs if name not in kwargs and name not in self.optional_inputs
        ]
        missing += [name for name in self.values if name not in kwargs]
        if missing:
            raise TypeError(f"{type(self).__name__} needs the upstream result(s) {missing}")
        upstream = {name: kwargs.pop(name, None) for name in (*self.inputs, *self.values)}
        super().__init__(**kwargs)
        self.spec_path = str(spec_path)
        self.mlrail_conn_id = mlrail_conn_id
        for name, value in upstream.items():
            setattr(self, name, value)

    def input_id(self, name: str) -> int | None:
        if name in self.optional_inputs and getattr(self, name) is None:
            return None
        return artifact_id(getattr(self, name), self.inputs[name], name)

    def step_inputs(self) -> dict[str, Any]:
        """What the step takes: each artifact's id, and the values as they are."""
        given = {name: self.input_id(name) for name in self.inputs}
        return {**given, **{name: getattr(self, name) for name in self.values}}

    def run_stage(
        self, env: Env, spec: PipelineSpec, run: RunInfo, force: bool, context: Any
    ) -> ComponentResult:
        conf = dict(context["params"])
        return step_named(self.step).run(env, spec, run, self.step_inputs(), force, conf)

    def stage_context(self, context: Any) -> tuple[PipelineSpec, RunInfo, bool]:
        """The spec, this task's identity (recorded with every execution) and ``force``."""
        from mlrail.spec import load_spec
        from mlrail.store.runner import RunInfo

        with final_errors():  # the spec may have been edited since the DAG was parsed
            spec = load_spec(self.spec_path)
        ti = context["ti"]
        run = RunInfo(
            pipeline=spec.pipeline,
            pipeline_version=spec.digest,
            run_id=context["run_id"],
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            try_number=ti.try_number,
            actor=f"airflow:{ti.dag_id}",
            trigger=run_trigger(context.get("dag_run")),
        )
        return spec, run, bool(context["params"].get("force", False))

    @contextmanager
    def mlrail_env(self) -> Iterator[Env]:
        """The stores, closed afterwards; deterministic failures inside fail the task at
        once (``final_errors``), and so does a malformed connection extra."""
        from mlrail.store.runner import Env

        with final_errors():
            settings = MlrailHook(self.mlrail_conn_id).get_settings()
        env = Env.open(settings)
        try:
            with final_errors():
                yield env
        finally:
            env.metadata.close()

    def report(self, result: ComponentResult) -> dict[str, Any]:
        """Log what happened and return the small XCom dict."""
        self.log.info(
            "%s: %s execution %s -> %s",
            self.task_id,
            f"cache hit (reused {result.cached_from})" if result.cached else "ran",
            result.execution_id,
            {slot: a.uri for slot, a in result.outputs.items()},
        )
        return result.to_xcom()

    def execute(self, context: Any) -> dict[str, Any]:
        return self.execute_stage(*self.stage_context(context), context)

    def execute_stage(
        self, spec: PipelineSpec, run: RunInfo, force: bool, context: Any
    ) -> dict[str, Any]:
        """Run the stage in this process and return its XCom dict."""
        with self.mlrail_env() as env:
            return self.report(self.run_stage(env, spec, run, force, context))
