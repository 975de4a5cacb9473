"""Model feeder: tf.data input pipelines over the Examples artifact (Parquet splits).

Each epoch takes the row groups of the split in a seeded order, reads them in windows of
about ``shuffle_buffer`` rows (Arrow decodes the next window on ``parallel_reads`` threads
while the current one trains), permutes each window's rows with the seed and hands the
window to tf.data whole; ``rebatch`` cuts it into batches in C++, then ``repeat`` and
``prefetch`` (AUTOTUNE). The Python side runs once per window, not once per batch, so it
does not compete with the training loop for the GIL (measured in
benchmarks/training/run.py). It never touches single strings either: string columns go
over dictionary-encoded (Arrow's C++ encodes, tf.data's C++ decodes with a gather), and
rows are permuted as numpy arrays of numbers and codes. With a seed the order is
deterministic and changes every epoch; memory is bounded by two windows.

The features go in raw (the model's own preprocessing handles them); the label is the
second element of each example.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlrail.keras_features import input_dtype


@dataclass(frozen=True)
class FeederConfig:
    batch_size: int
    shuffle_buffer: int = 50_000
    seed: int | None = None
    repeat: bool = False  # True: endless (use steps_per_epoch); False: one pass per epoch
    parallel_reads: int = 4
    drop_remainder: bool = False
    # (index, count): read only every count-th row group from index, for one worker of many.
    shard: tuple[int, int] = (0, 1)


def row_group_units(paths: list[str]) -> list[tuple[str, int]]:
    """Every (file, row group) of the Parquet files: the feeder's unit of parallel reading."""
    units = []
    for path in paths:
        metadata = pq.ParquetFile(path).metadata
        units += [
            (path, i) for i in range(metadata.num_row_groups) if metadata.row_group(i).num_rows
        ]
    return units


def _signature(schema: dict[str, Any]):
    """What the generator yields per window: numbers, string codes and their dictionaries,
    and the label, all flat."""
    import tensorflow as tf

    strings = [f["name"] for f in schema["features"] if input_dtype(f) == "string"]
    numbers = {
        f["name"]: tf.TensorSpec(shape=(None,), dtype=tf.float32)
        for f in schema["features"]
        if input_dtype(f) != "string"
    }
    codes = {name: tf.TensorSpec(shape=(None,), dtype=tf.int32) for name in strings}
    dictionaries = {name: tf.TensorSpec(shape=(None,), dtype=tf.string) for name in strings}
    return numbers, codes, dictionaries, tf.TensorSpec(shape=(None,), dtype=tf.float32)


def _window_arrays(table: pa.Table, schema: dict[str, Any], order: np.ndarray | None):
    """A window's columns in ``order`` (all rows when None), as ``_signature`` says. A
    missing string becomes empty and a missing number NaN, as in
    ``keras_features.to_model_inputs``: the model handles both."""
    numbers, codes, dictionaries = {}, {}, {}
    for feature in schema["features"]:
        name, column = feature["name"], table.column(feature["name"])
        if input_dtype(feature) == "string":
            encoded = column.cast(pa.string()).fill_null("").combine_chunks().dictionary_encode()
            values = encoded.indices.to_numpy()
            dictionaries[name] = encoded.dictionary.to_numpy(zero_copy_only=False)
            codes[name] = values if order is None else values[order]
        else:
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float32)
            numbers[name] = values if order is None else values[order]
    label = table.column(schema["label"]["name"]).to_numpy(zero_copy_only=False)
    label = label.astype(np.float32)
    return numbers, codes, dictionaries, label if order is None else label[order]


def _decode(numbers, codes, dictionaries, label):
    """The generator's flat window -> (features of shape (rows, 1), label)."""
    import tensorflow as tf

    features = {name: tf.reshape(values, (-1, 1)) for name, values in numbers.items()}
    for name, indices in codes.items():
        features[name] = tf.reshape(tf.gather(dictionaries[name], indices), (-1, 1))
    return features, label


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


def _read_window(window: list[tuple[str, int]], pool: ThreadPoolExecutor) -> pa.Table:
    tables = pool.map(lambda unit: pq.ParquetFile(unit[0]).read_row_group(unit[1]), window)
    return pa.concat_tables(tables)


def make_dataset(paths: list[str], schema: dict[str, Any], config: FeederConfig):
    """A ``tf.data.Dataset`` of ``(features, label)`` batches read from Parquet ``paths``.

    Each epoch, the row groups are taken in a seeded order and read in windows of about
    ``shuffle_buffer`` rows (the next window is read in parallel while the current one is
    fed); a window's rows are permuted with the seed and handed over whole; tf.data
    re-batches without touching single examples.
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
    epochs = itertools.count()

    def chunks():
        epoch = next(epochs)
        with ThreadPoolExecutor(max_workers=config.parallel_reads) as pool:
            windows = _windows(units, config, epoch)
            pending = next(windows, None)
            pending = pool.submit(_read_window, pending, pool) if pending else None
            for number in itertools.count():
                if pending is None:
                    break
                table = pending.result()
                following = next(windows, None)
                pending = pool.submit(_read_window, following, pool) if following else None
                if row_shard:
                    table = table.take(np.arange(index, table.num_rows, count))
                order = None
                if config.seed is not None:
                    rng = np.random.default_rng([config.seed, epoch, number])
                    order = rng.permutation(table.num_rows)
                # One element per window: tf.data re-batches it in C++, so this Python
                # generator takes the GIL once per window, not once per batch, and never
                # competes with the training loop for it.
                yield _window_arrays(table, schema, order)

    data = tf.data.Dataset.from_generator(chunks, output_signature=_signature(schema))
    data = data.map(_decode)
    if config.repeat:
        data = data.repeat()  # each pass calls chunks() again: a whole epoch, a new order
    # Convert the next window while the current one is being batched and trained on.
    data = data.prefetch(1)
    data = data.rebatch(config.batch_size, drop_remainder=config.drop_remainder)
    options = tf.data.Options()
    options.deterministic = True
    return data.with_options(options).prefetch(tf.data.AUTOTUNE)
