"""The sketches' documented error, on data large enough to use them."""

import numpy as np
import pandas as pd
import pytest

from mlrail.data.statistics.sketches import FrequencyCounter, HyperLogLog, QuantileSketch


def test_quantile_rank_error_below_half_a_percent():
    rng = np.random.default_rng(1)
    data = rng.lognormal(0, 1, 1_000_000)
    sketch = QuantileSketch()
    for chunk in np.array_split(data, 7):
        sketch.add(chunk)
    ordered = np.sort(data)
    qs = [0.01, 0.1, 0.5, 0.9, 0.99]
    for q, value in zip(qs, sketch.quantiles(qs), strict=True):
        rank = np.searchsorted(ordered, value) / data.size
        assert abs(rank - q) < 0.005, (q, rank)


def test_quantile_merge_equals_single_stream_within_error():
    rng = np.random.default_rng(2)
    data = rng.normal(size=400_000)
    whole, left, right = QuantileSketch(), QuantileSketch(seed=5), QuantileSketch(seed=6)
    whole.add(data)
    left.add(data[:150_000])
    right.add(data[150_000:])
    merged = left.merge(right)
    assert merged.count == whole.count == data.size
    assert merged.quantiles([0.5])[0] == pytest.approx(whole.quantiles([0.5])[0], abs=0.02)
    assert merged.cdf(np.array([0.0]))[0] == pytest.approx(0.5, abs=0.005)


def test_small_data_is_exact():
    sketch = QuantileSketch()
    sketch.add(np.array([5.0, 1.0, 3.0]))
    assert sketch.quantiles([0.0, 0.5, 1.0]) == [1.0, 3.0, 5.0]


def test_hyperloglog_relative_error():
    for n in (1_000, 200_000):
        hll = HyperLogLog()
        hll.add_hashes(pd.util.hash_array(np.array([f"user-{i}" for i in range(n)], dtype=object)))
        assert hll.estimate() == pytest.approx(n, rel=0.03)


def test_frequency_counter_exact_then_heavy_hitters():
    counter = FrequencyCounter(capacity=10)
    values = pd.Series(["a"] * 500 + ["b"] * 300 + [f"rare{i}" for i in range(100)])
    for chunk in np.array_split(values.to_numpy(), 4):
        counts = pd.Series(chunk).value_counts()
        counter.add_counts(counts, pd.util.hash_array(counts.index.to_numpy()))
    top = counter.top(2)
    assert [v for v, _ in top] == ["a", "b"] and not counter.exact
    assert counter.unique() == pytest.approx(102, rel=0.05)
    exact = FrequencyCounter(capacity=10)
    exact.add_counts(pd.Series({"x": 2, "y": 1}), np.array([1, 2], dtype=np.uint64))
    assert exact.top(5) == [("x", 2), ("y", 1)] and exact.unique() == 2
