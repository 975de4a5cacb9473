"""The /mlrail pages, over a small lineage graph recorded through the real runner.

The app is built with an ``Access`` that knows a fixed caller, so these tests read page
content; tests/plugins/test_web_login.py logs in through a real Airflow API server.
"""

import sqlite3
import threading

import pytest
from fastapi.testclient import TestClient

from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import RunInfo, run_component
from mlrail_airflow.web import PAGE_POLICY, Access, create_app
from tests.plugins.web_records import FIT, SCHEMA_DOCS, XSS, record_run


def reader(may_read=lambda user, dag_id: True) -> Access:
    """Access for a logged-in ``tester`` who may read the DAGs ``may_read`` allows."""
    return Access(user=lambda: "tester", may_read=may_read)


@pytest.fixture
def app_for(settings):
    return lambda access: TestClient(create_app(lambda: settings, access))


@pytest.fixture
def client(env, app_for, tmp_path):
    record_run(env, tmp_path / "d.csv", "demo_training")
    return app_for(reader())


def test_run_page(client):
    page = client.get("/runs/demo_training/manual__1")
    assert page.status_code == 200 and "computed: ingest, train, validate" in page.text
    assert page.headers["content-security-policy"] == PAGE_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    data = client.get("/runs/demo_training/manual__1", params={"format": "json"}).json()
    assert data["steps"]["train"]["state"] == "complete"
    missing = client.get("/runs/demo_training/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no mlrail executions recorded for demo_training/nope"
    assert missing.headers["x-content-type-options"] == "nosniff"


def test_lineage_page(client, tmp_path):
    data = client.get("/lineage/demo/1", params={"format": "json"}).json()
    assert data["dataset"]["source"] == str(tmp_path / "d.csv")
    assert data["training_run"]["run_id"] == "manual__1"
    assert data["aliases"] == ["blessed"]
    page = client.get("/lineage/demo/1")
    assert "alias blessed: set to v1 (first)" in page.text and "vNone" not in page.text
    missing = client.get("/lineage/demo/7")
    # Names the missing version, and not the ones a caller may not be allowed to see.
    assert missing.status_code == 404 and missing.json() == {
        "detail": "model 'demo' has no version 7"
    }


def test_data_docs_are_served_from_the_anomalies_artifact(client):
    page = client.get("/runs/demo_training/manual__1/gx-docs/index.html")
    assert page.status_code == 200 and "fares_are_small" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert client.get("/runs/demo_training/nope/gx-docs/index.html").status_code == 404
    escape = client.get("/runs/demo_training/manual__1/gx-docs/%2E%2E/%2E%2E/etc/passwd")
    assert escape.status_code in (400, 404)


def test_a_script_in_the_data_docs_cannot_run_on_the_airflow_origin(client):
    page = client.get(f"/runs/demo_training/manual__1/gx-docs/{SCHEMA_DOCS}")
    assert page.status_code == 200 and XSS in page.text  # served as stored, but inert:
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == "sandbox"
    assert page.headers["x-content-type-options"] == "nosniff"


def test_not_found_names_the_missing_thing_and_no_server_path(client, settings, tmp_path):
    missing = client.get("/runs/demo_training/manual__1/gx-docs/other.html")
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "other.html is not in the Data Docs of demo_training/manual__1"
    }
    for response in (
        missing,
        client.get("/runs/demo_training/nope/gx-docs/index.html"),
        client.get("/lineage/demo/7"),
        client.get("/lineage/nothing/1"),
    ):
        assert response.status_code == 404
        assert str(tmp_path) not in response.text and settings.artifact_root not in response.text


def test_pages_wait_for_no_writer(client, settings):
    # A task in the middle of a write holds SQLite's write lock; pages read a snapshot
    # instead of queueing behind it (the old pages migrated on open: a 30 s busy wait).
    writer = sqlite3.connect(settings.metadata_url.removeprefix("sqlite:///"))
    writer.isolation_level = None
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM executions")  # uncommitted: pages still see every run
    answers = {}

    def view():
        for path in (
            "/runs/demo_training/manual__1",
            "/runs/demo_training/manual__1/gx-docs/index.html",
            "/lineage/demo/1",
        ):
            answers[path] = client.get(path).status_code

    viewer = threading.Thread(target=view, daemon=True)
    try:
        viewer.start()
        viewer.join(timeout=10)  # only a page waiting for the lock gets near this
        assert not viewer.is_alive(), f"a page waited for the writer; answered: {answers}"
    finally:
        writer.rollback()
        writer.close()
    assert set(answers.values()) == {200}, answers


def test_a_store_nothing_has_written_to_yet(tmp_path):
    from mlrail.store.settings import Settings

    empty = Settings(
        artifact_root=str(tmp_path / "none" / "artifacts"),
        metadata_url=f"sqlite:///{tmp_path / 'none' / 'metadata.db'}",
        serving_root=str(tmp_path / "none" / "serving"),
    )
    client = TestClient(create_app(lambda: empty, reader()))
    for path in ("/runs/demo_training/manual__1", "/lineage/demo/1"):
        page = client.get(path)
        assert page.status_code == 404 and page.json() == {
            "detail": "no mlrail metadata recorded yet"
        }
    assert not (tmp_path / "none").exists()  # looking created neither a file nor a schema


def test_pages_show_only_the_dags_the_caller_may_read(client, app_for, env):
    hidden = app_for(reader(lambda user, dag_id: dag_id != "demo_training"))
    for path in (
        "/runs/demo_training/manual__1",
        "/runs/demo_training/nope",  # 403 before looking: no oracle for which runs exist
        "/runs/demo_training/manual__1/gx-docs/index.html",
        "/lineage/demo/1",  # trained by a demo_training run
    ):
        response = hidden.get(path)
        assert response.status_code == 403 and "fares" not in response.text, path
    assert hidden.get("/lineage/demo/7").status_code == 404

    # A version no DAG run produced (registered from the command line) needs read access
    # to every DAG.
    outside = RunInfo("cli", run_id="local__1")
    model = run_component(env, FIT, {}, {"lr": 0.2}, outside).outputs["model"]
    ModelRegistry(env.metadata).register("cli", model.id, None)
    ModelRegistry(env.metadata).publish("cli", 1, "blessed", "manual", "tester", None)
    some_dags = app_for(reader(lambda user, dag_id: dag_id is not None))
    assert some_dags.get("/lineage/cli/1").status_code == 403
    assert client.get("/lineage/cli/1").status_code == 200
