"""Training strategies with real processes: the entrypoint, mirrored, multi-worker,
parameter server."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlrail.components.pipeline import (
    train_model,
)
from mlrail.train import is_chief
from mlrail.training.strategies import TFRECORD_DIR
from tests.conftest import ROOT, spec_for

pytestmark = pytest.mark.slow
SMALL = {"epochs": 1, "batch_size": 64, "hidden_units": [16]}


def test_help_lists_the_strategies():
    done = subprocess.run(
        [sys.executable, "-m", "mlrail.train", "--help"], capture_output=True, text=True, check=True
    )
    assert "single, mirrored, multi_worker, parameter_server" in " ".join(done.stdout.split())
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
def prepared(prepare, taxi_file):
    spec = spec_for(taxi_file)
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, hyperparameters=SMALL))
    data = prepare(spec)
    return spec, data.run, data.examples, data.statistics, data.schema


def test_mirrored_trains_through_the_component_and_exports(env, prepared):
    """The training component runs a distributed strategy in a process of its own (here
    mirrored on two logical CPUs; multi_worker: test_two_workers_stay_in_sync)."""
    import tensorflow as tf

    spec, run, examples, stats, schema = prepared
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, strategy="mirrored"))
    result = train_model(env, spec, run, examples.id, stats.id, schema.id)
    assert result.result["strategy"] == "mirrored" and result.result["replicas"] == 2
    (stage,) = result.result["stages"]
    assert stage["global_batch_size"] == 128
    with env.artifacts.read(result.outputs["model"].uri) as local:
        serve = tf.saved_model.load(str(local / "saved_model")).signatures["serving_default"]
        assert "fare" in serve.structured_input_signature[1]


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain ``text`` (a test's tmp_path)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if any(text.encode() in arg for arg in args):
            found.append(" ".join(a.decode(errors="replace") for a in args))
    return found


def test_parameter_server_trains_and_the_chief_exports(env, prepared, tmp_path):
    import tensorflow as tf

    spec, run, examples, stats, schema = prepared
    train = dataclasses.replace(
        spec.train, strategy="parameter_server", workers=2, parameter_servers=1
    )
    spec = dataclasses.replace(spec, train=train)
    result = train_model(env, spec, run, examples.id, stats.id, schema.id)
    assert result.result["strategy"] == "parameter_server" and result.result["replicas"] == 2
    (stage,) = result.result["stages"]
    train_rows = examples.properties["splits"]["train"]
    assert stage["global_batch_size"] == 64  # one worker's batch per (asynchronous) step
    assert stage["steps_per_epoch"] == train_rows // 64 > 1
    record = env.artifacts.read_json(result.outputs["model"].uri, "training.json")
    losses = record["stages"][0]["step_losses"][0]
    assert len(losses) == stage["steps_per_epoch"] and all(0 < loss < 5 for loss in losses)
    with env.artifacts.read(result.outputs["model"].uri) as local:
        names = {p.name for p in local.iterdir()}
        assert {"saved_model", "training.json"} <= names
        assert TFRECORD_DIR not in names  # the chief removed its copy of the train split
        serve = tf.saved_model.load(str(local / "saved_model")).signatures["serving_default"]
    inputs = serve.structured_input_signature[1]
    assert {"fare", "company", "payment_type"} <= set(inputs)
    request = {
        name: tf.constant([[""]] if s.dtype == tf.string else [[1.0]], dtype=s.dtype)
        for name, s in inputs.items()
    }
    answer = serve(**request)
    assert 0.0 <= float(answer["score"][0]) <= 1.0
    assert answer["class"].numpy()[0] in (b"0", b"1")
    assert _processes_mentioning(str(tmp_path)) == []  # workers and ps were stopped


def test_a_failing_chief_stops_the_cluster_and_shows_its_log(prepared, tmp_path):
    spec, run, examples, stats, schema = prepared
    (tmp_path / "h.json").write_text(json.dumps({"hidden_units": [16]}))  # nothing to train
    done = subprocess.run(
        _argv("parameter_server", examples, stats, schema, tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode != 0
    assert "chief-0 exited with 1" in done.stderr and "nothing to train" in done.stderr
    assert _processes_mentioning(str(tmp_path)) == []


def _argv(strategy, examples, stats, schema, tmp_path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlrail.train",
        "--strategy",
        strategy,
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
    ]


def test_two_workers_stay_in_sync(env, prepared, tmp_path):
    """multi_worker through the entrypoint: two local worker processes train one model in
    step, and only the chief exports it."""
    import tensorflow as tf

    spec, run, examples, stats, schema = prepared
    hparams = {"learning_rate": 0.003, "hidden_units": [16], "dropout": 0.1, **SMALL}
    (tmp_path / "h.json").write_text(json.dumps(hparams))
    log = tmp_path / "losses.json"
    argv = [*_argv("multi_worker", examples, stats, schema, tmp_path), "--loss-log", str(log)]
    subprocess.run(argv, check=True, capture_output=True, timeout=600)
    chief = json.loads((tmp_path / "losses.json.worker-0").read_text())
    other = json.loads((tmp_path / "losses.json.worker-1").read_text())
    assert chief[0]["replicas"] == other[0]["replicas"] == 2
    assert chief[0]["step_losses"] == other[0]["step_losses"]  # one model, two workers
    assert len(chief[0]["step_losses"][0]) == chief[0]["steps_per_epoch"] > 1
    assert chief[0]["global_batch_size"] == 128
    model = tmp_path / "model"
    assert sorted(p.name for p in model.iterdir()) == ["saved_model", "training.json"]
    record = json.loads((model / "training.json").read_text())
    assert record["strategy"] == "multi_worker" and record["replicas"] == 2
    serve = tf.saved_model.load(str(model / "saved_model")).signatures["serving_default"]
    assert "fare" in serve.structured_input_signature[1]


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
    module = ROOT / "tests" / "include" / "training" / "modules" / "tfx_style_module.py"
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
