"""Any tabular dataset end to end, with the built-in model: a multiclass string label
from a CSV with missing values (tuned), a binary label of two strings, a regression label.
Each is a spec and a DAG file in a project of its own, run with dag.test() through push;
the pushed SavedModel then answers raw features with the class name or the value."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mlrail.data.datagen import write_dataset
from mlrail.store.runner import Env
from tests.airflow_project import AirflowProject, prepare
from tests.conftest import sandbox_yaml
from tests.dags.conftest import training_tasks
from tests.e2e import datasets

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PIPELINES = {
    "penguins": (
        datasets.penguins,
        "penguins.csv",
        """
        task: multiclass_classification
        data:
          source: data/penguins.csv
          label: species
          features: {exclude: [penguin_id]}
        tune: {enabled: true, max_trials: 2, trial_fraction: 0.3}
        train:
          hyperparameters: {epochs: 8, batch_size: 64}
        evaluation:
          thresholds: {accuracy: {min: 0.7}, macro_f1: {min: 0.6}}
        """,
    ),
    "loans": (
        datasets.loans,
        "loans.parquet",
        """
        task: binary_classification
        data:
          source: data/loans.parquet
          label: outcome
          positive_label: default
          features: {exclude: [loan_id]}
        train:
          hyperparameters: {epochs: 5, batch_size: 64}
        evaluation:
          thresholds: {auc: {min: 0.7}}
        """,
    ),
    "houses": (
        datasets.houses,
        "houses.parquet",
        """
        task: regression
        data:
          source: data/houses.parquet
          label: price
          features: {exclude: [house_id]}
        train:
          hyperparameters: {epochs: 12, batch_size: 64, learning_rate: 0.01}
        evaluation:
          thresholds: {r2: {min: 0.5}}
        """,
    ),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project of its own: specs (no model module), one DAG file each, generated data."""
    root = tmp_path_factory.mktemp("tabular")
    for folder in ("dags", "data", "include/pipelines"):
        (root / folder).mkdir(parents=True)
    for name, (make, filename, body) in PIPELINES.items():
        write_dataset(make(), root / "data" / filename)
        (root / "include/pipelines" / f"{name}.yaml").write_text(
            f"pipeline: {name}\n" + textwrap.dedent(body) + sandbox_yaml()
        )
        (root / "dags" / f"{name}_training.py").write_text(
            "from pathlib import Path\n\n"
            "from mlrail_airflow.dag_factory import training_dag\n\n"
            "dag = training_dag(\n"
            f'    Path(__file__).resolve().parents[1] / "include/pipelines/{name}.yaml"\n'
            ")\n"
        )
    airflow = prepare(AirflowProject(root / "home", dags=root / "dags"))
    return root, airflow


@pytest.fixture(scope="module")
def runs(project):
    """Every pipeline's DAG run, made in turn in one interpreter (Airflow and TensorFlow
    imported once), by pipeline name."""
    _, airflow = project
    made = airflow.dag_tests([(f"{name}_training", {}) for name in PIPELINES])
    return dict(zip(PIPELINES, made, strict=True))


def _run(project, runs, name):
    root, airflow = project
    result = runs[name]
    assert result["state"] == "success", result["log"]
    # The taxi DAG's tasks: every pipeline's DAG has them, and penguins tunes too.
    expected = set(training_tasks("taxi_tips_training")) | (
        {"tune"} if name == "penguins" else set()
    )
    assert result["tasks"] == dict.fromkeys(sorted(expected), "success")
    env = Env.open(airflow.settings())
    steps = {e.component: e for e in env.metadata.executions(run_id=result["run_id"])}
    return root, airflow, env, steps


def _serve(steps):
    import tensorflow as tf

    path = steps["push"].result["serving_path"]
    return tf.saved_model.load(path).signatures["serving_default"]


