"""Tuning: the history policy on crafted histories, and real KerasTuner searches."""

import dataclasses
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import psutil
import pytest

from mlrail.components.pipeline import (
    train_model,
    tune_hyperparameters,
)
from mlrail.components.tune import _decide, _searcher
from mlrail.data.datagen import write_dataset
from mlrail.training.processes import LocalProcesses, ProcessFailed
from mlrail.training.tfx_compat import fn_args, tuner_fn_args
from mlrail.training.tuning import TuningState, decide, narrowed, search
from tests.conftest import ROOT, spec_for

BEFORE = TuningState(rows=1000, schema_fingerprint="s1", code_version="c1")
BEST = {"learning_rate": 0.01}
MODULES = ROOT / "tests" / "include" / "training" / "modules"
WORKERS = ("chief", "tuner0", "tuner1")


@pytest.mark.parametrize(
    "current, policy, decision, words",
    [
        (TuningState(1050, "s1", "c1"), "auto", "reuse", "rows changed by 5.0%"),
        (TuningState(1050, "s1", "c1"), "narrow", "narrow", "policy narrow"),
        (TuningState(1050, "s1", "c1"), "full", "full", "policy full"),
        (TuningState(1300, "s1", "c1"), "auto", "full", "rows changed by 30.0% (threshold 10.0%)"),
        (TuningState(1000, "s2", "c1"), "reuse", "full", "the schema changed"),
        (TuningState(1000, "s1", "c2"), "auto", "full", "the model code changed"),
    ],
)
def test_decisions_on_crafted_histories(current, policy, decision, words):
    got, reason = decide(current, BEFORE, BEST, policy, max_row_delta=0.1)
    assert got == decision and words in reason


def test_first_search_is_full():
    assert decide(BEFORE, None, None, "reuse", 0.1)[0] == "full"
    with pytest.raises(ValueError, match="tune.policy 'sometimes'"):
        decide(BEFORE, BEFORE, BEST, "sometimes", 0.1)


def test_narrowed_space():
    space = {
        "space": [
            {
                "class_name": "Float",
                "config": {"name": "lr", "min_value": 1e-4, "max_value": 1e-1, "sampling": "log"},
            },
            {"class_name": "Int", "config": {"name": "layers", "min_value": 1, "max_value": 8}},
            {"class_name": "Choice", "config": {"name": "act", "values": ["relu", "tanh"]}},
        ]
    }
    hp = narrowed(space, {"lr": 0.01, "layers": 4, "act": "tanh"}, 0.25)
    config = {e["config"]["name"]: e for e in hp.get_config()["space"]}
    assert config["lr"]["config"]["min_value"] == pytest.approx(0.0075)
    assert config["lr"]["config"]["max_value"] == pytest.approx(0.0125)
    assert (config["layers"]["config"]["min_value"], config["layers"]["config"]["max_value"]) == (
        3,
        5,
    )
    assert config["act"]["class_name"] == "Fixed" and config["act"]["config"]["value"] == "tanh"


@pytest.mark.slow
def test_search_finds_the_clearly_better_configuration(tmp_path):
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 1.5]) > 0).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)

    def build(values):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(
            optimizer=keras.optimizers.SGD(values["learning_rate"]),
            loss="binary_crossentropy",
            metrics=[keras.metrics.AUC(name="auc")],
        )
        return model

    best, space, trials = search(
        build,
        lambda hp: hp.Choice("learning_rate", [1e-7, 0.5]),
        data.repeat(),
        data,
        algorithm="random",
        max_trials=4,
        epochs=1,
        steps=30,
        directory=str(tmp_path),
        seed=1,
        objective="val_loss",
    )
    assert best == {"learning_rate": 0.5}
    assert len(trials) == 2  # the two choices, each tried once
    assert space["space"][0]["config"]["values"] == [1e-7, 0.5]


@pytest.mark.slow
def test_pipeline_tunes_then_reuses_then_narrows(env, prepare, taxi_file, taxi_frame):
    spec = spec_for(taxi_file)
    spec = dataclasses.replace(
        spec, tune=dataclasses.replace(spec.tune, enabled=True, max_trials=2, trial_fraction=0.1)
    )

    def once(run_id, spec=spec):
        data = prepare(spec, run_id=run_id)
        return (data.run, *data.ids, tune_hyperparameters(env, spec, data.run, *data.ids))

    run, examples, stats, schema, first = once("one")
    assert first.result["decision"] == "full" and first.result["trials"] == 2
    trained = train_model(
        env,
        spec,
        run,
        examples,
        stats,
        schema,
        hyperparameters_id=first.outputs["hyperparameters"].id,
    )
    used = env.metadata.io_of(trained.execution_id, "input")["hyperparameters"]
    assert used.id == first.outputs["hyperparameters"].id  # lineage: tuner -> trainer

    second = once("two")[-1]
    assert second.result["decision"] == "reuse" and second.result["trials"] == 0
    assert second.result["best"] == first.result["best"]

    more = pd.concat([taxi_frame, taxi_frame.iloc[:100].assign(trip_id=lambda f: f.trip_id + "n")])
    write_dataset(more, taxi_file)
    narrow_spec = dataclasses.replace(spec, tune=dataclasses.replace(spec.tune, policy="narrow"))
    third = once("three", narrow_spec)[-1]
    assert third.result["decision"] == "narrow" and "rows changed by 2." in third.result["reason"]


