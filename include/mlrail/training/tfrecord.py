"""TFRecord examples: an input path that is TensorFlow ops only, end to end.

Parameter-server workers run the input pipeline as a traced function in their own
process, so the Parquet feeder's Python generator cannot run there. This module writes the
train split as TFRecord shards of ``tf.train.Example`` and reads them back with
``tf.data`` and ``tf.io.parse_example`` into the feeder's structure: a dict of
``(batch, 1)`` features (string or float32, per ``keras_features.input_dtype``) and a
float32 label.

Each Example is a block of up to ``ROWS_PER_EXAMPLE`` rows, columnar: every feature is a
list with one value per row. One Example per row writes at about 40,000 rows/s and parses
at about 350,000 examples/s on this project's machines (2 cores), slower than the Parquet
feeder; blocks write at about 600,000 rows/s and parse at over a million
(benchmarks/training/run.py). Missing values are stored in-band the way the Parquet feeder
hands them over (``keras_features.to_model_inputs``: an empty string, or NaN), so both
readers give the model the same tensors. These blocks are the trainer's private format,
not TFX ExampleGen's one-Example-per-row layout.

Paths go through ``tf.io.gfile``: local folders, ``gs://`` and ``/gcs/`` FUSE paths alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.parquet as pq

from mlrail.data.labels import encode_table
from mlrail.training.feeder import FeederConfig, finish, row_group_units
from mlrail.training.keras_features import input_dtype, to_model_inputs

ROWS_PER_EXAMPLE = 1024


def _example(features: dict[str, np.ndarray], label: np.ndarray, schema: dict[str, Any]):
    import tensorflow as tf

    entries = {}
    for feature in schema["features"]:
        values = features[feature["name"]].reshape(-1)
        if input_dtype(feature) == "string":
            entry = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[v.encode() for v in values])
            )
        else:
            entry = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        entries[feature["name"]] = entry
    entries[schema["label"]["name"]] = tf.train.Feature(float_list=tf.train.FloatList(value=label))
    return tf.train.Example(features=tf.train.Features(feature=entries))


def _blocks(paths: list[str], schema: dict[str, Any], rows_per_block: int):
    """Serialized Examples of ``rows_per_block`` rows (fewer at each row group's end)."""
    columns = [f["name"] for f in schema["features"]] + [schema["label"]["name"]]
    for path, index in row_group_units(paths):
        table = pq.ParquetFile(path).read_row_group(index, columns=columns)
        table, label = encode_table(table, schema["label"])
        features = to_model_inputs(table, schema)
        for start in range(0, table.num_rows, rows_per_block):
            end = start + rows_per_block
            block = {name: values[start:end] for name, values in features.items()}
            yield _example(block, label[start:end], schema).SerializeToString()


def write_tfrecords(
    parquet_paths: list[str], out_dir: str, schema: dict[str, Any], shards: int
) -> list[str]:
    """Write the rows of ``parquet_paths`` as ``shards`` TFRecord files in ``out_dir`` and
    return their paths. Blocks go to the shards in turn, and are made small enough that
    every shard gets rows: one reader per shard never finds its shard empty."""
    import tensorflow as tf

    rows = sum(pq.ParquetFile(path).metadata.num_rows for path in parquet_paths)
    if rows < shards:
        raise ValueError(f"{parquet_paths}: {rows} rows cannot fill {shards} TFRecord shards")
    rows_per_block = min(ROWS_PER_EXAMPLE, -(-rows // shards))
    tf.io.gfile.makedirs(out_dir)
    files = [f"{out_dir}/part-{i:05d}-of-{shards:05d}.tfrecord" for i in range(shards)]
    writers = [tf.io.TFRecordWriter(file) for file in files]
    try:
        for number, record in enumerate(_blocks(parquet_paths, schema, rows_per_block)):
            writers[number % shards].write(record)
    finally:
        for writer in writers:
            writer.close()
    return files


def _parser(schema: dict[str, Any]):
    """Serialized blocks -> (features of shape (rows, 1), label of shape (rows,))."""
    import tensorflow as tf

    label = schema["label"]["name"]
    spec = {
        f["name"]: tf.io.RaggedFeature(tf.string if input_dtype(f) == "string" else tf.float32)
        for f in schema["features"]
    }
    spec[label] = tf.io.RaggedFeature(tf.float32)

    def parse(serialized):
        columns = {name: t.flat_values for name, t in tf.io.parse_example(serialized, spec).items()}
        target = columns.pop(label)
        return {name: tf.reshape(values, (-1, 1)) for name, values in columns.items()}, target

    return parse


def _permute(features, label, seed):
    import tensorflow as tf

    order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(label)[0]), seed)
    return {name: tf.gather(values, order) for name, values in features.items()}, tf.gather(
        label, order
    )


def _records(files: list[str], config: FeederConfig):
    """The serialized blocks of this reader's shard: whole files when there are enough of
    them, otherwise every count-th block. ``config.shard``'s index may be a tensor (a
    parameter-server worker learns its index only when the function runs)."""
    import tensorflow as tf

    index, count = config.shard
    names = tf.data.Dataset.from_tensor_slices(list(files))
    by_file = count > 1 and len(files) >= count
    if by_file:
        names = names.shard(count, index)
    if config.seed is not None:
        names = names.shuffle(len(files), seed=config.seed)
    records = names.interleave(
        tf.data.TFRecordDataset,
        cycle_length=max(1, min(config.parallel_reads, len(files))),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if count > 1 and not by_file:
        records = records.shard(count, index)
    return records


def make_tfrecord_dataset(files: list[str], schema: dict[str, Any], config: FeederConfig):
    """A ``tf.data.Dataset`` of ``(features, label)`` batches read from TFRecord ``files``
    written by ``write_tfrecords``, with the Parquet feeder's semantics: with a seed, a
    deterministic order that changes every epoch (files and blocks shuffled, the rows of
    each window of about ``shuffle_buffer`` rows permuted); ``repeat`` for endless epochs.
    """
    import tensorflow as tf

    if not files:
        raise ValueError("no TFRecord files to feed")
    per_window = max(1, -(-config.shuffle_buffer // ROWS_PER_EXAMPLE))
    records = _records(files, config)
    parse = _parser(schema)
    if config.seed is None:
        data = records.batch(per_window).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        records = records.shuffle(2 * per_window, seed=config.seed)
        # Stateless permutations drawn from a seeded stream that is redrawn every epoch:
        # deterministic under parallel map, and a new row order each pass.
        seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True)
        data = tf.data.Dataset.zip(records.batch(per_window), seeds.batch(2)).map(
            lambda block, seed: _permute(*parse(block), seed),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if config.repeat:
        data = data.repeat()
    return finish(data, config)
