"""The whole training chain in-process (real TensorFlow, real stores), without Airflow."""

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from mlrail.components import sandbox
from mlrail.components.pipeline import (
    BlockingAnomaliesError,
    evaluate_model,
    ingest_examples,
    push_model,
    run_training_pipeline,
    train_inputs,
    train_model,
    validate_data,
    validate_sandbox,
)
from mlrail.components.push import StaleBlessingError
from mlrail.data.datagen import write_dataset
from mlrail.reports.summary import format_summary
from mlrail.store.lineage import format_lineage, model_lineage
from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import RunInfo
from mlrail.store.summary import run_summary
from tests.conftest import spec_for

pytestmark = pytest.mark.slow
CACHEABLE = ("ingest", "statistics", "schema", "validate", "hyperparameters", "train")


def _states(env, run_id):
    return {e.component: e.state for e in env.metadata.executions(run_id=run_id)}


def test_cleared_and_second_runs_are_served_from_cache_and_lineage_is_complete(
    env, taxi_file, taxi_frame
):
    spec = spec_for(taxi_file)
    first = run_training_pipeline(env, spec, RunInfo(spec.pipeline, spec.digest, run_id="one"))
    verdict = first["evaluate"].result["verdict"]
    assert verdict["lets_through"], verdict["sentence"]
    assert first["push"].result["pushed"] and first["push"].result["version"] == 1
    serving = first["push"].result["serving_path"]
    before = sorted(p.name for p in Path(serving).iterdir())

    # The on-call person clears every task of the same run: each runs again as try 2 and
    # writes nothing twice.
    again = RunInfo(spec.pipeline, spec.digest, run_id="one", try_number=2)
    cleared = run_training_pipeline(env, spec, again)
    for stage in ("ingest", "statistics", "schema", "validate", "train"):
        assert cleared[stage].cached and cleared[stage].outputs == first[stage].outputs
    assert cleared["push"].result["version"] == 1 and not cleared["push"].result["copied"]
    assert sorted(p.name for p in Path(serving).iterdir()) == before

    run_training_pipeline(env, spec, RunInfo(spec.pipeline, spec.digest, run_id="two"))
    states = _states(env, "two")
    assert all(states[c] == "cached" for c in CACHEABLE), states
    # The candidate is the blessed model: its first evaluation stands. Push always runs.
    assert states["evaluate"] == "cached" and states["push"] == "complete"

    registry = ModelRegistry(env.metadata)
    assert [v.version for v in registry.versions("taxi_tips")] == [1]
    assert registry.resolve("taxi_tips", "blessed").version == 1
    assert len(registry.alias_history("taxi_tips")) == 1

    report = model_lineage(env, "taxi_tips", 1)
    assert report["dataset"]["version"] == 1 and report["dataset"]["source"] == str(taxi_file)
    assert report["training_run"]["run_id"] == "one"
    assert report["hyperparameters"]["epochs"] == 2
    assert set(report["code_versions"]) >= {"ingest", "statistics", "schema", "train"}
    # Run two found v1 blessed and in place: no second PushedModel for the same push.
    assert [p["execution"]["run_id"] for p in report["pushes"]] == ["one"]
    assert "version 1" in format_lineage(report)
    # The summary says what each stage's component says of its result, verdicts included.
    said = format_summary(run_summary(env, "taxi_tips/one")).splitlines()
    for start in (
        "  dataset version 1: train ",
        "  validate: Valid",
        "  metrics (test split): auc ",
        "  evaluate: Blessed: ",
        "  sandbox: Infra-blessed",
        "  pushed: version 1 at ",
    ):
        assert sum(line.startswith(start) for line in said) == 1, (start, said)

    # A new row makes a new dataset version: everything downstream recomputes.
    more = pd.concat([taxi_frame, taxi_frame.iloc[:50].assign(trip_id=lambda f: f.trip_id + "x")])
    write_dataset(more, taxi_file)
    third = run_training_pipeline(env, spec, RunInfo(spec.pipeline, spec.digest, run_id="three"))
    assert third["ingest"].result["dataset_version"] == 2
    assert not any(third[c].cached for c in CACHEABLE if c != "hyperparameters")
    assert third["evaluate"].result["metrics"].keys() == {"candidate", "baseline"}


