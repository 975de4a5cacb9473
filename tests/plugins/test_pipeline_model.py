"""A pipeline declared in one place: a toy DAG kind with a stage of its own
(tests/pipeline_toy.py) renders to Airflow, runs in-process, and shows its stage and
verdict on the run page and in the summary, with no change to the DAG factory, the pages
or the summary code."""

from __future__ import annotations

import pytest

from tests.dags.conftest import read_dagbag
from tests.pipeline_toy import TOY

pytestmark = pytest.mark.slow


def _spec(project, source):
    path = project / "include" / "pipelines" / "toy.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "pipeline: toy\n"
        f"data: {{source: '{source}', label: big_tipper, features: {{exclude: [trip_id, tips]}}}}\n"
    )
    return path


def test_a_toy_pipeline_renders_runs_and_reads_like_any_other(tmp_path, env, taxi_file):
    from mlrail.pipeline.runner import run_graph
    from mlrail.reports.pages import run_page
    from mlrail.reports.summary import format_summary
    from mlrail.spec import load_spec
    from mlrail.store.runner import RunInfo
    from mlrail.store.summary import run_summary

    spec_path = _spec(tmp_path, taxi_file)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "toy.py").write_text(
        "from mlrail_airflow.dag_factory import pipeline_dags\n"
        "from tests.pipeline_toy import TOY\n\n"
        f"globals().update(pipeline_dags({str(spec_path)!r}, kinds=(TOY,)))\n"
    )
    bag = read_dagbag(dags)
    assert bag["errors"] == {}
    assert bag["dags"]["toy_toy"]["tasks"] == {"ingest": [], "check_rows": ["ingest"]}

    spec = load_spec(spec_path)
    run = RunInfo(spec.pipeline, run_id="r1", dag_id="toy_toy", task_id="check_rows")
    results = run_graph(env, spec, TOY.graph(spec), run)
    rows = results["check_rows"].result["rows"]
    assert rows > 100 and results["check_rows"].result["verdict"]["lets_through"]

    page = run_page(env, "toy_toy", "r1")
    assert [s["component"] for s in page["stages"]] == ["ingest", "row_check"]
    (stage,) = [s for s in page["stages"] if s["component"] == "row_check"]
    assert stage["passed"] is True
    assert stage["verdict"] == f"Enough rows: {rows} train rows (at least 100)."
    summary = format_summary(run_summary(env, "toy_toy/r1")).splitlines()
    assert f"  row_check: Enough rows: {rows} train rows (at least 100)." in summary
    assert any(line.startswith("  dataset version 1: train ") for line in summary)
