"""An Airflow project with real mlrail history, served by a real ``airflow api-server``:
what the browser tests of mlrail's pages (tests/browser.py) open.

The history comes from real runs of ``taxi_tips_training`` (``dag.test()``, as
``airflow dags test`` runs it) on small generated data, so every page has something true
to show: two model versions, a comparison with the blessed one, cache hits.

1. ``runs.first``: data A -> model v1, blessed (there is nothing to compare it with);
2. ``runs.second``: data B (another seed, so a new dataset version) -> trains v2,
   evaluated against v1, blessed;
3. ``runs.again``: data B again -> the data stages and training are cache hits; validate
   and evaluate run again, because both compare with the blessed model, now v2;
4. ``runs.cached``: data B once more -> every stage is a cache hit (push, never cached,
   finds v2 in place and records nothing).

The server's simple auth manager knows one admin user, logged in: ``token`` is what the
Airflow UI keeps in its ``_token`` cookie and what the REST API takes as a Bearer token.
The ``ui_project`` fixture (tests/conftest.py) builds all this once per session.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.airflow_project import AirflowProject, ApiServer, prepare

if TYPE_CHECKING:  # the stores are imported when used: conftest.py imports this module
    from mlrail.store.runner import Env

DAG_ID = "taxi_tips_training"
MODEL = "taxi_tips"
ROWS = 3000
USER, PASSWORD = "admin", "admin-pw"
# The stages whose inputs are the data and the code alone: a run on the same data reuses
# them whichever model is blessed.
DATA_AND_TRAINING = ("ingest", "statistics", "schema", "train")


@dataclass(frozen=True)
class Runs:
    """Run ids of the taxi_tips_training runs, in order (see the module docstring)."""

    first: str
    second: str
    again: str
    cached: str


@dataclass(frozen=True)
class UiProject:
    """A served project: ``url`` of its API server (no trailing slash), the admin's
    ``token``, the ``runs``, and ``env``, the mlrail stores the server reads (open for the
    session; ``env.settings`` has their locations)."""

    url: str
    token: str
    runs: Runs
    env: Env
    project: AirflowProject
    data: tuple[Path, Path]  # the sources of data A and data B
    tasks: dict[str, dict[str, str]]  # run id -> task id -> the state it ended in

    @property
    def cookies(self) -> dict[str, str]:
        """The Airflow UI's login cookie, for Browser.open."""
        return {"_token": self.token}

    def page(self, path: str) -> str:
        """The absolute URL of ``path`` (``/mlrail/...``) on the server."""
        return f"{self.url}{path}"


def record_history(project: AirflowProject, data: Path) -> tuple[Runs, tuple[Path, Path], dict]:
    """Generate data A and B in ``data`` and make the runs, then check that the stores hold
    what the pages are meant to show; the runs, the data and every run's task states."""
    sources = data / "trips_a.parquet", data / "trips_b.parquet"
    for seed, source in enumerate(sources):
        datagen = ("datagen", "--out", str(source), "--rows", str(ROWS), "--seed", str(seed))
        project.run(sys.executable, "-m", "mlrail", *datagen)
    # One interpreter makes the four runs in turn (Airflow and TensorFlow imported once).
    made = project.dag_tests([(DAG_ID, {"data_source": str(sources[i])}) for i in (0, 1, 1, 1)])
    for result in made:
        if result["state"] != "success":
            raise AssertionError(f"{DAG_ID} run {result['run_id']} failed:\n{result['log']}")
    runs = Runs(*(result["run_id"] for result in made))

    from mlrail.store.runner import Env

    env = Env.open(project.settings())
    try:
        _check_history(env, runs)
    finally:
        env.metadata.close()
    return runs, sources, {result["run_id"]: result["tasks"] for result in made}


def _check_history(env: Env, runs: Runs) -> None:
    from mlrail.store.registry import ModelRegistry

    registry = ModelRegistry(env.metadata)
    pushed = [v.version for v in registry.versions(MODEL)]
    assert pushed == [1, 2], f"{MODEL} versions: {pushed}"
    history = [(h["from_version"], h["to_version"]) for h in registry.alias_history(MODEL)]
    assert history == [(None, 1), (1, 2)], f"blessed moved: {history}"
    (evaluation,) = env.metadata.executions(run_id=runs.second, component="evaluate")
    assert evaluation.parameters.get("baseline_version") == 1, evaluation.parameters
    again = {e.component: e.state for e in env.metadata.executions(run_id=runs.again)}
    assert all(again[stage] == "cached" for stage in DATA_AND_TRAINING), again
    cached = {e.component: e.state for e in env.metadata.executions(run_id=runs.cached)}
    assert "evaluate" in cached and cached.pop("push") == "complete", cached
    assert cached.pop("sandbox") == "complete", cached  # measured again: never cached
    assert set(cached.values()) == {"cached"}, cached


@contextmanager
def serve_ui_project(home: Path) -> Iterator[UiProject]:
    """Build the project in ``home`` and serve it; the server stops when the block ends."""
    from mlrail.store.runner import Env

    project = prepare(AirflowProject(home))
    data = home / "data"
    data.mkdir()
    runs, sources, tasks = record_history(project, data)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    server = ApiServer(
        project,
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API_AUTH__JWT_SECRET": "a secret for mlrail's browser tests only " * 2,
        },
        home / "api-server.log",
    )
    env = Env.open(project.settings())
    try:
        server.start()
        yield UiProject(server.url, _login(server.url), runs, env, project, sources, tasks)
    finally:
        server.stop()
        env.metadata.close()


def _login(url: str) -> str:
    """The admin's token, from the simple auth manager's login endpoint (the one the
    Airflow UI's login form posts to)."""
    import httpx

    answer = httpx.post(
        f"{url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["access_token"]