def test_blocking_anomalies_fail_with_every_one_listed(
    env, prepare, tmp_path, taxi_file, taxi_frame
):
    good = prepare(spec_for(taxi_file), run_id="good")
    bad = taxi_frame.drop(columns=["company"]).assign(payment_type="Bitcoin")
    bad_data = prepare(spec_for(write_dataset(bad, tmp_path / "bad" / "trips.parquet")))
    examples, statistics, _ = bad_data.ids
    with pytest.raises(BlockingAnomaliesError) as info:
        validate_data(env, bad_data.spec, bad_data.run, examples, statistics, good.schema.id)
    message = str(info.value)
    for split in ("train", "eval", "test"):
        assert f"{split}: column 'company' is missing" in message
        assert f"{split}: 100.0% of 'payment_type' values (" in message
    (validation,) = env.metadata.executions(component="validate")
    assert validation.state == "complete" and validation.result["blocking"] == 6


def test_unlabelled_rows_are_refused_with_file_and_column(env, tmp_path, taxi_frame):
    frame = taxi_frame.copy()
    frame.loc[[3, 9], "big_tipper"] = None
    path = write_dataset(frame, tmp_path / "unlabelled.csv")
    spec = spec_for(path)
    with pytest.raises(
        ValueError,
        match=r"unlabelled.csv: label column 'big_tipper' is empty "
        r"in 2 row\(s\) \(first at rows \[3, 9\]\)",
    ):
        ingest_examples(env, spec, RunInfo(spec.pipeline, run_id="r"))
    (execution,) = env.metadata.executions(component="ingest")
    assert execution.state == "failed"
    assert env.metadata.io_of(execution.id, "output") == {}


def test_staged_schedule_records_each_stage(env, prepare, taxi_file):
    from mlrail.spec import Stage

    spec = spec_for(taxi_file)
    spec = dataclasses.replace(
        spec,
        train=dataclasses.replace(
            spec.train,
            stages=[
                Stage(learning_rate=0.01, batch_size=64, epochs=1),
                Stage(learning_rate=0.001, batch_size=512, epochs=2),
            ],
        ),
    )
    data = prepare(spec, run_id="staged")
    result = train_model(env, spec, data.run, *data.ids)
    stages = result.result["stages"]
    assert [(s["stage"], s["learning_rate"], s["batch_size"], s["epochs"]) for s in stages] == [
        (1, 0.01, 64, 1),
        (2, 0.001, 512, 2),
    ]
    assert all("val_auc" in s["final"] for s in stages)
    record = env.artifacts.read_json(result.outputs["model"].uri, "training.json")
    assert [len(s["history"]["loss"]) for s in record["stages"]] == [1, 2]


def test_an_empty_text_label_in_a_csv_is_an_unlabelled_row(env, tmp_path):
    path = tmp_path / "species.csv"
    path.write_text("x,island,species\n1.0,Dream,Adelie\n2.0,,Gentoo\n3.0,Biscoe,\n")
    spec = spec_for(path)
    spec = dataclasses.replace(
        spec,
        task="multiclass_classification",
        data=dataclasses.replace(spec.data, label="species", features=type(spec.data.features)()),
        evaluation=type(spec.evaluation)(),
    )
    with pytest.raises(
        ValueError, match=r"label column 'species' is empty in 1 row\(s\) \(first at rows \[2\]\)"
    ):
        ingest_examples(env, spec, RunInfo(spec.pipeline, run_id="r"))


