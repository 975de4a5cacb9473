"""Shared fixtures: real stores in a temporary folder, small generated datasets."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TAXI_SPEC = ROOT / "include" / "pipelines" / "taxi_tips.yaml"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def postgres():
    from tests.postgres import PostgresServer

    # Not under pytest's tmp folder: that one is private to root, and the server may run as
    # the postgres user.
    root = Path(tempfile.mkdtemp(prefix="mlrail-pg-"))
    server = PostgresServer(root).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_project(tmp_path_factory):
    """A migrated Airflow home with airflow_settings.yaml loaded, shared by the session."""
    from tests.airflow_project import AirflowProject, prepare

    return prepare(AirflowProject(tmp_path_factory.mktemp("airflow-project")))


@pytest.fixture(scope="session")
def ui_project(tmp_path_factory):
    """The served project with real history (tests/plugins/ui_project.py: four DAG runs,
    about two minutes), built once per session for the pages and the DAG's own tests."""
    from tests.plugins.ui_project import serve_ui_project

    with serve_ui_project(tmp_path_factory.mktemp("ui-project")) as project:
        yield project


def local_settings(root: Path):
    """Settings of stores under ``root``: artifacts, a SQLite metadata store, a serving root."""
    from mlrail.store.settings import Settings

    return Settings(
        artifact_root=str(root / "artifacts"),
        metadata_url=f"sqlite:///{root / 'metadata.db'}",
        serving_root=str(root / "serving"),
    )


@pytest.fixture
def settings(tmp_path):
    return local_settings(tmp_path)


@pytest.fixture
def env(settings):
    from mlrail.store.runner import Env

    environment = Env.open(settings)
    yield environment
    environment.metadata.close()


@pytest.fixture
def taxi_frame():
    from mlrail.data.datagen import TaxiConfig, generate_taxi_trips

    return generate_taxi_trips(TaxiConfig(rows=4000, seed=7))


@pytest.fixture
def taxi_file(tmp_path, taxi_frame):
    from mlrail.data.datagen import write_dataset

    return write_dataset(taxi_frame, tmp_path / "data" / "trips.parquet")


def label_of(values: list, task: str, name: str = "y", positive=None) -> dict:
    """The schema's label entry that inference makes for a column of ``values``."""
    import pandas as pd

    from mlrail.data.labels import infer_label
    from mlrail.data.statistics import table_statistics

    stats = table_statistics(pd.DataFrame({name: values}))["features"][name]
    return infer_label(stats, name, task, positive)


# A short sandbox: the same checks on fewer requests. Two rounds of 30 requests are one
# turn pair each, far too few to decide a comparison, and tests never judge the machine's
# speed, so the limits are wide too; tests/include/serving/test_sandbox.py holds the
# latency checks to account, and benchmarks/serving/run.py measures how often noise flips them.
TEST_SANDBOX = {
    "concurrency": [1, 4],
    "rounds": 2,
    "requests_per_round": 30,
    "warmup_requests": 5,
    "max_latency_ratio": 100.0,
    # No extra rounds: two rounds never decide a comparison, which stays inconclusive and
    # pushes (the default on_inconclusive); the DAG tests judge the pipeline, not latency.
    "max_rounds": 2,
    "p99_budget_ms": 60_000.0,
}


def sandbox_yaml() -> str:
    """``TEST_SANDBOX`` as a spec's ``sandbox:`` line (JSON is YAML's flow style)."""
    return f"sandbox: {json.dumps(TEST_SANDBOX)}\n"


def write_taxi_spec(root: Path, data: Path, extra: str = "") -> Path:
    """A taxi spec for ``data`` in a project of its own under ``root``: one epoch, no user
    expectations, the short sandbox; ``extra`` is appended YAML."""
    spec = root / "include" / "pipelines" / "taxi_tips.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text(
        "pipeline: taxi_tips\n"
        f'data: {{source: "{data}", label: big_tipper, features: {{exclude: [trip_id, tips]}}}}\n'
        "train: {hyperparameters: {epochs: 1, batch_size: 256}}\n"
        "expectations: {enabled: false}\n" + sandbox_yaml() + extra
    )
    return spec


def mlrail_connection(root: Path) -> str:
    """The ``AIRFLOW_CONN_MLRAIL_DEFAULT`` value of stores under ``root``."""
    extra = {
        "artifact_root": str(root / "artifacts"),
        "metadata_url": f"sqlite:///{root / 'metadata.db'}",
    }
    return json.dumps({"conn_type": "generic", "extra": extra})


