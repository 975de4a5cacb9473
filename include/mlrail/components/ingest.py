"""Ingest (ExampleGen): read the data source and split it deterministically, streaming.

Each row goes to train, eval or test by a hash of its split key (the whole row unless
``split.key`` names columns), so the assignment depends on nothing but the row itself:
re-running gives the same splits and appending rows never moves an existing row. The
source is read a batch at a time and each split is written as it goes, so memory does
not grow with the data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlrail.data.dataset import iter_source
from mlrail.data.hashing import row_hashes
from mlrail.store.runner import Component, ExecutorContext, ExecutorOutput

SPLITS = ("train", "eval", "test")
ROW_GROUP = 262_144


def _mix(values: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 finalizer over hash ^ seed: a seed change reshuffles every row."""
    with np.errstate(over="ignore"):
        z = values ^ np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def split_of(
    table: pa.Table, ratios: dict[str, int], key: list[str] | None = None, seed: int = 0
) -> np.ndarray:
    """Split name per row from a seeded hash of the key columns; ratios are percentages."""
    missing = sorted(set(key or []) - set(table.schema.names))
    if missing:
        raise ValueError(f"split.key names columns {missing} that the data does not have")
    bucket = _mix(row_hashes(table, key or None), seed) % np.uint64(100)
    train, evaluation = ratios["train"], ratios["eval"]
    return np.where(bucket < train, "train", np.where(bucket < train + evaluation, "eval", "test"))


def assign_splits(
    frame: pd.DataFrame, ratios: dict[str, int], key: list[str] | None = None, seed: int = 0
) -> np.ndarray:
    """``split_of`` for a pandas frame."""
    return split_of(pa.Table.from_pandas(frame, preserve_index=False), ratios, key, seed)


def select_columns(
    names: list[str], source: str, label: str, include: list[str], exclude: list[str]
) -> list[str]:
    """Columns kept in the Examples: the requested features plus the label."""
    wanted = [label, *include, *exclude]
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ValueError(
            f"{source}: column(s) {missing} named in the pipeline spec are not in the data; "
            f"the data has {names}"
        )
    features = include or [c for c in names if c not in exclude and c != label]
    return [*features, label]


class _SplitWriters:
    """One Parquet writer per split, opened on the first batch with that batch's schema."""

    def __init__(self, out: Path):
        self.out, self.writers, self.rows = out, {}, dict.fromkeys(SPLITS, 0)
        self.schema: pa.Schema | None = None

    def write(self, table: pa.Table, splits: np.ndarray, url: str) -> None:
        if self.schema is None:
            self.schema = table.schema
            for name in SPLITS:
                (self.out / name).mkdir()
                self.writers[name] = pq.ParquetWriter(self.out / name / "data.parquet", self.schema)
        try:
            table = table.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise ValueError(
                f"{url}: column types {table.schema} do not match the first "
                f"batch's {self.schema}: {err}"
            ) from None
        for name in SPLITS:
            part = table.filter(pa.array(splits == name))
            if part.num_rows:
                self.writers[name].write_table(part, row_group_size=ROW_GROUP)
                self.rows[name] += part.num_rows

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def _check_labels(table: pa.Table, label: str, url: str, offset: int) -> None:
    empty = pc.is_null(table.column(label), nan_is_null=True)
    nulls = int(pc.sum(empty).as_py() or 0)
    if nulls:
        rows = (np.flatnonzero(empty.to_numpy()) + offset)[:5].tolist()
        raise ValueError(
            f"{url}: label column {label!r} is empty in {nulls} row(s) (first at rows "
            f"{rows}); drop or label those rows"
        )


def ingest(ctx: ExecutorContext) -> ExecutorOutput:
    dataset = ctx.inputs["dataset"]
    p = ctx.params
    writers = _SplitWriters(ctx.outputs["examples"])
    columns, offsets = None, {}
    try:
        for url, batch in iter_source(dataset.uri, p["format"]):
            if columns is None:
                columns = select_columns(
                    batch.schema.names, dataset.uri, p["label"], p["include"], p["exclude"]
                )
            offset = offsets.get(url, 0)
            _check_labels(batch, p["label"], url, offset)
            offsets[url] = offset + batch.num_rows
            splits = split_of(batch, p["ratios"], p["key"], p["seed"])
            writers.write(batch.select(columns), splits, url)
    finally:
        writers.close()
    if columns is None:
        raise ValueError(f"{dataset.uri}: the data source has no rows")
    properties = {
        "splits": writers.rows,
        "columns": columns,
        "label": p["label"],
        "dataset_version": dataset.properties.get("version"),
        "dataset_id": dataset.id,
    }
    return ExecutorOutput(
        properties={"examples": properties},
        result={"rows": writers.rows, "dataset_version": dataset.properties.get("version")},
    )


COMPONENT = Component(
    name="ingest",
    executor=ingest,
    outputs={"examples": "Examples"},
)
