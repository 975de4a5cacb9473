"""The neutral pipeline model: a DAG kind is a graph of stages, declared once.

parse -> model -> render (astronomer-cosmos's shape): a spec is parsed (mlrail.spec), each
DAG kind it declares becomes a :class:`Graph` of :class:`Stage` s here, and the graph is
rendered to Airflow operators by one loop (mlrail_airflow.dag_factory), walked in-process
by one loop (mlrail.pipeline.runner), and read by the pages and summaries for the order of
stages. A stage or a whole DAG kind is a declaration in one place: its :class:`Kind`.

Nothing here imports Airflow or a heavy library: DAG files build graphs at parse time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

TASK, SETUP, TEARDOWN, SENSOR = "task", "setup", "teardown", "sensor"


@dataclass(frozen=True)
class Step:
    """What a stage runs: one core function, the same in an Airflow task and in-process.

    ``run(env, spec, run_info, inputs, force, conf)`` gets, per argument, the artifact id
    read from the upstream stage's output slot named in ``artifacts`` (None when an
    ``optional`` one is absent), or the upstream result itself for ``values``; ``conf`` is
    the run's params (the trigger form). ``components`` names the Components whose
    executions it records, in order (pages order a run's stages by them)."""

    name: str
    run: Callable[..., Any]
    artifacts: dict[str, str] = field(default_factory=dict)  # argument -> upstream slot
    values: tuple[str, ...] = ()  # arguments that take the upstream result as it is
    optional: frozenset[str] = frozenset()
    components: tuple[str, ...] = ()

    @property
    def arguments(self) -> tuple[str, ...]:
        return (*self.artifacts, *self.values)


@dataclass(frozen=True)
class Knobs:
    """How Airflow schedules a stage's task (None: the DAG's default)."""

    pool: str | None = None
    priority_weight: int | None = None
    retries: int | None = None
    retry_exponential_backoff: bool | None = None
    max_retry_delay_minutes: int | None = None
    execution_timeout_minutes: int | None = None

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Stage:
    """One node of a graph: its name (the task id), its step, where each argument comes
    from (argument -> upstream stage), what it waits for beyond its inputs (``after``), its
    role (a task, a setup or teardown around other stages, a sensor that only waits), and
    its knobs and fixed ``arguments`` (a sensor's window)."""

    name: str
    step: Step
    inputs: dict[str, str] = field(default_factory=dict)
    after: tuple[str, ...] = ()
    role: str = TASK
    setup: str | None = None  # a teardown's setup stage
    knobs: Knobs = Knobs()
    arguments: dict[str, Any] = field(default_factory=dict)

    def upstream(self) -> tuple[str, ...]:
        """Every stage this one waits for, inputs first."""
        return tuple(dict.fromkeys((*self.inputs.values(), *self.after)))


@dataclass(frozen=True)
class Param:
    """A field of the DAG's trigger form (an Airflow Param)."""

    name: str
    default: Any
    type: str | list[str]
    description: str


@dataclass(frozen=True)
class Graph:
    """One DAG of a pipeline: its id, its schedule and trigger form, and its stages in the
    order they run."""

    kind: str
    dag_id: str
    stages: tuple[Stage, ...]
    schedule: str | None = None
    params: tuple[Param, ...] = ()
    tags: tuple[str, ...] = ()
    doc: str = ""
    max_active_runs: int = 1

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        seen: set[str] = set()
        for stage in self.stages:
            missing = [u for u in stage.upstream() if u not in seen]
            if missing:
                raise ValueError(
                    f"{self.dag_id}: stage {stage.name} waits for {missing}, which are not "
                    f"declared before it (stages: {names})"
                )
            if stage.setup is not None and stage.setup not in seen:
                raise ValueError(f"{self.dag_id}: teardown {stage.name}'s setup is undeclared")
            seen.add(stage.name)
        if len(seen) != len(names):
            raise ValueError(f"{self.dag_id}: stage names repeat: {names}")

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


def _always(spec: Any) -> bool:
    return True


@dataclass(frozen=True)
class Declared:
    """A stage as a kind declares it: the stage, when a spec has it, and its knobs and
    arguments when they come from the spec."""

    stage: Stage
    when: Callable[[Any], bool] = _always
    knobs: Callable[[Any], Knobs] | None = None
    arguments: Callable[[Any], dict[str, Any]] | None = None

    def for_spec(self, spec: Any) -> Stage:
        changes: dict[str, Any] = {}
        if self.knobs is not None:
            changes["knobs"] = self.knobs(spec)
        if self.arguments is not None:
            changes["arguments"] = self.arguments(spec)
        return replace(self.stage, **changes)


@dataclass(frozen=True)
class Kind:
    """A DAG kind: the stages it may have, in order, and how a spec makes it a graph.

    ``applies(spec)``: whether the spec declares this DAG (the training DAG always; drift
    checks when the spec has ``monitoring:``). Inputs and ``after`` naming a stage the spec
    leaves out are dropped (an input only if its step says it is optional), so an optional
    stage (tuning, the window sensor) is declared once, with the stages that use it."""

    name: str
    declared: tuple[Declared, ...]
    dag: Callable[[Any], dict[str, Any]]  # spec -> the Graph's dag_id, schedule, params, ...
    applies: Callable[[Any], bool] = _always

    def components(self) -> tuple[str, ...]:
        """The components of every stage this kind may have, in order (no spec needed)."""
        steps = [d.stage.step for d in self.declared]
        return tuple(dict.fromkeys(c for step in steps for c in step.components))

    def graph(self, spec: Any) -> Graph:
        stages = [d.for_spec(spec) for d in self.declared if d.when(spec)]
        present = {s.name for s in stages}
        kept = []
        for stage in stages:
            optional = stage.step.optional
            inputs = {a: u for a, u in stage.inputs.items() if u in present or a not in optional}
            after = tuple(u for u in stage.after if u in present)
            kept.append(replace(stage, inputs=inputs, after=after))
        return Graph(kind=self.name, stages=tuple(kept), **self.dag(spec))
