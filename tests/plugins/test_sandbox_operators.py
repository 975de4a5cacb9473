"""The sandbox's three operators as Airflow's task runner calls them, on a real trained
model and real server processes: after a failed validation and after a cleared setup, the
teardown leaves no server running."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil
import pytest

from tests.conftest import mlrail_connection, write_taxi_spec
from tests.plugins.html_reading import Page
from tests.plugins.task_context import TaskInstance, context

pytestmark = pytest.mark.slow


def _servers_of(record: dict) -> list[int]:
    """The pids of the record's servers that are still running."""
    alive = []
    for server in record["running"].values():
        try:
            process = psutil.Process(server["pid"])
            if abs(process.create_time() - server["started"]) < 1e-3 and (
                process.status() != psutil.STATUS_ZOMBIE
            ):
                alive.append(server["pid"])
        except psutil.Error:
            continue
    return alive


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A spec, its stores behind the mlrail_default connection, and one trained model."""
    from mlrail.data.datagen import TaxiConfig, generate_taxi_trips, write_dataset
    from mlrail_airflow.operators import (
        ComputeStatisticsOperator,
        InferSchemaOperator,
        IngestExamplesOperator,
        TrainModelOperator,
    )

    root = tmp_path_factory.mktemp("sandbox-operators")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_MLRAIL_DEFAULT", mlrail_connection(root))
        data = write_dataset(
            generate_taxi_trips(TaxiConfig(rows=4000, seed=7)), root / "data" / "trips.parquet"
        )
        path = str(write_taxi_spec(root, data))
        results = {
            "examples": IngestExamplesOperator(task_id="ingest", spec_path=path).execute(context())
        }
        results["statistics"] = ComputeStatisticsOperator(
            task_id="statistics", spec_path=path, examples=results["examples"]
        ).execute(context())
        results["schema"] = InferSchemaOperator(
            task_id="schema", spec_path=path, statistics=results["statistics"]
        ).execute(context())
        results["model"] = TrainModelOperator(task_id="train", spec_path=path, **results).execute(
            context()
        )
        yield path, results, patch


def _start(path, results, try_number=1):
    from mlrail_airflow.operators import StartSandboxOperator

    ti = TaskInstance("sandbox_servers")
    ti.try_number = try_number
    operator = StartSandboxOperator(
        task_id="sandbox_servers", spec_path=path, model=results["model"]
    )
    return operator.execute(context(ti))


def _validate(path, results, record):
    from mlrail_airflow.operators import ValidateSandboxOperator

    operator = ValidateSandboxOperator(
        task_id="validate_sandbox",
        spec_path=path,
        model=results["model"],
        examples=results["examples"],
        schema=results["schema"],
        servers=record,
    )
    return operator.execute(context(task_id="validate_sandbox"))


def _stop(record):
    from mlrail_airflow.operators import StopSandboxOperator

    operator = StopSandboxOperator(task_id="stop_sandbox_servers", servers=record)
    return operator.execute(context(task_id="stop_sandbox_servers"))


def test_validation_blesses_a_first_model_and_teardown_stops_its_server(trained):
    from mlrail.spec import load_spec

    path, results, _ = trained
    record = _start(path, results)
    try:
        assert list(record["running"]) == ["candidate"] and _servers_of(record)
        result = _validate(path, results, record)
        verdict = result["verdict"]
        assert verdict["lets_through"], verdict["sentence"]
        assert "No blessed model to compare with" in verdict["sentence"]
        # The report holds the verdict's every check and sentence, and a chart per level
        # and of memory (no per-round ratios: nothing to compare with).
        folder = Path(result["artifacts"]["infra_blessing"]["uri"])
        blessing = json.loads((folder / "blessing.json").read_text())
        page = Page((folder / "report.html").read_text())
        checks = page.table_with("check")
        assert checks.column("check") == [c["name"] for c in blessing["checks"]]
        assert set(checks.column("result")) == {"pass"}
        assert " ".join(verdict["sentence"].split()) in page.text
        assert page.svgs == len(load_spec(path).sandbox.concurrency) + 1
    finally:
        assert _stop(record) == ["candidate"]
    assert not _servers_of(record) and not Path(record["root"]).exists()


def test_a_failed_validation_fails_at_once_and_teardown_leaves_no_server(trained):
    from airflow.sdk.exceptions import AirflowFailException

    path, results, _ = trained
    record = _start(path, results)
    (pid,) = _servers_of(record)
    os.killpg(pid, signal.SIGKILL)  # the candidate's server crashes before the validation
    with pytest.raises(AirflowFailException, match="clear the sandbox_servers task"):
        _validate(path, results, record)
    _stop(record)
    assert not _servers_of(record) and not Path(record["root"]).exists()


def test_a_cleared_setup_stops_the_servers_an_earlier_try_left(trained):
    """The earlier try's teardown never ran (its worker died): the new try stops them."""
    path, results, _ = trained
    first = _start(path, results)
    second = _start(path, results, try_number=2)
    try:
        assert not _servers_of(first) and _servers_of(second)
        assert _validate(path, results, second)["verdict"]["lets_through"]
    finally:
        _stop(second)
    assert not _servers_of(second)
