"""Model feeder: tf.data input pipelines over the Examples artifact (Parquet splits).

Each epoch takes the row groups of the split in a seeded order and reads them in windows
of about ``shuffle_buffer`` rows: the next window is read on ``parallel_reads`` threads
while the current one trains. A window goes to tf.data whole, as flat columns; tf.data
permutes its rows with a seeded stateless shuffle, ``rebatch`` cuts it into batches, and
``prefetch`` keeps the next batches ready. With a seed the order is deterministic and
changes every epoch; memory is bounded by two windows.

The training step on a small machine is about a millisecond, so whatever the feeder does
beside it is paid for by the step (benchmarks/training/run.py measures the ratio). Hence:

* the Python generator runs once per window, and its work is Arrow reads and casts, which
  release the GIL: only the feature and label columns are read, numbers are cast to
  float32 in Arrow, and string columns are read as Parquet's dictionary codes, never as
  single strings;
* the per-row work (permutation, codes to strings, batching) is tf.data's C++;
* tf.data's autotuner is off and buffers are fixed: its background thread costs CPU that
  the step needs, and a finished iterator waits for the thread's next wake-up, whose
  period doubles from 10 ms to about 5 s, so an epoch could end seconds late (measured on
  TF 2.21: Keras ``fit`` returned up to 1.2 s after its last callback, and epochs snapped
  to 5.1 s and 10.2 s).

The features go in raw (the model's own preprocessing handles them; a missing string
arrives empty, a missing number as NaN, as in ``keras_features.to_model_inputs``); the
label is the second element of each example, as mlrail.data.labels encodes it (the value,
or the class index), and rows whose label is not a class of the schema are left out.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlrail.data.labels import encode_table
from mlrail.training.keras_features import input_dtype

# Batches made ready ahead of the step. Two hide the re-batching of one; more only hold
# memory, since a whole window is already decoded upstream.
PREFETCH_BATCHES = 2


@dataclass(frozen=True)
class FeederConfig:
    batch_size: int
    shuffle_buffer: int = 50_000
    seed: int | None = None
    repeat: bool = False  # True: endless (use steps_per_epoch); False: one pass per epoch
    parallel_reads: int = 4
    drop_remainder: bool = False
    # (index, count): read only every count-th row group from index, for one worker of many.
    # The index may be a tensor: a parameter-server worker learns it inside tf.data.
    shard: tuple[Any, int] = (0, 1)

    def __post_init__(self) -> None:
        for name, least in (("batch_size", 1), ("shuffle_buffer", 1), ("parallel_reads", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(
                    f"FeederConfig.{name}: expected an integer >= {least}, got {value!r}"
                )
        index, count = self.shard
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"FeederConfig.shard: expected a shard count >= 1, got {count!r}")
        if isinstance(index, int) and not 0 <= index < count:
            raise ValueError(
                f"FeederConfig.shard: expected an index in [0, {count}), got {index!r}"
            )


def row_group_units(paths: list[str]) -> list[tuple[str, int]]:
    """Every (file, row group) of the Parquet files: the feeder's unit of parallel reading."""
    units = []
    for path in paths:
        metadata = pq.ParquetFile(path).metadata
        units += [
            (path, i) for i in range(metadata.num_row_groups) if metadata.row_group(i).num_rows
        ]
    return units


def _string_features(schema: dict[str, Any]) -> list[str]:
    return [f["name"] for f in schema["features"] if input_dtype(f) == "string"]


def _signature(schema: dict[str, Any]):
    """What the generator yields per window: numbers, string codes and their dictionaries,
    the label, and the window's shuffle seed, all flat."""
    import tensorflow as tf

    strings = _string_features(schema)
    numbers = {
        f["name"]: tf.TensorSpec(shape=(None,), dtype=tf.float32)
        for f in schema["features"]
        if f["name"] not in strings
    }
    codes = {name: tf.TensorSpec(shape=(None,), dtype=tf.int32) for name in strings}
    dictionaries = {name: tf.TensorSpec(shape=(None,), dtype=tf.string) for name in strings}
    label = tf.TensorSpec(shape=(None,), dtype=tf.float32)
    return numbers, codes, dictionaries, label, tf.TensorSpec(shape=(2,), dtype=tf.int64)


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A string column as int32 codes into one dictionary; a missing value's code points at
    an empty string. Parquet's dictionaries differ from row group to row group, so each
    chunk's codes are offset past the dictionaries before it."""
    if not pa.types.is_dictionary(column.type):  # a schema that declares a number a string
        column = pc.dictionary_encode(column.cast(pa.string()))
    codes, dictionaries, size = [], [], 0
    for chunk in column.chunks:
        dictionary = chunk.dictionary.cast(pa.string()).fill_null("")
        indices = chunk.indices.cast(pa.int32())
        if chunk.null_count:
            indices = pc.fill_null(indices, len(dictionary))
            dictionary = pa.concat_arrays([dictionary, pa.array([""], pa.string())])
        codes.append(indices.to_numpy() + np.int32(size))
        dictionaries.append(dictionary)
        size += len(dictionary)
    dictionary = pa.concat_arrays(dictionaries).to_numpy(zero_copy_only=False)
    return np.concatenate(codes), dictionary


