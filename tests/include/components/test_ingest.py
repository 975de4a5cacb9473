"""Splits survive schema changes: re-ingesting a changed source never moves an old row.

Each test builds a table, ingests it, changes it the way sources change (a column added,
removed or reordered, rows appended), ingests the new version through the same stage the
DAG runs, and compares the split of every old row.
"""

import dataclasses

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlrail.components.pipeline import ingest_examples
from mlrail.data.datagen import write_dataset
from mlrail.data.split import SPLITS
from mlrail.store.runner import RunInfo
from tests.conftest import spec_for


def _table(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "row": np.arange(rows),  # identifies a row for the comparison; it stays a column
            "a": rng.normal(size=rows).round(3),
            "b": rng.choice(["x", "y", "z"], size=rows),
            "c": rng.integers(0, 50, size=rows),
            "y": rng.integers(0, 2, size=rows),
        }
    )


def _splits(env, result) -> dict[int, str]:
    uri = result.outputs["examples"].uri
    found = {}
    for split in SPLITS:
        rows = pq.read_table(f"{uri}/{split}/data.parquet", columns=["row"]).column("row")
        found.update(dict.fromkeys(rows.to_pylist(), split))
    return found


def _ingest(env, path, run_id, key=()):
    spec = spec_for(path)
    spec = dataclasses.replace(
        spec,
        data=dataclasses.replace(spec.data, label="y", features=type(spec.data.features)()),
        split=dataclasses.replace(spec.split, key=list(key)),
    )
    return ingest_examples(env, spec, RunInfo(spec.pipeline, run_id=run_id))


CHANGES = {
    "a column added": lambda t: t.assign(d=np.arange(len(t)) % 7 * 1.5),
    "a column removed": lambda t: t.drop(columns=["c"]),
    "columns reordered": lambda t: t[["y", "c", "row", "b", "a"]],
    "rows appended": lambda t: pd.concat(
        [t, _table(500, seed=1).assign(row=lambda f: f.row + 10**6)]
    ),
}


@pytest.mark.parametrize("key", [(), ("row",)], ids=["whole row", "split.key"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_no_old_row_moves(env, tmp_path, change, key):
    path = tmp_path / "data" / "table.parquet"
    table = _table()
    first = _ingest(env, write_dataset(table, path), "one", key)
    write_dataset(CHANGES[change](table), path)
    second = _ingest(env, path, "two", key)
    assert second.result["dataset_version"] == 2
    before, after = _splits(env, first), _splits(env, second)
    moved = [row for row, split in before.items() if after[row] != split]
    assert moved == [], f"{len(moved)} of {len(before)} rows moved after {change}"
    assert set(after) >= set(before)
    if change == "rows appended":  # new rows are split by the percentages too
        new = pd.Series([s for r, s in after.items() if r >= 10**6]).value_counts(normalize=True)
        assert new["train"] == pytest.approx(0.8, abs=0.06)


def test_a_chain_of_changes_still_moves_nothing(env, tmp_path):
    """Added, then removed, then appended: each version inherits from the one before."""
    path = tmp_path / "data" / "table.parquet"
    table = _table()
    original = _splits(env, _ingest(env, write_dataset(table, path), "v1"))
    table = table.assign(d=np.arange(len(table)) % 5)
    _ingest(env, write_dataset(table, path), "v2")
    table = table.drop(columns=["a"])
    third = _ingest(env, write_dataset(table, path), "v3")
    assert third.outputs["examples"].properties["split"]["inherited"]
    table = pd.concat([table, table.iloc[:100].assign(row=lambda f: f.row + 10**6)])
    latest = _splits(env, _ingest(env, write_dataset(table, path), "v4"))
    assert {row: latest[row] for row in original} == original


def test_without_a_previous_version_the_hash_alone_decides(env, tmp_path):
    result = _ingest(env, write_dataset(_table(), tmp_path / "data" / "t.parquet"), "one")
    split = result.outputs["examples"].properties["split"]
    assert split["rule"] == 2 and not split["inherited"] and split["ledger_columns"] is None
    examples = result.outputs["examples"].properties
    assert examples["columns"] == ["row", "a", "b", "c", "y"]
    assert examples["features"] == ["row", "a", "b", "c"]
