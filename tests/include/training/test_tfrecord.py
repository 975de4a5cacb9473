"""TFRecord examples: the parameter-server workers' input, equal to the Parquet feeder's."""

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.training.feeder import FeederConfig, make_dataset
from mlrail.training.tfrecord import make_tfrecord_dataset, write_tfrecords
from tests.conftest import label_of

pytestmark = pytest.mark.slow
BINARY_Y = label_of([0, 1], "binary_classification")
SCHEMA = {
    "label": BINARY_Y,
    "features": [
        {"name": "x", "type": "float", "role": "numeric"},
        {"name": "n", "type": "int", "role": "categorical"},
        {"name": "s", "type": "string", "role": "categorical"},
    ],
}


def _rows(features, label) -> dict[float, tuple]:
    """Rows by their x value (unique in the data below, NaN aside)."""
    columns = {name: values.numpy().reshape(-1) for name, values in features.items()}
    return {
        float(columns["x"][i]) if not math.isnan(columns["x"][i]) else "nan": (
            float(columns["n"][i]),
            columns["s"][i],
            float(label.numpy()[i]),
        )
        for i in range(len(columns["x"]))
    }


def test_round_trip_keeps_values_missing_values_strings_and_label(tmp_path):
    table = pa.table(
        {
            "x": [0.5, None, 2.25, -3.0],
            "n": pa.array([7, 8, None, 1], pa.int64()),
            "s": ["a", None, "é", ""],
            "y": [1, 0, 1, 0],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    files = write_tfrecords([str(tmp_path / "t.parquet")], str(tmp_path / "tfr"), SCHEMA, 2)
    assert len(files) == 2
    features, label = next(iter(make_tfrecord_dataset(files, SCHEMA, FeederConfig(batch_size=8))))
    assert {name: tuple(values.shape) for name, values in features.items()} == {
        "x": (4, 1),
        "n": (4, 1),
        "s": (4, 1),
    }
    assert features["x"].dtype.name == "float32" and features["n"].dtype.name == "float32"
    assert features["s"].dtype.name == "string" and label.dtype.name == "float32"
    rows = _rows(features, label)
    assert rows[0.5] == (7.0, b"a", 1.0)
    assert rows["nan"] == (8.0, b"", 0.0)  # a missing number is NaN, a missing string empty
    assert math.isnan(rows[2.25][0]) and rows[2.25][1:] == ("é".encode(), 1.0)
    assert rows[-3.0] == (1.0, b"", 0.0)


@pytest.fixture
def split(tmp_path):
    ids = np.arange(1000)
    table = pa.table(
        {
            "x": ids.astype(float),
            "n": ids % 5,
            "s": [f"v{i % 7}" if i % 11 else None for i in ids],
            "y": ids % 2,
        }
    )
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=300)
    return str(tmp_path / "p.parquet")


def _ids(dataset) -> list[int]:
    return [int(v) for features, _ in dataset for v in features["x"].numpy().reshape(-1)]


def test_the_same_examples_as_the_parquet_feeder(split, tmp_path):
    files = write_tfrecords([split], str(tmp_path / "tfr"), SCHEMA, 4)
    config = FeederConfig(batch_size=1000)
    assert _rows(*next(iter(make_tfrecord_dataset(files, SCHEMA, config)))) == _rows(
        *next(iter(make_dataset([split], SCHEMA, config)))
    )


def test_shards_split_the_rows_among_workers_and_seeds_reshuffle(split, tmp_path):
    files = write_tfrecords([split], str(tmp_path / "tfr"), SCHEMA, 4)
    shares = [
        _ids(make_tfrecord_dataset(files, SCHEMA, FeederConfig(batch_size=64, shard=(i, 2))))
        for i in range(2)
    ]
    assert sorted(shares[0] + shares[1]) == list(range(1000)) and all(shares)
    config = FeederConfig(batch_size=100, seed=3, shuffle_buffer=300)
    first = _ids(make_tfrecord_dataset(files, SCHEMA, config))
    assert first == _ids(make_tfrecord_dataset(files, SCHEMA, config))  # deterministic
    assert first != list(range(1000)) and sorted(first) == list(range(1000))
    dataset = make_tfrecord_dataset(files, SCHEMA, config)
    assert _ids(dataset) != _ids(dataset)  # a second pass is a new order


def test_too_few_rows_for_the_shards_is_an_error(tmp_path):
    pq.write_table(pa.table({"x": [1.0], "n": [1], "s": ["a"], "y": [1]}), tmp_path / "t.parquet")
    with pytest.raises(ValueError, match="cannot fill 2 TFRecord shards"):
        write_tfrecords([str(tmp_path / "t.parquet")], str(tmp_path / "tfr"), SCHEMA, 2)
