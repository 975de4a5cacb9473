"""The in-process engine and the Beam engine (DirectRunner) agree on the same files."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.data.statistics import StatsConfig
from mlrail.data.statistics.engine import (
    beam_statistics,
    choose_engine,
    compute_split_statistics,
    in_process_statistics,
)

pytestmark = pytest.mark.slow
EXACT = (
    "count",
    "missing",
    "nan",
    "inf",
    "zeros",
    "min",
    "max",
    "integral",
    "unique",
    "top_values",
    "avg_length",
)


@pytest.fixture
def split_files(tmp_path, taxi_frame):
    frame = taxi_frame.copy()
    frame.loc[::97, "fare"] = np.inf
    frame = frame.iloc[np.r_[0 : len(frame), 0:40]]  # 40 duplicated rows
    paths = {}
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), 3)):
        part = frame.iloc[rows]
        path = tmp_path / f"part{i}.parquet"
        # Small row groups so both engines see many batches and must merge accumulators.
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), path, row_group_size=500)
        paths.setdefault("all", []).append(str(path))
    return paths


def test_engines_agree(split_files):
    config = StatsConfig()
    local = in_process_statistics(split_files["all"], config, workers=2)
    beam = beam_statistics(split_files, config)["all"]
    assert local["rows"] == beam["rows"] == 4040
    assert local["duplicate_rows"] == beam["duplicate_rows"] == 40
    assert local["features"].keys() == beam["features"].keys()
    for name, ours in local["features"].items():
        theirs = beam["features"][name]
        for field in EXACT:
            assert ours.get(field) == theirs.get(field), (name, field)
        if ours["kind"] == "numeric" and ours["mean"] is not None:
            assert ours["mean"] == pytest.approx(theirs["mean"], rel=1e-9)
            assert ours["std"] == pytest.approx(theirs["std"], rel=1e-9)
            # Quantiles come from sketches: within the documented rank error.
            grid = ours["quantile_grid"]  # our quantile at every 0.1 %
            for q in ("0.1", "0.5", "0.9"):
                at = round(float(q) * 1000)
                assert grid[at - 10] <= theirs["quantiles"][q] <= grid[at + 10], (name, q)
    assert local["features"]["fare"]["inf"] == 42 + 1  # row 0 is inf and duplicated


def test_split_statistics_and_engine_choice(split_files):
    document = compute_split_statistics(split_files, StatsConfig(), engine="in_process")
    assert document["engine"] == "in_process" and document["rows"] == 4040
    assert choose_engine("auto", 10, beam_above_bytes=100) == "in_process"
    assert choose_engine("auto", 1000, beam_above_bytes=100) == "beam"
    with pytest.raises(ValueError, match="expected one of auto, in_process, beam"):
        choose_engine("spark", 1, 1)
