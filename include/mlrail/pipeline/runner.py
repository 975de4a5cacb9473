"""Runs a graph in this process, stage by stage in the order the DAG runs them: the same
steps as the Airflow tasks, with the same inputs, so a pipeline runs without Airflow
(tests, scripts, notebooks).

A teardown runs as soon as the stages it follows are done, and whatever happened to them
(a setup's servers never outlive the run); a sensor's step does not wait (there is no
scheduler to wait in).
"""

from __future__ import annotations

from typing import Any

from mlrail.pipeline.model import TEARDOWN, Graph, Stage
from mlrail.store.runner import ComponentResult, Env, RunInfo


def _inputs(stage: Stage, results: dict[str, Any]) -> dict[str, Any]:
    """What the stage's step takes from the results so far: an artifact's id per output
    slot, the whole result per value, None for an optional input the graph left out."""
    step, given = stage.step, {}
    for argument, slot in step.artifacts.items():
        upstream = stage.inputs.get(argument)
        if upstream is None:
            given[argument] = None  # optional, left out of this graph
            continue
        given[argument] = results[upstream].outputs[slot].id
    for argument in step.values:
        given[argument] = results[stage.inputs[argument]]
    return given


def _ready_teardowns(done: set[str], pending: list[Stage]) -> list[Stage]:
    return [t for t in pending if t.setup in done and set(t.after) <= done]


def run_graph(
    env: Env,
    spec: Any,
    graph: Graph,
    run: RunInfo,
    force: bool = False,
    conf: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every stage's result by stage name; a failing stage raises, after the teardowns
    of the setups that ran."""
    conf = {**(conf or {}), "hand_off": False}  # this process holds what setups start
    results: dict[str, Any] = {}
    teardowns = [s for s in graph.stages if s.role == TEARDOWN]
    try:
        for stage in graph.stages:
            if stage.role == TEARDOWN:
                continue
            results[stage.name] = _run(env, spec, run, stage, results, force, conf)
            for teardown in _ready_teardowns(set(results), teardowns):
                teardowns.remove(teardown)
                results[teardown.name] = _run(env, spec, run, teardown, results, force, conf)
    finally:
        for teardown in teardowns:
            if teardown.setup in results:  # its setup ran: stop what it started
                _run(env, spec, run, teardown, results, force, conf)
    return results


def _run(env, spec, run, stage: Stage, results, force, conf) -> Any:
    return stage.step.run(env, spec, run, _inputs(stage, results), force, conf)


def by_component(results: dict[str, Any]) -> dict[str, ComponentResult]:
    """The results that are components' executions, by component name."""
    return {r.component: r for r in results.values() if isinstance(r, ComponentResult)}
