"""taxi_tips_training as a real Airflow DAG run (dag.test on a SQLite Airflow home)."""

import pytest

from mlrail.store.lineage import model_lineage
from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import Env
from tests.dags.conftest import training_tasks

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CACHEABLE = ("ingest", "statistics", "schema", "validate", "train")


def test_training_dag_twice_reuses_cache_and_keeps_one_blessed_version(airflow_project, taxi_file):
    conf = {"data_source": str(taxi_file)}
    first, second = airflow_project.dag_tests([("taxi_tips_training", conf)] * 2)
    assert first["state"] == "success", first
    assert first["tasks"] == dict.fromkeys(training_tasks("taxi_tips_training"), "success")
    assert second["state"] == "success", second
    assert second["run_id"] != first["run_id"]

    env = Env.open(airflow_project.settings())
    executions = env.metadata.executions(run_id=second["run_id"])
    states = {e.task_id: e.state for e in executions if e.component in CACHEABLE}
    assert states == {t: "cached" for t in CACHEABLE}, states
    assert all(e.dag_id == "taxi_tips_training" and e.try_number == 1 for e in executions)

    registry = ModelRegistry(env.metadata)
    assert [v.version for v in registry.versions("taxi_tips")] == [1]
    assert registry.resolve("taxi_tips", "blessed").version == 1

    report = model_lineage(env, "taxi_tips", 1)
    assert report["dataset"]["version"] == 1
    assert report["dataset"]["source"] == str(taxi_file)
    assert report["training_run"]["dag_id"] == "taxi_tips_training"
    assert report["training_run"]["run_id"] == first["run_id"]
    assert [p["execution"]["run_id"] for p in report["pushes"]] == [first["run_id"]]


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
