"""Scheduling knobs from the spec become task attributes of the training DAG."""

from datetime import UTC, datetime, timedelta

import pytest

from mlrail.errors import DeterministicError
from mlrail.spec import SpecError
from mlrail_airflow.dag_factory import training_dag
from tests.conftest import TAXI_SPEC


def _spec(tmp_path, train_extra: str):
    path = tmp_path / "include" / "pipelines" / "knobs.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "pipeline: knobs\n"
        "data: {source: d.csv, label: y}\n"
        f"train: {{module: m.py, {train_extra}}}\n"
    )
    (tmp_path / "m.py").write_text(
        "def build_model(schema, statistics, hyperparameters):\n    pass\n\n\n"
        "def hyperparameter_space(hp):\n    pass\n"
    )
    return path


def test_taxi_training_task_defaults():
    train = training_dag(TAXI_SPEC).get_task("train")
    assert train.pool == "training" and train.priority_weight == 10
    assert train.retries == 2 and train.retry_exponential_backoff
    assert train.execution_timeout is None


def test_budget_accelerators_priority_and_window(tmp_path):
    dag = training_dag(
        _spec(
            tmp_path,
            "accelerator_count: 1, max_minutes: 90, priority_weight: 50, start_after: '22:30', "
            "start_before: '06:00'",
        )
    )
    train = dag.get_task("train")
    assert train.pool == "gpu" and train.priority_weight == 50
    assert train.execution_timeout == timedelta(minutes=90)
    window = dag.get_task("wait_for_window")
    assert (window.start, window.end) == ("22:30", "06:00")
    assert window.upstream_task_ids == {"validate"}
    assert "wait_for_window" in train.upstream_task_ids


def _at(hour, minute=0):
    return datetime(2026, 11, 22, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    "now, start, end, expected",
    [
        (_at(23), "22:00", "06:00", None),  # inside, before midnight
        (_at(2), "22:00", "06:00", None),  # inside, after midnight
        (_at(12), "22:00", "06:00", _at(22)),  # waits until tonight
        (_at(6), "22:00", "06:00", _at(22)),  # the window just closed
        (_at(21, 59), "22:00", "", _at(22)),  # until midnight
        (_at(23), "01:00", "05:00", _at(1) + timedelta(days=1)),  # tomorrow's window
        (_at(3), "01:00", "05:00", None),
    ],
)
def test_next_window_start(now, start, end, expected):
    from mlrail_airflow.operators.window import next_window_start

    assert next_window_start(now, start, end) == expected


def test_tuning_adds_a_tune_task_feeding_train(tmp_path):
    path = _spec(tmp_path, "strategy: single")
    path.write_text(path.read_text() + "tune: {enabled: true}\n")
    dag = training_dag(path)
    tune, train = dag.get_task("tune"), dag.get_task("train")
    assert "tune" in train.upstream_task_ids and tune.upstream_task_ids >= {"validate"}
    assert train.hyperparameters is not None and tune.pool == "training"
    assert training_dag(TAXI_SPEC).get_task("train").hyperparameters is None


def test_window_sensor_defers_to_the_opening_and_passes_inside():
    from airflow.exceptions import TaskDeferred

    from mlrail_airflow.operators.window import WaitForWindowSensor

    now = datetime.now(UTC)
    opens, closes = now + timedelta(hours=2), now + timedelta(hours=3)
    outside = WaitForWindowSensor(
        task_id="wait", start=opens.strftime("%H:%M"), end=closes.strftime("%H:%M")
    )
    with pytest.raises(TaskDeferred) as deferred:
        outside.execute({})
    moment = deferred.value.trigger.moment
    assert opens - timedelta(minutes=1) < moment <= opens
    assert deferred.value.method_name == "execute_complete"
    inside = WaitForWindowSensor(
        task_id="now",
        start=(now - timedelta(hours=1)).strftime("%H:%M"),
        end=closes.strftime("%H:%M"),
    )
    assert inside.execute({}) is None


def test_a_missing_model_module_fails_the_dag_import_naming_spec_and_field(tmp_path):
    path = _spec(tmp_path, "seed: 1")
    path.write_text(path.read_text().replace("module: m.py", "module: models/gone.py"))
    with pytest.raises(SpecError) as raised:
        training_dag(path)
    assert isinstance(raised.value, DeterministicError)
    assert str(raised.value).startswith(
        f"{path}:3: field 'train.module': expected the path of an existing model module file, "
        f"got '{tmp_path / 'models' / 'gone.py'}'"
    )


def _dags_with_a_bad_spec(tmp_path):
    """A DAGs folder whose one file renders a spec with a schedule that never fires (line
    4): the spec's path and the folder."""
    spec = _spec(tmp_path, "seed: 1")
    spec.write_text(spec.read_text() + "schedule: '0 25 * * *'\n")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "knobs_training.py").write_text(
        "from mlrail_airflow.dag_factory import pipeline_dags\n\n"
        f"globals().update(pipeline_dags({str(spec)!r}))\n"
    )
    return spec, dags


def test_the_dag_processor_shows_the_spec_error_as_the_files_import_error(tmp_path):
    """What the Airflow UI shows for the DAG file: its import error, read by the same
    DagBag the DAG processor uses, names the spec file and the field."""
    import json
    import os
    import subprocess
    import sys

    from tests.dags.conftest import BAG

    spec, dags = _dags_with_a_bad_spec(tmp_path)
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow")}
    done = subprocess.run(
        [sys.executable, "-c", BAG, str(dags)], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["dags"] == {}
    (error,) = found["errors"].values()
    assert f"{spec}:4: field 'schedule': expected a cron expression that fires" in error
    assert "got '0 25 * * *'" in error


def test_make_run_names_the_spec_error_before_triggering_anything(tmp_path, monkeypatch):
    """``make run DAG=...`` (mlrail_airflow.demo) refuses a DAG whose file fails to import,
    with the spec's file, line and field, before it starts or triggers anything."""
    from mlrail_airflow.demo import dag_problem

    spec, dags = _dags_with_a_bad_spec(tmp_path)
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(dags))
    problem = dag_problem("knobs_training")
    assert "these failed to import" in problem and str(dags / "knobs_training.py") in problem
    assert f"{spec}:4: field 'schedule': expected a cron expression that fires" in problem
    assert dag_problem("other_training").startswith("no DAG file that loads defines it")
    (dags / "knobs_training.py").unlink()
    assert dag_problem("other_training") == f"no DAG file in {dags} defines it"