def _more_rows(taxi_frame, taxi_file) -> None:
    """A new dataset version: the first 100 rows again under new ids."""
    more = pd.concat([taxi_frame, taxi_frame.iloc[:100].assign(trip_id=lambda f: f.trip_id + "x")])
    write_dataset(more, taxi_file)


def test_clearing_an_old_runs_evaluate_never_rolls_the_model_back(env, taxi_file, taxi_frame):
    """The on-call person clears an old run's evaluate with its downstream tasks: its model,
    re-evaluated against the newer blessed one on its own test split, may pass (a tolerance
    this wide always does), and is still not pushed."""
    spec = spec_for(taxi_file)
    spec = dataclasses.replace(
        spec, evaluation=dataclasses.replace(spec.evaluation, baseline_tolerance={"auc": 1.0})
    )
    one = run_training_pipeline(env, spec, RunInfo(spec.pipeline, spec.digest, run_id="one"))
    assert one["push"].result["version"] == 1
    _more_rows(taxi_frame, taxi_file)
    two = run_training_pipeline(env, spec, RunInfo(spec.pipeline, spec.digest, run_id="two"))
    assert two["push"].result["version"] == 2, two["push"].result
    registry = ModelRegistry(env.metadata)
    assert registry.resolve("taxi_tips", "blessed").version == 2

    again = RunInfo(spec.pipeline, spec.digest, run_id="one", try_number=2)
    model, schema = one["train"].outputs["model"].id, one["schema"].outputs["schema"].id
    examples = one["ingest"].outputs["examples"].id
    evaluated = evaluate_model(env, spec, again, model, examples, schema)
    assert evaluated.result["verdict"]["lets_through"] and "baseline" in evaluated.result["metrics"]
    with sandbox.sandbox_running(env, spec, again, model) as servers:
        infra = validate_sandbox(env, spec, again, model, examples, schema, servers)
    blessing = evaluated.outputs["blessing"].id
    with pytest.raises(StaleBlessingError) as refused:
        push_model(env, spec, again, model, blessing, infra.outputs["infra_blessing"].id)
    message = str(refused.value)
    assert "run one's model was trained before blessed v2" in message
    assert "a push never rolls back" in message and "trigger a new training run" in message
    assert registry.resolve("taxi_tips", "blessed").version == 2
    moves = [(h["from_version"], h["to_version"]) for h in registry.alias_history("taxi_tips")]
    assert moves == [(None, 1), (1, 2)]


def test_force_recomputes_every_stage(env, taxi_file):
    """``force`` recomputes every cacheable stage: tuning searches again rather than
    reusing the last search, the spec's hyperparameters are written again, and the
    evaluation is computed again."""
    spec = spec_for(taxi_file)
    tune = dataclasses.replace(spec.tune, enabled=True, max_trials=1, trial_fraction=0.1)
    spec = dataclasses.replace(spec, tune=tune)
    run_training_pipeline(env, spec, RunInfo(spec.pipeline, spec.digest, run_id="one"))
    forced = run_training_pipeline(
        env, spec, RunInfo(spec.pipeline, spec.digest, run_id="two"), force=True
    )
    states = _states(env, "two")
    stages = ("ingest", "statistics", "schema", "validate", "tune", "train", "evaluate")
    assert {c: states[c] for c in stages} == dict.fromkeys(stages, "complete")
    assert forced["tune"].result["decision"] == "full", forced["tune"].result["reason"]
    assert forced["tune"].result["trials"] == 1

    untuned = dataclasses.replace(spec, tune=dataclasses.replace(tune, enabled=False))
    ids = [forced[stage].outputs[slot].id for stage, slot in CHAIN]
    for run_id, force in (("three", False), ("four", True)):
        train_inputs(env, untuned, RunInfo(spec.pipeline, run_id=run_id), *ids, force=force)
    assert _states(env, "four")["hyperparameters"] == "complete"


CHAIN = (("ingest", "examples"), ("statistics", "statistics"), ("schema", "schema"))
