"""taxi_tips_training as a real Airflow DAG run (dag.test on a SQLite Airflow home)."""

import pytest

from mlrail.store.lineage import model_lineage
from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import Env
from tests.dags.conftest import training_tasks

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CACHEABLE = ("ingest", "statistics", "schema", "validate", "train")


def test_runs_on_the_same_data_reuse_every_cache_and_push_nothing_again(ui_project):
    """The shared project's history (tests/plugins/ui_project.py): data A, then data B three
    times. Every task of every run succeeded; the last run on data B reused every cache,
    each of its stages a first try; each model was trained and pushed by one run alone."""
    runs = ui_project.runs
    tasks = dict.fromkeys(training_tasks("taxi_tips_training"), "success")
    assert all(ui_project.tasks[run] == tasks for run in vars(runs).values())

    env = ui_project.env
    executions = env.metadata.executions(run_id=runs.cached)
    states = {e.task_id: e.state for e in executions if e.component in CACHEABLE}
    assert states == {t: "cached" for t in CACHEABLE}, states
    assert all(e.dag_id == "taxi_tips_training" and e.try_number == 1 for e in executions)

    registry = ModelRegistry(env.metadata)
    assert [v.version for v in registry.versions("taxi_tips")] == [1, 2]
    assert registry.resolve("taxi_tips", "blessed").version == 2
    for version, run, data in ((1, runs.first, 0), (2, runs.second, 1)):
        report = model_lineage(env, "taxi_tips", version)
        assert report["dataset"]["version"] == 1  # the first version of each source
        assert report["dataset"]["source"] == str(ui_project.data[data])
        assert report["training_run"]["dag_id"] == "taxi_tips_training"
        assert report["training_run"]["run_id"] == run
        assert [p["execution"]["run_id"] for p in report["pushes"]] == [run]


def test_bad_data_fails_the_run_at_ingest_without_retrying(airflow_project, tmp_path, taxi_frame):
    from mlrail.data.datagen import write_dataset

    unlabelled = write_dataset(taxi_frame.drop(columns=["big_tipper"]), tmp_path / "x.csv")
    result = airflow_project.dag_test("taxi_tips_training", {"data_source": str(unlabelled)})
    assert result["state"] == "failed"
    assert result["tasks"]["ingest"] == "failed"
    after = {t: s for t, s in result["tasks"].items() if t != "ingest"}
    downstream = set(training_tasks("taxi_tips_training")) - {"ingest"}
    assert after == dict.fromkeys(downstream, "upstream_failed")

    env = Env.open(airflow_project.settings())
    (failed,) = env.metadata.executions(run_id=result["run_id"])
    assert failed.state == "failed" and failed.try_number == 1  # no retry for bad data
    assert f"{unlabelled}: column(s) ['big_tipper'] named in the pipeline spec" in failed.error


def test_failing_user_expectation_fails_validate_and_stops_training(
    airflow_project, tmp_path, taxi_frame
):
    from mlrail.data.datagen import write_dataset

    # include/expectations/taxi_tips/trip_sanity.json says fares lie in [0, 1000].
    bad = taxi_frame.assign(fare=taxi_frame["fare"].where(taxi_frame.index % 50 != 0, -5.0))
    path = write_dataset(bad, tmp_path / "negative_fares.parquet")
    result = airflow_project.dag_test("taxi_tips_training", {"data_source": str(path)})
    assert result["state"] == "failed"
    assert result["tasks"]["validate"] == "failed"
    assert result["tasks"]["train"] == "upstream_failed"

    env = Env.open(airflow_project.settings())
    (validation,) = env.metadata.executions(run_id=result["run_id"], component="validate")
    assert validation.state == "complete" and validation.try_number == 1
    messages = "\n".join(validation.result["messages"])
    assert "[blocking]" in messages and "suite 'taxi_trip_sanity'" in messages
    assert "expect_column_values_to_be_between" in messages and "'fare'" in messages
