"""Training strategies with real processes: the entrypoint, mirrored, multi-worker."""

import dataclasses
import json
import subprocess
import sys

import pytest

from mlrail.pipeline import compute_statistics, infer_schema, ingest_examples, train_model
from mlrail.runner import RunInfo
from mlrail.train import is_chief
from tests.conftest import ROOT, spec_for

pytestmark = pytest.mark.slow
SMALL = {"epochs": 1, "batch_size": 64, "hidden_units": [16]}


def test_help_lists_the_strategies():
    done = subprocess.run(
        [sys.executable, "-m", "mlrail.train", "--help"], capture_output=True, text=True, check=True
    )
    assert "single, mirrored, multi_worker" in " ".join(done.stdout.split())
    assert "AIP_MODEL_DIR" in done.stdout and "AIP_TRAINING_DATA_URI" in done.stdout


@pytest.mark.parametrize(
    "tf_config, chief",
    [
        ({}, True),
        ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 1}}, False),
        (
            {"cluster": {"chief": ["c"], "worker": ["a"]}, "task": {"type": "worker", "index": 0}},
            False,
        ),
        (
            {"cluster": {"chief": ["c"], "worker": ["a"]}, "task": {"type": "chief", "index": 0}},
            True,
        ),
    ],
)
def test_only_the_chief_exports(tf_config, chief):
    assert is_chief(tf_config) is chief


@pytest.fixture
def prepared(env, taxi_file):
    spec = spec_for(taxi_file)
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, hyperparameters=SMALL))
    run = RunInfo(spec.pipeline, run_id="r")
    examples = ingest_examples(env, spec, run).outputs["examples"]
    stats = compute_statistics(env, spec, run, examples.id).outputs["statistics"]
    schema = infer_schema(env, spec, run, stats.id).outputs["schema"]
    return spec, run, examples, stats, schema


@pytest.mark.parametrize("strategy", ["mirrored", "multi_worker"])
def test_distributed_strategies_train_and_the_chief_exports(env, prepared, strategy):
    import tensorflow as tf

    spec, run, examples, stats, schema = prepared
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, strategy=strategy))
    result = train_model(env, spec, run, examples.id, stats.id, schema.id)
    assert result.result["strategy"] == strategy and result.result["replicas"] == 2
    (stage,) = result.result["stages"]
    assert stage["global_batch_size"] == 128
    with env.artifacts.read(result.outputs["model"].uri) as local:
        serve = tf.saved_model.load(str(local / "saved_model")).signatures["serving_default"]
        assert "fare" in serve.structured_input_signature[1]


def test_two_workers_stay_in_sync(env, prepared, tmp_path):
    spec, run, examples, stats, schema = prepared
    hparams = {"learning_rate": 0.003, "hidden_units": [16], "dropout": 0.1, **SMALL}
    (tmp_path / "h.json").write_text(json.dumps(hparams))
    log = tmp_path / "losses.json"
    argv = [
        sys.executable,
        "-m",
        "mlrail.train",
        "--strategy",
        "multi_worker",
        "--workers",
        "2",
        "--train-data",
        f"{examples.uri}/train/data.parquet",
        "--eval-data",
        f"{examples.uri}/eval/data.parquet",
        "--schema",
        f"{schema.uri}/schema.json",
        "--statistics",
        f"{stats.uri}/statistics.json",
        "--hyperparameters",
        str(tmp_path / "h.json"),
        "--module",
        str(ROOT / "include/models/taxi_tips.py"),
        "--model-dir",
        str(tmp_path / "model"),
        "--loss-log",
        str(log),
    ]
    subprocess.run(argv, check=True, capture_output=True, timeout=600)
    chief = json.loads((tmp_path / "losses.json.worker-0").read_text())
    other = json.loads((tmp_path / "losses.json.worker-1").read_text())
    assert chief[0]["replicas"] == other[0]["replicas"] == 2
    assert chief[0]["step_losses"] == other[0]["step_losses"]  # one model, two workers
    assert len(chief[0]["step_losses"][0]) == chief[0]["steps_per_epoch"] > 1
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "saved_model",
        "training.json",
    ]


def test_early_stopping_ends_a_stage_when_val_loss_stops_improving(env, prepared):
    spec, run, examples, stats, schema = prepared
    spec = dataclasses.replace(
        spec,
        train=dataclasses.replace(
            spec.train,
            early_stopping_patience=1,
            hyperparameters={**SMALL, "epochs": 40, "learning_rate": 0.05},
        ),
    )
    result = train_model(env, spec, run, examples.id, stats.id, schema.id)
    record = env.artifacts.read_json(result.outputs["model"].uri, "training.json")
    assert len(record["stages"][0]["history"]["val_loss"]) < 40


def test_tfx_style_module_trains_unchanged(env, prepared):
    import tensorflow as tf

    spec, run, examples, stats, schema = prepared
    module = ROOT / "tests" / "include" / "modules" / "tfx_style_module.py"
    spec = dataclasses.replace(
        spec,
        train=dataclasses.replace(
            spec.train,
            module=str(module),
            hyperparameters={"batch_size": 64, "epochs": 1},
            custom_config={"units": 8},
        ),
    )
    result = train_model(env, spec, run, examples.id, stats.id, schema.id)
    (stage,) = result.result["stages"]
    assert stage["tfx_run_fn"] and stage["train_steps"] > 1
    with env.artifacts.read(result.outputs["model"].uri) as local:
        serve = tf.saved_model.load(str(local / "saved_model")).signatures["serving_default"]
        assert set(serve.structured_input_signature[1]) == {"trip_miles", "trip_seconds", "fare"}