def spec_for(source: Path, **overrides):
    """The real taxi spec pointed at ``source``, with small training and a short sandbox
    for tests."""
    import dataclasses

    from mlrail.spec import load_spec

    spec = load_spec(TAXI_SPEC)
    train = dataclasses.replace(
        spec.train, hyperparameters={"epochs": 2, "batch_size": 128, "hidden_units": [16]}
    )
    overrides.setdefault("sandbox", dataclasses.replace(spec.sandbox, **TEST_SANDBOX))
    return dataclasses.replace(
        spec, data=dataclasses.replace(spec.data, source=str(source)), train=train, **overrides
    )


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What ingest -> statistics -> schema produced: where later stages start from."""

    spec: Any
    run: Any
    results: dict[str, Any]  # stage -> ComponentResult

    def artifact(self, stage: str):
        (artifact,) = self.results[stage].outputs.values()
        return artifact

    @property
    def examples(self):
        return self.artifact("ingest")

    @property
    def statistics(self):
        return self.artifact("statistics")

    @property
    def schema(self):
        return self.artifact("schema")

    @property
    def ids(self) -> tuple[int, int, int]:
        """Examples, statistics and schema ids, in the order the stage functions take them."""
        return self.examples.id, self.statistics.id, self.schema.id

    def xcom(self) -> dict[str, dict]:
        """What the upstream operators returned, keyed by the downstream argument names."""
        names = {"ingest": "examples", "statistics": "statistics", "schema": "schema"}
        return {names[stage]: result.to_xcom() for stage, result in self.results.items()}


@dataclasses.dataclass(frozen=True)
class Pushed:
    """A whole training pipeline run in process, its model pushed."""

    settings: Any
    results: dict[str, Any]  # stage -> ComponentResult
    schema: dict

    @property
    def model(self):
        return self.results["train"].outputs["model"]

    @property
    def test_split(self) -> Path:
        return Path(self.results["ingest"].outputs["examples"].uri) / "test" / "data.parquet"


def train_and_push(root: Path, spec, run_id: str = "r1") -> Pushed:
    """Run ``spec``'s whole training pipeline in stores under ``root`` (local_settings); a
    model that is not pushed is an error carrying both verdicts."""
    from mlrail.components.pipeline import run_training_pipeline
    from mlrail.store.runner import Env, RunInfo

    settings = local_settings(root)
    env = Env.open(settings)
    try:
        results = run_training_pipeline(env, spec, RunInfo(spec.pipeline, spec.digest, run_id))
        if not results["push"].result.get("pushed"):
            raise RuntimeError(f"the model was not pushed: {results['push'].result}")
        schema = env.artifacts.read_json(results["schema"].outputs["schema"].uri, "schema.json")
    finally:
        env.metadata.close()
    return Pushed(settings, results, schema)


def prepare_data(env, spec, run_id: str = "r") -> Prepared:
    """Run ingest, statistics and schema inference for ``spec`` in ``env``."""
    from mlrail.components.pipeline import compute_statistics, infer_schema, ingest_examples
    from mlrail.store.runner import RunInfo

    run = RunInfo(spec.pipeline, run_id=run_id)
    ingest = ingest_examples(env, spec, run)
    statistics = compute_statistics(env, spec, run, ingest.outputs["examples"].id)
    schema = infer_schema(env, spec, run, statistics.outputs["statistics"].id)
    return Prepared(spec, run, {"ingest": ingest, "statistics": statistics, "schema": schema})


@pytest.fixture
def prepare(env):
    """``prepare(spec, run_id="r", env=None)``: ingest, statistics and schema of ``spec``
    (in the test's stores unless ``env`` is given), as a Prepared."""

    def run(spec, run_id: str = "r", env=env) -> Prepared:
        return prepare_data(env, spec, run_id)

    return run


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups off the marks
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, tests sharing an expensive setup run on one worker
    (tests/shared_setups.py); `make test` runs two workers with ``--dist loadgroup``."""
    if not getattr(config.option, "loadgroup", False):  # what xdist sets on its workers
        return
    from tests.shared_setups import groups

    found = groups(items)
    for item in items:
        if item.nodeid in found:
            item.add_marker(pytest.mark.xdist_group(found[item.nodeid]))
