"""The built-in tabular model: any task from a spec alone, tunable; and a module whose
model cannot answer for the task is told so before training."""

import textwrap

import pytest

from mlrail.components.pipeline import run_training_pipeline, train_model
from mlrail.data.datagen import write_dataset
from mlrail.spec import load_spec
from mlrail.store.runner import RunInfo
from mlrail.training.export import ModelShapeError
from tests.e2e import datasets

pytestmark = pytest.mark.slow


def _spec(tmp_path, name, body):
    path = tmp_path / "include" / "pipelines" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"pipeline: {name}\n" + textwrap.dedent(body))
    return load_spec(path)


def test_regression_from_a_spec_alone_tunes_trains_and_pushes(env, tmp_path):
    data = write_dataset(datasets.houses(rows=1500), tmp_path / "data" / "houses.parquet")
    spec = _spec(
        tmp_path,
        "houses",
        f"""
        task: regression
        data: {{source: "{data}", label: price, features: {{exclude: [house_id]}}}}
        tune: {{enabled: true, max_trials: 2, trial_fraction: 0.3}}
        train: {{hyperparameters: {{epochs: 6, batch_size: 64}}}}
        evaluation: {{thresholds: {{r2: {{min: 0.3}}}}, baseline_tolerance: {{rmse: 5000}}}}
        """,
    )
    results = run_training_pipeline(env, spec, RunInfo(spec.pipeline, run_id="r"))
    tune = results["tune"].result
    assert tune["decision"] == "full" and tune["trials"] == 2
    assert set(tune["best"]) == {"learning_rate", "hidden_units", "dropout"}
    metrics = results["evaluate"].result["metrics"]["candidate"]
    assert metrics["r2"] > 0.3, metrics
    assert results["push"].result["pushed"], results["evaluate"].result["verdict"]["sentence"]


def test_a_model_that_cannot_answer_for_the_task_fails_before_training(env, prepare, tmp_path):
    data = write_dataset(datasets.penguins(rows=600), tmp_path / "data" / "penguins.csv")
    module = tmp_path / "one_unit.py"
    module.write_text(
        textwrap.dedent(
            """
            def build_model(schema, statistics, hyperparameters):
                import keras
                from mlrail.keras_features import encoded_inputs

                inputs, x = encoded_inputs(schema, statistics)
                model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
                model.compile("adam", "binary_crossentropy")
                return model
            """
        )
    )
    spec = _spec(
        tmp_path,
        "penguins",
        f"""
        task: multiclass_classification
        data: {{source: "{data}", label: species, features: {{exclude: [penguin_id]}}}}
        train: {{module: "{module}", hyperparameters: {{epochs: 1, batch_size: 64,
                 learning_rate: 0.01}}}}
        """,
    )
    prepared = prepare(spec)
    with pytest.raises(ModelShapeError) as raised:
        train_model(env, spec, prepared.run, *prepared.ids)
    assert f"{module}: build_model's model answers with shape (None, 1)" in str(raised.value)
    assert "needs (None, 3), one softmax unit per class ['Adelie', 'Chinstrap', 'Gentoo']" in str(
        raised.value
    )
    (train,) = env.metadata.executions(component="train")
    assert train.state == "failed" and "ModelShapeError" in train.error
