"""Shared fixtures: real stores in a temporary folder, small generated datasets."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

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


@pytest.fixture
def settings(tmp_path):
    from mlrail.store.settings import Settings

    return Settings(
        artifact_root=str(tmp_path / "artifacts"),
        metadata_url=f"sqlite:///{tmp_path / 'metadata.db'}",
        serving_root=str(tmp_path / "serving"),
    )


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


def spec_for(source: Path, **overrides):
    """The real taxi spec pointed at ``source``, with small training for tests."""
    import dataclasses

    from mlrail.spec import load_spec

    spec = load_spec(TAXI_SPEC)
    train = dataclasses.replace(
        spec.train, hyperparameters={"epochs": 2, "batch_size": 128, "hidden_units": [16]}
    )
    return dataclasses.replace(
        spec, data=dataclasses.replace(spec.data, source=str(source)), train=train, **overrides
    )
