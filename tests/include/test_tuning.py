"""Tuning: the history policy on crafted histories, and real KerasTuner searches."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mlrail.datagen import write_dataset
from mlrail.pipeline import (
    compute_statistics,
    infer_schema,
    ingest_examples,
    train_model,
    tune_hyperparameters,
)
from mlrail.runner import RunInfo
from mlrail.tuning import TuningState, decide, narrowed, search
from tests.conftest import spec_for

BEFORE = TuningState(rows=1000, schema_fingerprint="s1", code_version="c1")
BEST = {"learning_rate": 0.01}


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
def test_pipeline_tunes_then_reuses_then_narrows(env, taxi_file, taxi_frame):
    spec = spec_for(taxi_file)
    spec = dataclasses.replace(
        spec, tune=dataclasses.replace(spec.tune, enabled=True, max_trials=2, trial_fraction=0.1)
    )

    def once(run_id, spec=spec):
        run = RunInfo(spec.pipeline, run_id=run_id)
        examples = ingest_examples(env, spec, run).outputs["examples"].id
        stats = compute_statistics(env, spec, run, examples).outputs["statistics"].id
        schema = infer_schema(env, spec, run, stats).outputs["schema"].id
        return (
            run,
            examples,
            stats,
            schema,
            tune_hyperparameters(env, spec, run, examples, stats, schema),
        )

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
