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
from tests.plugins.html_reading import Page
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
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == PAGE_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    stages = Page(page.text).table_with("stage")
    assert [cell.split()[0] for cell in stages.column("stage")] == ["ingest", "validate", "train"]
    assert set(stages.column("state")) == {"computed"}
    data = client.get("/runs/demo_training/manual__1", params={"format": "json"}).json()
    assert {s["component"]: s["state"] for s in data["stages"]}["train"] == "complete"
    missing = client.get("/runs/demo_training/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no mlrail executions recorded for demo_training/nope"
    assert missing.headers["x-content-type-options"] == "nosniff"


def test_lineage_page(client, tmp_path):
    data = client.get("/lineage/demo/1", params={"format": "json"}).json()
    assert data["dataset"]["source"] == "d.csv"  # outside every root: its name only
    assert data["training_run"]["run_id"] == "manual__1"
    assert data["aliases"] == ["blessed"]
    page = client.get("/lineage/demo/1")
    assert str(tmp_path) not in page.text and "vNone" not in page.text
    history = Page(page.text).table_with("alias")
    assert history.rows[1][1:4] == ["blessed", "unset (first)", "v1"]
    assert client.get("/models/demo/versions/1").text == page.text
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


def test_models_and_a_model_page_link_versions_and_runs(client):
    page = Page(client.get("/models").text)
    models = page.table_with("model")
    assert models.column("model") == ["demo"] and models.column("blessed") == ["v1"]
    assert page.hrefs("v1") == ["/mlrail/models/demo/versions/1"]
    assert page.hrefs("demo_training") == ["/mlrail/runs/demo_training"]
    model = Page(client.get("/models/demo").text)
    versions = model.table_with("version")
    assert versions.column("version") == ["v1"] and versions.column("aliases") == ["blessed"]
    assert model.hrefs("manual__1") == ["/mlrail/runs/demo_training/manual__1"]
    assert client.get("/models/nothing").json() == {"detail": "no model 'nothing' in the registry"}


def test_the_models_list_shows_only_models_the_caller_may_read(client, app_for):
    hidden = app_for(reader(lambda user, dag_id: dag_id != "demo_training"))
    answer = hidden.get("/models", params={"format": "json"})
    assert answer.status_code == 200 and answer.json()["models"] == []
    assert "demo" not in Page(hidden.get("/models").text).text


def test_runs_of_a_dag(client):
    page = Page(client.get("/runs/demo_training").text)
    runs = page.table_with("run")
    assert runs.column("run") == ["manual__1"]
    assert runs.column("computed") == ["ingest, train, validate"]
    assert client.get("/runs/other_dag").status_code == 404


def test_artifacts_are_shown_by_id_and_relative_path_with_their_files(client, env, tmp_path):
    (model,) = env.metadata.executions(component="train")[0:1]
    artifact = env.metadata.io_of(model.id, "output")["model"]
    answer = client.get(f"/artifacts/{artifact.id}")
    assert str(tmp_path) not in answer.text
    page = Page(answer.text)
    assert page.table_with("file").column("file") == ["out.txt"]
    data = client.get(f"/artifacts/{artifact.id}", params={"format": "json"}).json()
    assert data["path"] == f"demo/manual__1/train/{model.id}/model"
    assert data["produced_by"]["component"] == "train"
    served = client.get(page.hrefs("out.txt")[0].removeprefix("/mlrail"))
    assert served.text.startswith("model from") and served.headers["content-security-policy"] == (
        "sandbox"
    )
    assert client.get(f"/artifacts/{artifact.id}/files/nope.txt").status_code == 404
    assert client.get(f"/artifacts/{artifact.id}/files/%2E%2E/x").status_code in (400, 404)
    assert client.get("/artifacts/999").json() == {"detail": "no artifact #999"}


def test_statistics_page_shows_every_feature_per_split_with_charts(
    env, prepare, taxi_file, app_for
):
    from tests.conftest import spec_for

    prepared = prepare(spec_for(taxi_file))
    client = app_for(reader())
    answer = client.get(f"/statistics/{prepared.statistics.id}")
    assert answer.status_code == 200 and str(taxi_file.parent) not in answer.text
    page = Page(answer.text)
    features = page.table_with("split")
    splits = ["train", "eval", "test"]
    schema = env.artifacts.read_json(prepared.schema.uri, "schema.json")
    names = [f["name"] for f in schema["features"]] + [schema["label"]["name"]]
    assert features.column("split") == splits * len(names)
    # One chart per feature (splits overlaid) and the colour key.
    assert page.svgs == len(names) + 1
    assert '<td class="num flag">' in answer.text  # the taxi data misses some pickup areas
    data = client.get(f"/statistics/{prepared.statistics.id}", params={"format": "json"}).json()
    pickup = next(f for f in data["features"] if f["name"] == "pickup_community_area")
    assert pickup["role"] == "categorical" and pickup["splits"]["train"]["flags"]["missing"]
    assert data["schema"]["label"]["name"] == schema["label"]["name"]
    assert set(page.hrefs(f"#{prepared.schema.id}")) == {f"/mlrail/artifacts/{prepared.schema.id}"}
    wrong = client.get(f"/statistics/{prepared.schema.id}")
    assert wrong.status_code == 404


def test_artifact_properties_show_no_server_path(client, env, settings, tmp_path):
    properties = {
        "serving_path": f"{settings.serving_root}/demo/1",
        "files": [{"path": f"file://{tmp_path}/d.csv", "size": 4}],
        "model": "demo",
    }
    pushed = env.metadata.put_artifact(
        "PushedModel", f"{settings.artifact_root}/demo/pushed", "fp-pushed", properties
    )
    answer = client.get(f"/artifacts/{pushed.id}")
    assert answer.status_code == 200 and str(tmp_path) not in answer.text
    assert client.get(f"/artifacts/{pushed.id}", params={"format": "json"}).json()[
        "properties"
    ] == {
        "serving_path": "serving/demo/1",
        "files": [{"path": "d.csv", "size": 4}],
        "model": "demo",
    }


def test_paths_are_shown_relative_to_their_root_however_the_root_is_spelled(env, tmp_path):
    import dataclasses

    from mlrail.reports.pages import display_path
    from mlrail.store.runner import Env

    spelled = dataclasses.replace(
        env.settings,
        artifact_root=env.settings.artifact_root + "/",
        data_roots=(str(tmp_path / "data") + "/",),
    )
    other = Env(spelled, env.artifacts, env.metadata)
    assert display_path(other, f"{env.artifacts.root}/demo/run/train/1/model") == (
        "demo/run/train/1/model"
    )
    assert display_path(other, f"file://{tmp_path}/data/trips.csv") == "data/trips.csv"
    assert display_path(other, "/elsewhere/secret/trips.csv") == "trips.csv"
    assert display_path(other, "gs://bucket/trips.csv") == "gs://bucket/trips.csv"