def _window_arrays(table: pa.Table, schema: dict[str, Any], seed: np.ndarray):
    """A window's columns as ``_signature`` says, in file order (tf.data permutes them)."""
    table, label = encode_table(table, schema["label"])
    numbers, codes, dictionaries = {}, {}, {}
    for feature in schema["features"]:
        name, column = feature["name"], table.column(feature["name"])
        if input_dtype(feature) == "string":
            codes[name], dictionaries[name] = _codes(column)
        else:
            numbers[name] = column.cast(pa.float32(), safe=False).to_numpy()
    return numbers, codes, dictionaries, label, seed


def _decoder(shuffle: bool):
    """The generator's flat window -> (features of shape (rows, 1), label), its rows
    permuted by the window's seed when ``shuffle``. String codes are permuted before they
    become strings, so each string is built once."""
    import tensorflow as tf

    def decode(numbers, codes, dictionaries, label, seed):
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(label)[0]), seed)
            numbers, codes, label = tf.nest.map_structure(
                lambda column: tf.gather(column, order), (numbers, codes, label)
            )
        features = {name: tf.reshape(values, (-1, 1)) for name, values in numbers.items()}
        for name, indices in codes.items():
            features[name] = tf.reshape(tf.gather(dictionaries[name], indices), (-1, 1))
        return features, label

    return decode


def _windows(units: list[tuple[str, int]], config: FeederConfig, epoch: int):
    """Units in this epoch's order, grouped into shuffle windows of about ``shuffle_buffer``
    rows."""
    order = list(range(len(units)))
    if config.seed is not None:
        np.random.default_rng([config.seed, epoch]).shuffle(order)
    window, rows = [], 0
    for position in order:
        path, index = units[position]
        window.append((path, index))
        rows += pq.ParquetFile(path).metadata.row_group(index).num_rows
        if rows >= config.shuffle_buffer:
            yield window
            window, rows = [], 0
    if window:
        yield window


def _window_seed(config: FeederConfig, epoch: int, number: int) -> np.ndarray:
    """The stateless shuffle seed of one window: from the feeder's seed, the epoch and the
    window's number, so a pass is repeatable and every pass differs."""
    entropy = [config.seed or 0, epoch, number]
    return np.random.SeedSequence(entropy).generate_state(2).astype(np.int64)


def make_dataset(paths: list[str], schema: dict[str, Any], config: FeederConfig):
    """A ``tf.data.Dataset`` of ``(features, label)`` batches read from Parquet ``paths``.

    Each epoch, the row groups are taken in a seeded order and read in windows of about
    ``shuffle_buffer`` rows (the next window is read in parallel while the current one is
    fed) and handed to tf.data whole, which permutes its rows with the seed and re-batches
    them without touching single examples.
    """
    import tensorflow as tf

    index, count = config.shard
    units = row_group_units(paths)
    if not units:
        raise ValueError(f"no rows to feed: {paths} hold no row groups")
    # Shard by row group when there are enough of them; otherwise every shard reads every
    # row group and keeps every count-th row.
    row_shard = count > 1 and len(units) < count
    if count > 1 and not row_shard:
        units = units[index::count]
    strings = _string_features(schema)
    columns = [f["name"] for f in schema["features"]] + [schema["label"]["name"]]

    def read_unit(unit: tuple[str, int]) -> pa.Table:
        parquet = pq.ParquetFile(unit[0], read_dictionary=strings)
        return parquet.read_row_group(unit[1], columns=columns)

    epochs = itertools.count()

    def chunks():
        epoch = next(epochs)
        # The next window is read on its own thread, which hands the window's row groups to
        # the readers: on one pool, a window read would wait for unit reads queued behind it.
        with (
            ThreadPoolExecutor(max_workers=1) as ahead,
            ThreadPoolExecutor(max_workers=config.parallel_reads) as readers,
        ):

            def read_window(window: list[tuple[str, int]]) -> pa.Table:
                return pa.concat_tables(readers.map(read_unit, window))

            windows = _windows(units, config, epoch)
            pending = next(windows, None)
            pending = ahead.submit(read_window, pending) if pending else None
            for number in itertools.count():
                if pending is None:
                    break
                table = pending.result()
                following = next(windows, None)
                pending = ahead.submit(read_window, following) if following else None
                if row_shard:
                    table = table.take(np.arange(index, table.num_rows, count))
                # One element per window: tf.data permutes and re-batches it in C++, so
                # this generator takes the GIL once per window, not once per batch.
                yield _window_arrays(table, schema, _window_seed(config, epoch, number))

    data = tf.data.Dataset.from_generator(chunks, output_signature=_signature(schema))
    data = data.map(_decoder(shuffle=config.seed is not None))
    if config.repeat:
        data = data.repeat()  # each pass calls chunks() again: a whole epoch, a new order
    # Convert the next window while the current one is being batched and trained on.
    return finish(data.prefetch(1), config)


def finish(windows, config: FeederConfig):
    """Cut a dataset of whole windows into batches, the way every mlrail input ends: fixed
    prefetch and no autotuner (see the module docstring for why)."""
    import tensorflow as tf

    data = windows.rebatch(config.batch_size, drop_remainder=config.drop_remainder)
    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False
    return data.with_options(options).prefetch(PREFETCH_BATCHES)
