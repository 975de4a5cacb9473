"""The on-call person clears any one task of a run, after it succeeded or failed, and it
runs again as the next try: artifacts, registry and aliases end exactly as before."""

from __future__ import annotations

import dataclasses

import pytest

from mlrail.components import pipeline as stages
from mlrail.components.sandbox import sandbox_running
from mlrail.data.datagen import write_dataset
from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import RunInfo
from tests.conftest import spec_for
from tests.store_snapshot import sandbox_processes, snapshot

pytestmark = pytest.mark.slow


def _ids(results: dict, stage: str, slot: str) -> int:
    return results[stage].outputs[slot].id


# Each task of the training DAG, as its operator calls it, with the run's earlier outputs.
TASKS = {
    "ingest": lambda env, spec, run, r: stages.ingest_examples(env, spec, run),
    "statistics": lambda env, spec, run, r: stages.compute_statistics(
        env, spec, run, _ids(r, "ingest", "examples")
    ),
    "schema": lambda env, spec, run, r: stages.infer_schema(
        env, spec, run, _ids(r, "statistics", "statistics")
    ),
    "validate": lambda env, spec, run, r: stages.validate_data(
        env, spec, run, *(_ids(r, s, o) for s, o in _DATA)
    ),
    "train": lambda env, spec, run, r: stages.train_model(
        env, spec, run, *(_ids(r, s, o) for s, o in _DATA)
    ),
    "evaluate": lambda env, spec, run, r: stages.evaluate_model(
        env, spec, run, _ids(r, "train", "model"), _ids(r, "ingest", "examples"),
        _ids(r, "schema", "schema"),
    ),
    "sandbox": lambda env, spec, run, r: _sandbox(env, spec, run, r),
    "push": lambda env, spec, run, r: stages.push_model(
        env, spec, run, _ids(r, "train", "model"), _ids(r, "evaluate", "blessing"),
        _ids(r, "sandbox", "infra_blessing"),
    ),
}  # fmt: skip
_DATA = (("ingest", "examples"), ("statistics", "statistics"), ("schema", "schema"))


def _sandbox(env, spec, run, r):
    """The setup, validation and teardown tasks, as the DAG runs them."""
    model = _ids(r, "train", "model")
    with sandbox_running(env, spec, run, model) as servers:
        return stages.validate_sandbox(
            env,
            spec,
            run,
            model,
            _ids(r, "ingest", "examples"),
            _ids(r, "schema", "schema"),
            servers,
        )


def _run_all(env, spec, run) -> dict:
    results = {}
    for name, task in TASKS.items():
        results[name] = task(env, spec, run, results)
    return results


def _clear_each(env, spec, run, results, failing: str | None = None):
    before = snapshot(env, spec.model_name)
    for number, name in enumerate(TASKS, start=2):
        if name not in results and name != failing:
            continue  # upstream of it failed: it never ran
        cleared = dataclasses.replace(run, try_number=number)
        if name == failing:
            with pytest.raises(stages.BlockingAnomaliesError):
                TASKS[name](env, spec, cleared, results)
        else:
            again = TASKS[name](env, spec, cleared, results)
            if name == "push":  # runs again, finds its version in place and blessed
                assert again.result["version"] == results[name].result["version"]
                assert not (again.result["copied"] or again.result["alias_moved"])
            elif name == "sandbox":  # measured again, by new servers, to the same verdict
                verdicts = (again.result["verdict"], results[name].result["verdict"])
                assert verdicts[0]["lets_through"] == verdicts[1]["lets_through"]
                assert not sandbox_processes(run.dag_id, run.run_id, env.settings.metadata_url)
            else:
                assert again.outputs == results[name].outputs, name
        assert snapshot(env, spec.model_name) == before, f"clearing {name} changed the stores"


def test_clearing_any_task_after_success_or_failure_changes_nothing(env, taxi_file, taxi_frame):
    spec = spec_for(taxi_file)
    run = RunInfo(spec.pipeline, run_id="monday", dag_id="taxi_tips_training", try_number=1)
    monday = _run_all(env, spec, run)
    assert monday["push"].result["pushed"]
    _clear_each(env, spec, run, monday)

    # Tuesday's export writes fares as text: validate blocks it before training.
    write_dataset(taxi_frame.assign(fare=taxi_frame.fare.map(lambda f: f"${f:.2f}")), taxi_file)
    run = dataclasses.replace(run, run_id="tuesday")
    tuesday = {}
    for name in ("ingest", "statistics", "schema"):
        tuesday[name] = TASKS[name](env, spec, run, tuesday)
    with pytest.raises(stages.BlockingAnomaliesError, match="column 'fare' is string"):
        TASKS["validate"](env, spec, run, tuesday)
    _clear_each(env, spec, run, tuesday, failing="validate")
    assert ModelRegistry(env.metadata).resolve(spec.model_name, "blessed").version == 1
