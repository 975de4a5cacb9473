import numpy as np
import pandas as pd
import pytest

from mlrail.data.statistics import table_statistics


def test_numeric_against_numpy():
    values = [1.0, 2.0, 0.0, np.nan, np.inf, 4.0]
    stats = table_statistics(pd.DataFrame({"x": values}))["features"]["x"]
    finite = np.array([1.0, 2.0, 0.0, 4.0])
    assert stats["count"] == 5 and stats["missing"] == 1 and stats["inf"] == 1
    assert stats["zeros"] == 1
    assert stats["mean"] == pytest.approx(finite.mean())
    assert stats["std"] == pytest.approx(finite.std())
    assert (stats["min"], stats["max"]) == (0.0, 4.0)
    # Sketch quantiles are values of the data (inverted CDF); exact while the data is small.
    assert stats["quantiles"]["0.5"] == np.quantile(finite, 0.5, method="inverted_cdf")
    assert stats["median"] == stats["quantiles"]["0.5"]
    assert sum(b["count"] for b in stats["histogram"]) == 4


def test_all_null_and_constant_columns():
    frame = pd.DataFrame({"empty": [np.nan, np.nan], "const": [3, 3]})
    stats = table_statistics(frame)["features"]
    assert stats["empty"]["count"] == 0 and stats["empty"]["mean"] is None
    assert stats["const"]["std"] == 0.0 and stats["const"]["top_values"] == [
        {"value": 3, "count": 2}
    ]


def test_strings_unicode_and_top_k():
    frame = pd.DataFrame({"s": ["ä", "b", "ä", None, "ccc", "ä"]})
    stats = table_statistics(frame, top_k=2)["features"]["s"]
    assert stats["kind"] == "string" and stats["missing"] == 1 and stats["unique"] == 3
    assert stats["top_k"] == [{"value": "ä", "count": 3}, {"value": "b", "count": 1}]
    assert stats["avg_length"] == pytest.approx((1 + 1 + 1 + 3 + 1) / 5)


def test_integral_floats_get_a_vocabulary_until_the_bound():
    frame = pd.DataFrame({"area": [8.0, 32.0, np.nan, 8.0], "wide": np.arange(4) + 0.5})
    stats = table_statistics(frame, categorical_max_unique=3)["features"]
    assert stats["area"]["integral"] and stats["area"]["top_values"][0] == {"value": 8, "count": 2}
    assert "top_values" not in stats["wide"]


def test_high_cardinality_strings_switch_to_sketches():
    import pyarrow as pa

    from mlrail.data.statistics import StatsConfig, TableAccumulator

    values = [f"id-{i}" for i in range(5_000)] + ["hot"] * 3_000
    acc = TableAccumulator(StatsConfig(exact_unique_bound=1_000, top_k=3))
    for start in range(0, len(values), 1_500):  # several batches, like row groups
        acc.add(pa.table({"s": values[start : start + 1_500]}))
    stats = acc.result()["features"]["s"]
    assert stats["unique_exact"] is False
    assert stats["unique"] == pytest.approx(5_001, rel=0.03)
    assert stats["top_k"][0]["value"] == "hot" and stats["top_exact"] is False
    assert stats["top_k"][0]["count"] <= 3_000  # Misra-Gries counts are lower bounds


def test_empty_table_and_duplicates():
    empty = table_statistics(
        pd.DataFrame({"x": pd.Series([], dtype=float), "s": pd.Series([], dtype=object)})
    )
    assert empty["rows"] == 0 and empty["duplicate_rows"] == 0
    assert empty["features"]["x"]["count"] == 0 and empty["features"]["x"]["mean"] is None
    dup = table_statistics(
        pd.DataFrame({"x": [1.0, 1.0, 2.0, np.nan, np.nan], "s": ["a", "a", "a", None, None]})
    )
    assert dup["duplicate_rows"] == 2  # (1.0, a) twice and (NaN, None) twice


def test_integers_and_floats_agree():
    ints = table_statistics(pd.DataFrame({"x": [1, 2, 3, 4]}))["features"]["x"]
    floats = table_statistics(pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}))["features"]["x"]
    for field in ("count", "mean", "std", "min", "max", "integral", "top_values"):
        assert ints[field] == floats[field]
    assert ints["std"] == pytest.approx(np.std([1, 2, 3, 4]))
    assert ints["quantiles"]["0.25"] == np.quantile([1, 2, 3, 4], 0.25, method="inverted_cdf")
