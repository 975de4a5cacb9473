"""The tf.data model feeder over Parquet Examples."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlrail.training.feeder import FeederConfig, make_dataset, row_group_units
from tests.conftest import label_of

pytestmark = pytest.mark.slow
BINARY_Y = label_of([0, 1], "binary_classification")
SCHEMA = {
    "label": BINARY_Y,
    "features": [
        {"name": "x", "type": "float", "role": "numeric"},
        {"name": "s", "type": "string", "role": "categorical"},
    ],
}


@pytest.fixture
def files(tmp_path):
    paths = []
    for part in range(2):
        ids = np.arange(part * 500, (part + 1) * 500)
        table = pa.table(
            {
                "x": ids.astype(float),
                "s": [f"v{i % 7}" if i % 11 else None for i in ids],
                "y": ids % 2,
            }
        )
        path = tmp_path / f"p{part}.parquet"
        pq.write_table(table, path, row_group_size=128)
        paths.append(str(path))
    return paths


def _ids(dataset):
    return [int(v) for features, _ in dataset for v in features["x"].numpy().reshape(-1)]


def test_every_example_once_per_epoch_in_batches(files):
    dataset = make_dataset(files, SCHEMA, FeederConfig(batch_size=64))
    sizes = [int(label.shape[0]) for _, label in dataset]
    assert sizes == [64] * 15 + [40]
    assert sorted(_ids(dataset)) == list(range(1000))
    assert len(row_group_units(files)) == 8


def test_raw_features_and_labels(files):
    features, label = next(iter(make_dataset(files, SCHEMA, FeederConfig(batch_size=12))))
    assert features["x"].shape == (12, 1) and features["s"].dtype.name == "string"
    assert b"" in features["s"].numpy().reshape(-1)  # a null string arrives empty
    assert (label.numpy() == features["x"].numpy().reshape(-1) % 2).all()


def test_seeded_shuffle_is_deterministic_and_reshuffles_each_epoch(files):
    config = FeederConfig(batch_size=100, seed=3, shuffle_buffer=300)
    first, again = (
        _ids(make_dataset(files, SCHEMA, config)),
        _ids(make_dataset(files, SCHEMA, config)),
    )
    assert first == again and first != list(range(1000)) and sorted(first) == list(range(1000))
    other = _ids(make_dataset(files, SCHEMA, FeederConfig(batch_size=100, seed=4)))
    assert other != first
    dataset = make_dataset(files, SCHEMA, config)
    assert _ids(dataset) != _ids(dataset)  # a second pass is a new order


def test_repeat_keeps_going_across_epochs(files):
    dataset = make_dataset(
        files, SCHEMA, FeederConfig(batch_size=100, repeat=True, seed=1, drop_remainder=True)
    )
    ids = [int(v) for features, _ in dataset.take(25) for v in features["x"].numpy().ravel()]
    assert len(ids) == 2500
    assert sorted(ids[:1000]) == list(range(1000))  # epoch boundaries stay whole


def test_no_row_groups_is_an_error(tmp_path):
    path = tmp_path / "empty.parquet"
    pq.write_table(
        pa.table(
            {
                "x": pa.array([], pa.float64()),
                "s": pa.array([], pa.string()),
                "y": pa.array([], pa.int64()),
            }
        ),
        path,
    )
    with pytest.raises(ValueError, match="no rows to feed"):
        make_dataset([str(path)], SCHEMA, FeederConfig(batch_size=8))


def _rows(dataset):
    """(x, s, y) of every example, in the order fed."""
    rows = []
    for features, label in dataset:
        rows += zip(
            features["x"].numpy().ravel().tolist(),
            [v.decode() for v in features["s"].numpy().ravel()],
            label.numpy().tolist(),
            strict=True,
        )
    return rows


def test_shuffled_rows_stay_whole_across_row_group_dictionaries(files):
    # Each row group has its own Parquet dictionary for "s"; the window spans eight of them.
    rows = _rows(make_dataset(files, SCHEMA, FeederConfig(batch_size=50, seed=5)))
    assert [x for x, _, _ in rows] != sorted(x for x, _, _ in rows)
    assert len(rows) == 1000
    for x, s, y in rows:
        i = int(x)
        assert s == (f"v{i % 7}" if i % 11 else "") and y == i % 2


def test_only_schema_columns_are_read_and_numbers_may_be_declared_strings(tmp_path, monkeypatch):
    asked = []
    read_row_group = pq.ParquetFile.read_row_group

    def spy(self, index, columns=None, **kwargs):
        asked.append(columns)
        return read_row_group(self, index, columns=columns, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    path = tmp_path / "extra.parquet"
    table = pa.table(
        {
            "x": [1.0, 2.0, None],
            "code": [10, None, 30],
            "y": [0, 1, 0],
            # Not in the schema, and of a type the model could not take: never read.
            "blob": pa.array([[1, 2], [3], []], pa.list_(pa.int64())),
        }
    )
    pq.write_table(table, path)
    schema = {
        "label": BINARY_Y,
        "features": [
            {"name": "x", "type": "float", "role": "numeric"},
            {"name": "code", "type": "string", "role": "categorical"},
        ],
    }
    features, label = next(iter(make_dataset([str(path)], schema, FeederConfig(batch_size=3))))
    assert asked == [["x", "code", "y"]] and sorted(features) == ["code", "x"]
    assert [v.decode() for v in features["code"].numpy().ravel()] == ["10", "", "30"]
    assert np.isnan(features["x"].numpy()[2, 0]) and label.numpy().tolist() == [0.0, 1.0, 0.0]


def test_string_classes_arrive_as_indexes_and_unknown_classes_are_left_out(tmp_path):
    path = tmp_path / "eval.parquet"
    species = ["Gentoo", "Adelie", "Emperor", "Chinstrap", "Adelie", "Emperor"]
    pq.write_table(pa.table({"x": np.arange(6.0), "species": species}), path)
    label = label_of(["Gentoo", "Adelie", "Chinstrap"], "multiclass_classification", "species")
    schema = {"label": label, "features": [{"name": "x", "type": "float", "role": "numeric"}]}
    rows = [
        (float(x), float(y))
        for features, label in make_dataset([str(path)], schema, FeederConfig(batch_size=4))
        for x, y in zip(features["x"].numpy().reshape(-1), label.numpy(), strict=True)
    ]
    # "Emperor" is not a class the model has: its rows are not fed.
    assert rows == [(0.0, 2.0), (1.0, 0.0), (3.0, 1.0), (4.0, 0.0)]


def test_one_parallel_read_does_not_deadlock(files):
    """A window read waited for unit reads queued behind it on a one-thread pool."""
    import threading

    seen = []

    def read():
        config = FeederConfig(batch_size=100, shuffle_buffer=200, seed=1, parallel_reads=1)
        for _, label in make_dataset(files, SCHEMA, config):
            seen.append(len(label))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=120)
    assert not reader.is_alive(), "the feeder hung with parallel_reads=1"
    assert sum(seen) == 1000


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("batch_size", 0, "FeederConfig.batch_size: expected an integer >= 1, got 0"),
        ("parallel_reads", 0, "FeederConfig.parallel_reads: expected an integer >= 1, got 0"),
        ("shuffle_buffer", 2.5, "FeederConfig.shuffle_buffer: expected an integer >= 1, got 2.5"),
        ("shard", (2, 2), "FeederConfig.shard: expected an index in \\[0, 2\\), got 2"),
        ("shard", (0, 0), "FeederConfig.shard: expected a shard count >= 1, got 0"),
    ],
)
def test_feeder_config_is_validated(field, value, message):
    with pytest.raises(ValueError, match=message):
        FeederConfig(**{"batch_size": 8, field: value})
