"""Statistics of a known dataset version come from the metadata store, not the data."""

import sys

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import mlrail.data.dataset
from mlrail.components.pipeline import compute_statistics, ingest_examples
from mlrail.data.datagen import write_dataset
from mlrail.store.runner import RunInfo
from tests.conftest import spec_for

OPENED: list[str] = []
WATCHING = {"on": False}


def _audit(event, args):
    if WATCHING["on"] and event == "open" and str(args[0]).endswith((".parquet", ".csv")):
        OPENED.append(str(args[0]))


sys.addaudithook(_audit)  # audit hooks cannot be removed; WATCHING scopes this one


def _refuse(*args, **kwargs):
    raise AssertionError(f"a data file was opened during a cache hit: {args[:1]}")


def test_cache_hit_opens_no_data_file_and_new_rows_recompute(
    env, taxi_file, taxi_frame, monkeypatch
):
    spec = spec_for(taxi_file)
    examples = ingest_examples(env, spec, RunInfo(spec.pipeline, run_id="one"))
    stats = compute_statistics(
        env, spec, RunInfo(spec.pipeline, run_id="one"), examples.outputs["examples"].id
    )
    assert not stats.cached

    with monkeypatch.context() as patch:
        # Both Python-level opens (audited) and Arrow's own readers are watched.
        patch.setattr(pq, "ParquetFile", _refuse)
        patch.setattr(pacsv, "open_csv", _refuse)
        patch.setattr(mlrail.data.dataset, "iter_batches", _refuse)
        WATCHING["on"] = True
        try:
            again = ingest_examples(env, spec, RunInfo(spec.pipeline, run_id="two"))
            hit = compute_statistics(
                env, spec, RunInfo(spec.pipeline, run_id="two"), again.outputs["examples"].id
            )
        finally:
            WATCHING["on"] = False
    assert OPENED == []
    assert again.cached and hit.cached and hit.cached_from == stats.execution_id
    assert hit.outputs == stats.outputs

    more = pd.concat([taxi_frame, taxi_frame.iloc[:10].assign(trip_id=lambda f: f.trip_id + "b")])
    write_dataset(more, taxi_file)
    grown = ingest_examples(env, spec, RunInfo(spec.pipeline, run_id="three"))
    fresh = compute_statistics(
        env, spec, RunInfo(spec.pipeline, run_id="three"), grown.outputs["examples"].id
    )
    assert grown.result["dataset_version"] == 2 and not fresh.cached
    assert sum(fresh.result["rows"].values()) == len(more)


@pytest.mark.parametrize("engine", ["in_process", "beam"])
def test_engine_from_the_spec_is_recorded(env, taxi_file, engine):
    import dataclasses

    spec = spec_for(taxi_file)
    spec = dataclasses.replace(spec, statistics=dataclasses.replace(spec.statistics, engine=engine))
    run = RunInfo(spec.pipeline, run_id="r")
    examples = ingest_examples(env, spec, run).outputs["examples"].id
    result = compute_statistics(env, spec, run, examples)
    assert result.result["engine"] == engine
    document = env.artifacts.read_json(result.outputs["statistics"].uri, "statistics.json")
    assert document["engine"] == engine and document["splits"]["train"]["rows"] > 0