def _tfx_module(**functions):
    return SimpleNamespace(run_fn=lambda fn_args: None, tuner_fn=lambda fn_args: None, **functions)


def test_tuner_fn_modules_are_told_what_they_cannot_do():
    params = {"module_path": "m.py", "parallel_trials": 1}
    assert _searcher(_tfx_module(), params) == "tuner_fn"
    assert _searcher(_tfx_module(hyperparameter_space=print), params) == "space"
    with pytest.raises(ValueError, match="tune.parallel_trials is 2, but m.py tunes with a TFX"):
        _searcher(_tfx_module(), {**params, "parallel_trials": 2})
    with pytest.raises(ValueError, match="tuner_fn is for TFX modules that train with run_fn"):
        _searcher(_tfx_module(build_model=print), params)
    with pytest.raises(ValueError, match="neither hyperparameter_space"):
        _searcher(SimpleNamespace(run_fn=print), params)


def test_narrow_means_full_for_a_tuner_fn():
    previous = {"state": vars(BEFORE), "best": BEST}
    params = {"policy": "narrow", "max_row_delta": 0.1}
    current = TuningState(1050, "s1", "c1")
    assert _decide(current, previous, params, "space")[0] == "narrow"
    decision, reason = _decide(current, previous, params, "tuner_fn")
    assert decision == "full" and "policy narrow" in reason and "cannot be narrowed" in reason
    assert _decide(current, previous, {**params, "policy": "auto"}, "tuner_fn")[0] == "reuse"


def test_fn_args_for_tuner_fn_and_for_run_fn_with_tuned_hyperparameters(tmp_path):
    common = dict(
        train_path="train.parquet",
        eval_path="eval.parquet",
        train_rows=1000,
        eval_rows=100,
        schema_path="schema.json",
        schema={},
        custom_config={"units": 3},
        seed=1,
    )
    tuning = tuner_fn_args(
        train_steps=7, working_dir=tmp_path, hyperparameters={"batch_size": 50}, **common
    )
    assert (tuning.train_steps, tuning.eval_steps, tuning.working_dir) == (7, 2, str(tmp_path))
    assert tuning.hyperparameters is None and tuning.serving_model_dir is None
    assert tuning.custom_config == {"units": 3} and tuning.train_files == ["train.parquet"]
    # A tuner_fn's result reaches run_fn as TFX gives it (HyperParameters.get_config()),
    # and its batch size and epochs still set the training steps.
    config = {"space": [], "values": {"batch_size": 100, "epochs": 3}}
    training = fn_args(model_dir=tmp_path, hyperparameters=config, **common)
    assert training.hyperparameters is config and training.train_steps == 30


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_failing_process_ends_the_group_with_its_log(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ProcessFailed, match="worker exited with 3") as error:
        with LocalProcesses() as group:
            group.start("server", _python("import time; time.sleep(60)"), {})
            group.start("worker", _python("print('bad input: x.parquet'); exit(3)"), {})
            group.wait(["worker"], watch=("server",), timeout=30)
    assert "bad input: x.parquet" in str(error.value)
    assert group.processes["server"].poll() is not None  # stopped, not left running
    assert list(tmp_path.iterdir()) == []


