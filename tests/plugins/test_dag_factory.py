"""Scheduling knobs from the spec become task attributes of the training DAG."""

from datetime import UTC, datetime, timedelta

import pytest

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