def _raw(serve, frame):
    """Rows of ``frame`` as a client would send them: raw values, missing ones as "" or
    NaN."""
    import tensorflow as tf

    batch = {}
    for name, spec in serve.structured_input_signature[1].items():
        if spec.dtype == tf.string:
            values = [[v if isinstance(v, str) else ""] for v in frame[name]]
        else:
            values = [[float(v)] for v in frame[name].astype(float)]
        batch[name] = tf.constant(values, dtype=spec.dtype)
    return batch


def _lineage(airflow, name) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mlrail", "lineage", "--model", name, "--version", "1"],
        env={**airflow.env, "MLRAIL_HOME": str(airflow.mlrail_home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_multiclass_string_label_from_a_csv_with_missing_values(project, runs):
    root, airflow, env, steps = _run(project, runs, "penguins")
    label = steps["schema"].result["label"]
    assert label == {
        "type": "string",
        "task": "multiclass_classification",
        "classes": ["Adelie", "Chinstrap", "Gentoo"],
    }
    assert steps["tune"].result["decision"] == "full" and steps["tune"].result["trials"] == 2
    metrics = steps["evaluate"].result["metrics"]["candidate"]
    assert {"accuracy", "log_loss", "macro_f1", "weighted_f1"} <= set(metrics)
    assert set(metrics["per_class"]) == {"Adelie", "Chinstrap", "Gentoo"}
    matrix = metrics["confusion_matrix"]["matrix"]
    assert sum(map(sum, matrix)) == metrics["example_count"]
    verdict = steps["evaluate"].result["verdict"]
    assert verdict["lets_through"], verdict["sentence"]

    serve = _serve(steps)
    rows = datasets.penguins().iloc[:40]
    assert rows.isna().any().any()  # missing values go in as they are
    answer = serve(**_raw(serve, rows))
    assert set(answer) == {"probabilities", "class"}
    probabilities = answer["probabilities"].numpy()
    assert probabilities.shape == (40, 3) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    classes = [c.decode() for c in answer["class"].numpy()]
    assert set(classes) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert np.mean(np.array(classes) == rows["species"].to_numpy()) > 0.7

    text = _lineage(airflow, "penguins")
    assert str(root / "data" / "penguins.csv") in text
    assert "alias blessed: set to v1 (first)" in text and "vNone" not in text


def test_binary_label_of_two_strings(project, runs):
    root, airflow, env, steps = _run(project, runs, "loans")
    label = steps["schema"].result["label"]
    assert label["classes"] == ["repaid", "default"] and label["positive"] == "default"
    metrics = steps["evaluate"].result["metrics"]["candidate"]
    assert metrics["auc"] > 0.7 and 0 < metrics["positive_rate"] < 1

    serve = _serve(steps)
    rows = datasets.loans().iloc[:50]
    answer = serve(**_raw(serve, rows))
    scores, classes = answer["score"].numpy(), [c.decode() for c in answer["class"].numpy()]
    assert classes == ["default" if s >= 0.5 else "repaid" for s in scores]
    text = _lineage(airflow, "loans")
    assert f"dataset {root / 'data' / 'loans.parquet'} version 1" in text


def test_regression_label(project, runs):
    root, airflow, env, steps = _run(project, runs, "houses")
    metrics = steps["evaluate"].result["metrics"]["candidate"]
    assert {"rmse", "mae", "mape", "r2"} <= set(metrics) and metrics["r2"] > 0.5
    assert metrics["mape_skipped_zero_labels"] == 0

    serve = _serve(steps)
    rows = datasets.houses().iloc[:50]
    values = serve(**_raw(serve, rows))["value"].numpy()
    assert values.shape == (50,) and all(math.isfinite(v) for v in values)
    error = np.abs(values - rows["price"].to_numpy()) / rows["price"].to_numpy()
    assert np.median(error) < 0.3  # the raw scale comes back, not a standardized one
    assert "alias blessed: set to v1 (first)" in _lineage(airflow, "houses")