def test_a_dead_server_ends_the_wait_and_a_clean_one_does_not(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(ProcessFailed, match="server exited with 5 while others needed it"):
        with LocalProcesses() as group:
            group.start("server", _python("print('port in use'); exit(5)"), {})
            group.start("worker", _python("import time; time.sleep(60)"), {})
            group.wait(["worker"], watch=("server",), timeout=30)
    assert group.processes["worker"].poll() is not None
    with LocalProcesses() as group:
        group.start("server", _python("pass"), {})
        group.start("worker", _python("import time; time.sleep(1)"), {})
        group.wait(["worker"], watch=("server",), timeout=30)
    with pytest.raises(ProcessFailed, match="worker did not finish within 1 s"):
        with LocalProcesses() as group:
            group.start("worker", _python("import time; time.sleep(60)"), {})
            group.wait(["worker"], timeout=1)
    assert list(tmp_path.iterdir()) == []


def _tuned_spec(source: Path, module: str, **tune):
    spec = spec_for(source)
    train = dataclasses.replace(
        spec.train, module=str(MODULES / module), hyperparameters={"batch_size": 64, "epochs": 1}
    )
    tune = dataclasses.replace(
        spec.tune, enabled=True, objective="val_loss", trial_fraction=1.0, **tune
    )
    return dataclasses.replace(spec, train=train, tune=tune)


def _leftovers(scratch: Path) -> list:
    """Search processes still running under this test, and temporary folders left."""
    children = psutil.Process().children(recursive=True)
    running = [c for c in children if "mlrail.search_job" in " ".join(c.cmdline())]
    return running + list(scratch.iterdir())


@pytest.mark.slow
def test_parallel_trials_run_in_processes_and_find_the_better_configuration(
    env, prepare, taxi_file, tmp_path, monkeypatch
):
    builds = tmp_path / "builds.txt"
    monkeypatch.setenv("MLRAIL_TEST_BUILDS", str(builds))
    spec = _tuned_spec(taxi_file, "two_rates_module.py", max_trials=3, parallel_trials=2)
    data = prepare(spec, run_id="one")
    run, inputs = data.run, data.ids
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    result = tune_hyperparameters(env, spec, run, *inputs)

    assert result.result["parallel_trials"] == 2
    assert result.outputs["hyperparameters"].properties["parallel_trials"] == 2
    # Four combinations, three trials: the oracle's max_trials bounds all workers together.
    trials = result.outputs["hyperparameters"].properties["trials"]
    assert len(trials) == 3 and len({tuple(sorted(t["values"].items())) for t in trials}) == 3
    assert result.result["best"]["learning_rate"] == 0.05

    def scores(rate):
        return [t["score"] for t in trials if t["values"]["learning_rate"] == rate]

    assert max(scores(0.05)) < min(scores(1e-7))
    # Real processes: chief and both workers built models, each in its own process.
    lines = [line.split() for line in builds.read_text().splitlines()]
    pids = {who: {int(pid) for name, pid in lines if name == who} for who in WORKERS}
    assert all(len(ids) == 1 for ids in pids.values())
    assert len(set.union(*pids.values()) - {os.getpid()}) == 3
    assert _leftovers(scratch) == []


@pytest.mark.slow
@pytest.mark.parametrize("who", ["tuner1", "chief"])
def test_a_dying_tuning_process_fails_clearly_and_leaves_nothing(
    env, prepare, taxi_file, tmp_path, monkeypatch, who
):
    spec = _tuned_spec(taxi_file, "two_rates_module.py", max_trials=2, parallel_trials=2)
    data = prepare(spec, run_id="one")
    run, inputs = data.run, data.ids
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("MLRAIL_TEST_DIE_IN", who)

    with pytest.raises(ProcessFailed, match=f"{who} exited with 7") as error:
        tune_hyperparameters(env, spec, run, *inputs)

    assert f"{who}: dying on purpose" in str(error.value)  # the end of its log
    assert _leftovers(scratch) == []


@pytest.mark.slow
def test_tfx_tuner_fn_result_reaches_its_run_fn_through_training(env, prepare, taxi_file):
    import tensorflow as tf

    spec = _tuned_spec(taxi_file, "tfx_tuner_module.py")
    data = prepare(spec, run_id="one")
    run, (examples, stats, schema) = data.run, data.ids

    tuned = tune_hyperparameters(env, spec, run, examples, stats, schema)

    assert tuned.result["decision"] == "full" and tuned.result["trials"] == 4
    best = tuned.result["best"]
    assert best["learning_rate"] == 0.05  # tuner_fn's own objective: val_loss
    artifact = tuned.outputs["hyperparameters"]
    assert artifact.properties["source"] == "tfx_tuner_fn"
    config = env.artifacts.read_json(artifact.uri, "hyperparameters.json")
    assert set(config) == {"space", "values"} and config["values"]["units"] == best["units"]

    trained = train_model(env, spec, run, examples, stats, schema, hyperparameters_id=artifact.id)

    with env.artifacts.read(trained.outputs["model"].uri) as local:
        loaded = tf.saved_model.load(str(local / "saved_model"))
        kernels = [tuple(v.shape) for v in loaded.variables if len(v.shape) == 2]
    # run_fn built its hidden layer from HyperParameters.from_config(fn_args.hyperparameters).
    # 3 numeric features + 7 payment columns (6 known and the out-of-vocabulary one).
    assert (10, best["units"]) in kernels and (best["units"], 1) in kernels
