"""The /mlrail pages inside a real ``airflow api-server``: Airflow's login and auth manager.

The simple auth manager knows two users: ``viewer`` (may read every DAG) and ``outsider``
(logged in, but without a role: SimpleAuthManager denies a user with no role everything).
Tokens come from Airflow's own ``POST /auth/token``; pages are fetched over HTTP on
127.0.0.1.
"""

from __future__ import annotations

import json

import httpx
import pytest

from mlrail.store.runner import Env
from mlrail_airflow.web import PAGE_POLICY
from tests.airflow_project import AirflowProject, ApiServer, prepare
from tests.plugins.html_reading import Page
from tests.plugins.web_records import SCHEMA_DOCS, XSS, record_run

pytestmark = pytest.mark.slow

DAG_ID = "taxi_tips_training"  # a DAG of this project (dags/)
PASSWORDS = {"viewer": "viewer-pw", "outsider": "outsider-pw"}
RUN_PAGE = f"/mlrail/runs/{DAG_ID}/manual__1"
PAGES = (
    RUN_PAGE,
    f"{RUN_PAGE}/gx-docs/{SCHEMA_DOCS}",
    "/mlrail/lineage/demo/1",
    "/mlrail/models/demo",
    f"/mlrail/runs/{DAG_ID}",
)


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """Base URL of an API server whose mlrail store holds one run of ``DAG_ID``."""
    # An Airflow home of its own: airflow_settings.yaml points mlrail_default at its stores.
    project = prepare(AirflowProject(tmp_path_factory.mktemp("web-login")))
    env = Env.open(project.settings())
    try:
        record_run(env, project.home / "d.csv", DAG_ID)
    finally:
        env.metadata.close()
    passwords = project.home / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    server = ApiServer(
        project,
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "viewer:viewer,outsider:",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API_AUTH__JWT_SECRET": "a secret for the /mlrail login test only " * 2,
        },
        project.home / "api-server.log",
    )
    try:
        yield server.start().url
    finally:
        server.stop()


def _token(airflow: str, user: str) -> str:
    answer = httpx.post(
        f"{airflow}/auth/token",
        json={"username": user, "password": PASSWORDS[user]},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["access_token"]


def _as(airflow: str, user: str) -> httpx.Client:
    return httpx.Client(
        base_url=airflow, headers={"Authorization": f"Bearer {_token(airflow, user)}"}, timeout=30
    )


def test_nobody_logged_in_gets_401(airflow):
    for page in PAGES:
        answer = httpx.get(f"{airflow}{page}", timeout=30)
        assert answer.status_code == 401, (page, answer.text)
        assert XSS not in answer.text and "fares" not in answer.text


def test_a_user_without_access_to_the_dag_gets_403(airflow):
    with _as(airflow, "outsider") as outsider:
        for page in (*PAGES, f"/mlrail/runs/{DAG_ID}/no_such_run"):
            answer = outsider.get(page)
            # Refused by the DAG check (an unreadable token would say "Invalid JWT token").
            assert answer.status_code == 403 and answer.json() == {"detail": "Forbidden"}, page


def test_a_viewer_reads_the_pages_and_the_data_docs_stay_inert(airflow):
    with _as(airflow, "viewer") as viewer:
        run = viewer.get(RUN_PAGE)
        assert run.status_code == 200 and "ingest" in Page(run.text).table_with("stage").text()
        assert run.headers["content-security-policy"] == PAGE_POLICY
        lineage = viewer.get("/mlrail/lineage/demo/1", params={"format": "json"})
        assert lineage.status_code == 200 and lineage.json()["training_run"]["dag_id"] == DAG_ID
        docs = viewer.get(f"{RUN_PAGE}/gx-docs/{SCHEMA_DOCS}")
        assert docs.status_code == 200 and XSS in docs.text
        assert docs.headers["content-type"].startswith("text/html")
        assert docs.headers["content-security-policy"] == "sandbox"
        assert docs.headers["x-content-type-options"] == "nosniff"
        assert viewer.get("/mlrail/lineage/demo/7").json() == {
            "detail": "model 'demo' has no version 7"
        }


def test_the_ui_session_cookie_logs_in_as_well(airflow):
    with httpx.Client(base_url=airflow, timeout=30) as browser:
        browser.cookies.set("_token", _token(airflow, "viewer"))
        assert browser.get(RUN_PAGE).status_code == 200
        assert browser.get(f"{RUN_PAGE}/gx-docs/{SCHEMA_DOCS}").status_code == 200
        browser.cookies.set("_token", _token(airflow, "outsider"))
        assert browser.get(RUN_PAGE).status_code == 403
