"""Mergeable sketches: quantiles (KLL-style), distinct counts (HyperLogLog), frequencies.

Every sketch has ``add`` for a batch of values and ``merge`` for another sketch of the
same kind, so a column can be summarised in chunks, in parallel, and combined in any
order (in-process over Parquet row groups, or as a Beam CombineFn).

Documented error (checked in tests/include/test_sketches.py):

* QuantileSketch(k=4096): rank error below 0.5 % of the count;
* HyperLogLog(p=14): relative error of the distinct count around 1 % (1.04 / sqrt(2^p));
* FrequencyCounter: exact while the number of distinct values stays within its capacity;
  beyond that it keeps the heaviest values with Misra-Gries lower-bound counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class QuantileSketch:
    """Weighted sample of a stream: level h holds values standing for 2^h values each.

    A batch of n values enters sorted and strided (every 2^h-th value from a random start,
    h chosen so that at most 2k values enter), which is what a chain of KLL compactions
    of that batch would produce; levels above capacity are compacted the same way.
    """

    def __init__(self, k: int = 4096, seed: int = 0):
        self.k = k
        self.levels: list[np.ndarray] = []
        self.count = 0
        self._rng = np.random.default_rng(seed)

    def _level(self, h: int) -> None:
        while len(self.levels) <= h:
            self.levels.append(np.empty(0))

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            return
        self.count += values.size
        h = max(0, int(np.ceil(np.log2(values.size / (2 * self.k)))))
        values = np.sort(values)
        if h:
            values = values[int(self._rng.integers(0, 2**h)) :: 2**h]
        self._level(h)
        self.levels[h] = np.concatenate([self.levels[h], values])
        self._compact()

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        self.count += other.count
        for h, values in enumerate(other.levels):
            self._level(h)
            self.levels[h] = np.concatenate([self.levels[h], values])
        self._compact()
        return self

    def _compact(self) -> None:
        h = 0
        while h < len(self.levels):
            level = self.levels[h]
            if level.size > 2 * self.k:
                level = np.sort(level)
                keep = level[-1:] if level.size % 2 else level[:0]
                even = level[: level.size - keep.size]
                promoted = even[int(self._rng.integers(0, 2)) :: 2]
                self.levels[h] = keep
                self._level(h + 1)
                self.levels[h + 1] = np.concatenate([self.levels[h + 1], promoted])
            h += 1

    def _weighted(self) -> tuple[np.ndarray, np.ndarray]:
        values = np.concatenate(self.levels) if self.levels else np.empty(0)
        weights = np.concatenate([np.full(v.size, 2.0**h) for h, v in enumerate(self.levels)])
        order = np.argsort(values, kind="stable")
        return values[order], np.cumsum(weights[order]) if values.size else np.empty(0)

    def quantiles(self, qs: list[float]) -> list[float]:
        values, cumulative = self._weighted()
        if values.size == 0:
            return [float("nan")] * len(qs)
        total = cumulative[-1]
        index = np.searchsorted(cumulative, np.asarray(qs) * total, side="left")
        return [float(values[min(i, values.size - 1)]) for i in index]

    def cdf(self, points: np.ndarray) -> np.ndarray:
        """Share of values <= each point."""
        values, cumulative = self._weighted()
        if values.size == 0:
            return np.zeros(len(points))
        index = np.searchsorted(values, points, side="right")
        return np.where(index > 0, cumulative[np.maximum(index - 1, 0)], 0.0) / cumulative[-1]


class HyperLogLog:
    """Distinct-count sketch with 2^p registers over 64-bit hashes."""

    def __init__(self, p: int = 14):
        self.p = p
        self.registers = np.zeros(2**p, dtype=np.uint8)

    def add_hashes(self, hashes: np.ndarray) -> None:
        if hashes.size == 0:
            return
        hashes = np.asarray(hashes, dtype=np.uint64)
        index = (hashes >> np.uint64(64 - self.p)).astype(np.int64)
        rest = hashes & np.uint64((1 << (64 - self.p)) - 1)
        bits = np.zeros(rest.size, dtype=np.int64)
        nonzero = rest > 0
        bits[nonzero] = np.floor(np.log2(rest[nonzero].astype(np.float64))).astype(np.int64) + 1
        rank = (64 - self.p - bits + 1).astype(np.uint8)
        np.maximum.at(self.registers, index, rank)

    def merge(self, other: HyperLogLog) -> HyperLogLog:
        np.maximum(self.registers, other.registers, out=self.registers)
        return self

    def estimate(self) -> float:
        m = float(self.registers.size)
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / np.sum(2.0 ** -self.registers.astype(np.float64))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            return m * np.log(m / zeros)  # linear counting for small cardinalities
        return float(raw)


class FrequencyCounter:
    """Value counts, exact up to ``capacity`` distinct values, Misra-Gries beyond.

    Batches are buffered and consolidated together (one group-by instead of one index
    alignment per batch); the buffer is bounded, so memory stays O(capacity).
    """

    def __init__(self, capacity: int = 100_000):
        self.capacity = capacity
        self.counts = pd.Series(dtype=np.int64)
        self.exact = True
        self.hll = HyperLogLog()
        self._pending: list[pd.Series] = []
        self._pending_size = 0

    def add_counts(self, counts: pd.Series, hashes: np.ndarray) -> None:
        """Add a batch's value counts and the 64-bit hashes of its distinct values."""
        self._pending.append(counts)
        self._pending_size += len(counts)
        self.hll.add_hashes(hashes)
        if self._pending_size > 2 * self.capacity:
            self._consolidate()

    def _consolidate(self) -> None:
        if not self._pending:
            return
        parts = [self.counts, *self._pending] if len(self.counts) else self._pending
        combined = pd.concat(parts)
        self.counts = combined.groupby(level=0, sort=False).sum().astype(np.int64)
        self._pending, self._pending_size = [], 0
        self._trim()

    def merge(self, other: FrequencyCounter) -> FrequencyCounter:
        other._consolidate()
        if len(other.counts):
            self._pending.append(other.counts)
            self._pending_size += len(other.counts)
        self.exact = self.exact and other.exact
        self.hll.merge(other.hll)
        self._consolidate()
        return self

    def _trim(self) -> None:
        if len(self.counts) <= self.capacity:
            return
        ordered = self.counts.sort_values(ascending=False, kind="stable")
        cut = int(ordered.iloc[self.capacity])
        kept = ordered.iloc[: self.capacity] - cut
        self.counts = kept[kept > 0]
        self.exact = False

    def unique(self) -> int:
        self._consolidate()
        return len(self.counts) if self.exact else int(round(self.hll.estimate()))

    def top(self, k: int) -> list[tuple[object, int]]:
        self._consolidate()
        if self.counts.empty:
            return []
        frame = pd.DataFrame({"value": self.counts.index, "count": self.counts.to_numpy()})
        frame["key"] = frame["value"].astype(str)
        frame = frame.sort_values(["count", "key"], ascending=[False, True], kind="stable")
        return list(zip(frame["value"].head(k), frame["count"].head(k).astype(int), strict=True))
