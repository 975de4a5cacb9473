"""Mergeable per-column and per-table accumulators over Arrow record batches.

``TableAccumulator.add(batch)`` folds one ``pyarrow.RecordBatch`` (or Table) in;
``merge`` combines two accumulators; ``result()`` returns the JSON-able statistics. The
in-process engine and the Beam CombineFn both use exactly these classes, so both engines
give the same exact fields (counts, sums, min/max, exact value counts) and sketch fields
within the sketches' documented error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlrail.data.hashing import combine, is_numeric, numeric_hashes, string_hashes
from mlrail.data.statistics.sketches import FrequencyCounter, QuantileSketch

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
BUCKETS = 10
# Quantiles every 0.1 %: validation estimates the share of values outside a schema range
# from this grid without reading the data again.
GRID = np.linspace(0.0, 1.0, 1001)


@dataclass(frozen=True)
class StatsConfig:
    top_k: int = 20
    vocabulary_size: int = 1000
    categorical_max_unique: int = 100
    # Distinct values counted exactly before the frequency sketch takes over.
    exact_unique_bound: int = 100_000
    sketch_k: int = 4096


@dataclass(frozen=True)
class EncodedColumn:
    """A string column dictionary-encoded once per batch: its distinct values, their
    hashes and counts, and a hash per row. Value counts, distinct counts and row hashes
    all come from this one pass."""

    values: np.ndarray
    hashes: np.ndarray
    counts: np.ndarray
    total_length: int
    nulls: int
    row_hashes: np.ndarray

    @classmethod
    def of(cls, column: pa.Array) -> EncodedColumn:
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = pc.cast(column, pa.string())
        encoded = pc.dictionary_encode(column)
        values = encoded.dictionary.to_numpy(zero_copy_only=False)
        hashes = pd.util.hash_array(values)
        lengths = pc.utf8_length(encoded.dictionary).to_numpy(zero_copy_only=False)
        rows = string_hashes(hashes, encoded.indices)
        codes = encoded.indices.drop_null().to_numpy(zero_copy_only=False).astype(np.int64)
        counts = np.bincount(codes, minlength=len(values))
        return cls(values, hashes, counts, int((lengths * counts).sum()), column.null_count, rows)


class NumericAccumulator:
    kind = "numeric"

    def __init__(self, config: StatsConfig):
        self.config = config
        self.rows = self.missing = self.nan = self.inf = self.zeros = 0
        self.n, self.mean, self.m2 = 0, 0.0, 0.0
        self.low, self.high = np.inf, -np.inf
        self.integral = True
        self.sketch = QuantileSketch(config.sketch_k)
        # Value counts only while the column can still be a categorical (integral, few values).
        self.values: FrequencyCounter | None = FrequencyCounter(config.categorical_max_unique)

    def add(self, array: pa.Array) -> None:
        self.rows += len(array)
        values = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        nan = np.isnan(values)
        self.nan += int(nan.sum()) - array.null_count
        self.missing += int(nan.sum())
        finite_mask = ~nan & np.isfinite(values)
        self.inf += int((~nan & ~finite_mask).sum())
        finite = values[finite_mask]
        if finite.size == 0:
            return
        self.zeros += int((finite == 0).sum())
        self._moments(finite)
        self.sketch.add(finite)
        if self.integral and not np.all(np.mod(finite, 1) == 0):
            self.integral = False
        if self.values is not None:
            if self.integral:
                counts = pd.Series(finite).value_counts()
                self.values.add_counts(counts, pd.util.hash_array(counts.index.to_numpy()))
            if not self.integral or not self.values.exact:
                self.values = None  # too many values (or fractional): not a categorical

    def _moments(self, finite: np.ndarray) -> None:
        # Chan et al.'s parallel update: exact to rounding, mergeable in any order.
        n_b, mean_b = finite.size, float(finite.mean())
        m2_b = float(((finite - mean_b) ** 2).sum())
        self._combine(n_b, mean_b, m2_b)
        self.low, self.high = (
            min(self.low, float(finite.min())),
            max(self.high, float(finite.max())),
        )

    def _combine(self, n_b: int, mean_b: float, m2_b: float) -> None:
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n

    def merge(self, other: NumericAccumulator) -> NumericAccumulator:
        for name in ("rows", "missing", "nan", "inf", "zeros"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.n:
            self._combine(other.n, other.mean, other.m2)
        self.low, self.high = min(self.low, other.low), max(self.high, other.high)
        self.integral = self.integral and other.integral
        self.sketch.merge(other.sketch)
        if self.values is None or other.values is None or not self.integral:
            self.values = None
        else:
            self.values.merge(other.values)
            if not self.values.exact:
                self.values = None
        return self

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "numeric",
            "count": self.rows - self.missing,
            "missing": self.missing,
            "nan": self.nan,
            "inf": self.inf,
            "zeros": self.zeros,
            "integral": self.integral,
        }
        if self.n == 0:
            return {
                **out,
                "mean": None,
                "std": None,
                "min": None,
                "max": None,
                "median": None,
                "quantiles": {},
                "histogram": [],
                "quantile_histogram": [],
                "quantile_grid": [],
                "unique": 0,
            }
        qs = self.sketch.quantiles(list(QUANTILES))
        out.update(
            mean=self.mean,
            std=float(np.sqrt(self.m2 / self.n)),
            min=self.low,
            max=self.high,
            median=qs[QUANTILES.index(0.5)],
            quantiles={str(q): v for q, v in zip(QUANTILES, qs, strict=True)},
            histogram=self._equal_width(),
            quantile_histogram=self._by_quantile(),
            quantile_grid=[round(v, 12) for v in self.sketch.quantiles(list(GRID))],
        )
        if self.values is not None:
            out["unique"] = self.values.unique()
            out.update(_top(self.values, self.config))
        else:
            out["unique"] = None  # more than categorical_max_unique distinct values
        return out

    def _equal_width(self) -> list[dict[str, float]]:
        edges = np.linspace(self.low, self.high, BUCKETS + 1)
        shares = np.diff(np.concatenate([[0.0], self.sketch.cdf(edges[1:-1]), [1.0]]))
        return [
            {"low": float(lo), "high": float(hi), "count": float(s * self.n)}
            for lo, hi, s in zip(edges[:-1], edges[1:], shares, strict=True)
        ]

    def _by_quantile(self) -> list[dict[str, float]]:
        inner = self.sketch.quantiles([i / BUCKETS for i in range(1, BUCKETS)])
        edges = [self.low, *inner, self.high]
        return [
            {"low": float(lo), "high": float(hi), "count": self.n / BUCKETS}
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        ]


def _top(values: FrequencyCounter, config: StatsConfig) -> dict[str, Any]:
    top = [
        {"value": _plain(v), "count": int(c)}
        for v, c in values.top(max(config.top_k, config.vocabulary_size))
    ]
    return {"top_values": top, "top_k": top[: config.top_k], "top_exact": values.exact}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class StringAccumulator:
    kind = "string"

    def __init__(self, config: StatsConfig):
        self.config = config
        self.rows = self.missing = self.total_length = 0
        self.values = FrequencyCounter(config.exact_unique_bound)

    def add(self, array: pa.Array) -> None:
        self.add_encoded(EncodedColumn.of(array), len(array))

    def add_encoded(self, column: EncodedColumn, rows: int) -> None:
        self.rows += rows
        self.missing += column.nulls
        self.total_length += column.total_length
        present = column.counts > 0
        self.values.add_counts(
            pd.Series(column.counts[present], index=column.values[present], dtype=np.int64),
            column.hashes[present],
        )

    def merge(self, other: StringAccumulator) -> StringAccumulator:
        self.rows += other.rows
        self.missing += other.missing
        self.total_length += other.total_length
        self.values.merge(other.values)
        return self

    def result(self) -> dict[str, Any]:
        count = self.rows - self.missing
        return {
            "kind": "string",
            "count": count,
            "missing": self.missing,
            "avg_length": self.total_length / count if count else 0.0,
            "unique": self.values.unique(),
            "unique_exact": self.values.exact,
            **_top(self.values, self.config),
        }


class TableAccumulator:
    """Statistics of every column of a table, plus row count and duplicate rows."""

    def __init__(self, config: StatsConfig = StatsConfig()):
        self.config = config
        self.rows = 0
        self.columns: dict[str, NumericAccumulator | StringAccumulator] = {}
        self.row_hashes: list[np.ndarray] = []

    def add(self, batch: pa.RecordBatch | pa.Table) -> TableAccumulator:
        self.rows += batch.num_rows
        per_column = []
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            if name not in self.columns:
                kind = NumericAccumulator if is_numeric(column.type) else StringAccumulator
                self.columns[name] = kind(self.config)
            accumulator = self.columns[name]
            if isinstance(accumulator, StringAccumulator):
                encoded = EncodedColumn.of(column)
                accumulator.add_encoded(encoded, len(column))
                hashes = encoded.row_hashes
            else:
                accumulator.add(column)
                hashes = numeric_hashes(column)
            per_column.append(hashes)
        # Row hashes are deduplicated once, in result(): per-batch set unions cost more than
        # the rest of the statistics together.
        self.row_hashes.append(combine(per_column, batch.num_rows))
        return self

    def merge(self, other: TableAccumulator) -> TableAccumulator:
        self.rows += other.rows
        for name, acc in other.columns.items():
            if name in self.columns:
                self.columns[name].merge(acc)
            else:
                self.columns[name] = acc
        self.row_hashes.extend(other.row_hashes)
        return self

    def result(self) -> dict[str, Any]:
        hashes = np.concatenate(self.row_hashes) if self.row_hashes else np.empty(0, np.uint64)
        # Sorting in place needs no hash table: 8 bytes a row, not ~50.
        hashes.sort()
        distinct = int(hashes.size and 1 + np.count_nonzero(hashes[1:] != hashes[:-1]))
        self.row_hashes = [hashes]
        return {
            "rows": self.rows,
            # 64-bit row hashes: a collision would hide a duplicate in about 1 of 2^64 pairs.
            "duplicate_rows": self.rows - distinct,
            "features": {
                name: {"name": name, **acc.result()} for name, acc in self.columns.items()
            },
        }
