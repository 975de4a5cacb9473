"""The benchmark table: N rows of 20 numeric and 5 categorical columns, written as Parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK = 1_000_000


def _chunk(rng: np.random.Generator, n: int) -> pa.Table:
    columns = {}
    for i in range(20):
        kind = i % 4
        if kind == 0:
            values = rng.normal(100 * i, 10 + i, n)
        elif kind == 1:
            values = rng.lognormal(1.0, 0.8, n)
        elif kind == 2:
            values = rng.integers(0, 1000, n).astype(np.float64)
        else:
            values = rng.exponential(5.0, n)
        values[rng.random(n) < 0.01] = np.nan
        columns[f"num_{i:02d}"] = values
    sizes = [5, 50, 1_000, 20_000, 500_000]
    for j, size in enumerate(sizes):
        codes = np.minimum(rng.zipf(1.3, n), size) - 1
        labels = np.array([f"c{j}_{k:06d}" for k in range(size)], dtype=object)
        array = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), labels)
        columns[f"cat_{j}"] = array.cast(pa.string())
    return pa.table(columns)


def make_table(path: Path, rows: int, seed: int = 0) -> Path:
    """Write ``rows`` rows to ``path`` (reused if already there with that many rows)."""
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, _chunk(rng, 1).schema) as writer:
        for start in range(0, rows, CHUNK):
            writer.write_table(_chunk(rng, min(CHUNK, rows - start)), row_group_size=CHUNK // 4)
    tmp.replace(path)
    return path
