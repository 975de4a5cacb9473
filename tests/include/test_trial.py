"""The Vertex AI tuning-trial entrypoint, run here as Vertex AI would run it."""

import json
import os
import subprocess
import sys

import pytest

from mlrail.trial import trial_values
from tests.conftest import ROOT, spec_for

SPACE = {
    "space": [
        {"class_name": "Float", "config": {"name": "learning_rate", "min_value": 1e-4,
                                           "max_value": 0.1, "sampling": "log"}},
        {"class_name": "Choice", "config": {"name": "hidden_units", "values": ["16", "8,4"]}},
        {"class_name": "Int", "config": {"name": "layers", "min_value": 1, "max_value": 3}},
        {"class_name": "Fixed", "config": {"name": "dropout", "value": 0.0}},
    ]
}  # fmt: skip


def test_trial_arguments_become_typed_values():
    values = trial_values(["--learning_rate=0.01", "--hidden_units", "8,4", "--layers=2.0"], SPACE)
    assert values == {"learning_rate": 0.01, "hidden_units": "8,4", "layers": 2, "dropout": 0.0}


@pytest.mark.parametrize(
    "extra, message",
    [(["--momentum=0.9"], "\\['momentum'\\] are not in"), (["0.9"], "expected --name=value")],
)
def test_bad_trial_arguments_are_named(extra, message):
    with pytest.raises(ValueError, match=message):
        trial_values(extra, SPACE)


@pytest.mark.slow
def test_trial_trains_and_reports_its_objective(prepare, taxi_file, tmp_path):
    data = prepare(spec_for(taxi_file))
    examples, stats, schema = data.examples, data.statistics, data.schema
    space = {"space": SPACE["space"][:2] + SPACE["space"][3:]}
    (tmp_path / "space.json").write_text(json.dumps(space))
    metrics = tmp_path / "hypertune" / "output.metrics"
    done = subprocess.run(
        [
            sys.executable, "-m", "mlrail.trial",
            "--train-data", f"{examples.uri}/train/data.parquet",
            "--eval-data", f"{examples.uri}/eval/data.parquet",
            "--schema", f"{schema.uri}/schema.json",
            "--statistics", f"{stats.uri}/statistics.json",
            "--module", str(ROOT / "include/models/taxi_tips.py"),
            "--space", str(tmp_path / "space.json"),
            "--defaults", json.dumps({"batch_size": 64, "epochs": 1}),
            "--steps", "5",
            "--objective", "val_auc",
            "--learning_rate=0.01", "--hidden_units=8,4",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CLOUD_ML_HP_METRIC_FILE": str(metrics), "CLOUD_ML_TRIAL_ID": "3"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = metrics.read_text().splitlines()
    report = json.loads(line)
    assert report["trial"] == "3" and report["global_step"] == "5"
    assert 0.0 <= float(report["val_auc"]) <= 1.0
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed["values"] == {"learning_rate": 0.01, "hidden_units": "8,4", "dropout": 0.0}
