"""Statistics engines: in-process (streamed record batches) and Apache Beam.

Both fold the same ``TableAccumulator`` over record batches. The in-process engine reads
Parquet row groups / CSV blocks one batch at a time, so memory stays bounded by the batch
size and the sketches, not by the data. The Beam engine runs the accumulator as a
CombineFn on any runner (the DirectRunner locally, Dataflow in production).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fsspec
import pyarrow as pa

from mlrail.data.dataset import iter_batches
from mlrail.data.statistics.accumulators import StatsConfig, TableAccumulator

ENGINES = ("auto", "in_process", "beam")


def _accumulate(
    batches: Iterator[pa.RecordBatch | pa.Table], config: StatsConfig, lock: threading.Lock
) -> TableAccumulator:
    accumulator = TableAccumulator(config)
    while True:
        with lock:  # one reader at a time; the work on a batch runs outside the lock
            batch = next(batches, None)
        if batch is None:
            return accumulator
        accumulator.add(batch)


def in_process_statistics(
    paths: list[str],
    config: StatsConfig,
    workers: int | None = None,
    columns: list[str] | None = None,
) -> dict[str, Any]:
    """Fold every batch of ``paths`` (only ``columns``, when given) into accumulators,
    ``workers`` threads in parallel (default: one per core).

    numpy, pandas hashing and Arrow release the GIL for the heavy work on a batch, so
    threads scale on the cores without copying batches between processes; the per-thread
    accumulators are merged at the end exactly as Beam merges them.
    """
    workers = workers or os.cpu_count() or 1
    batches = (batch for path in paths for batch in iter_batches(path, columns=columns))
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        partials = list(pool.map(lambda _: _accumulate(batches, config, lock), range(workers)))
    merged = partials[0]
    for other in partials[1:]:
        merged.merge(other)
    return merged.result()


def beam_statistics(
    split_paths: dict[str, list[str]],
    config: StatsConfig,
    runner: str = "DirectRunner",
    options: list[str] | None = None,
    temp_location: str | None = None,
    columns: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Statistics of each split (only ``columns``, when given) as one Beam pipeline, one
    branch per split."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    class StatisticsCombineFn(beam.CombineFn):
        def create_accumulator(self):
            return TableAccumulator(config)

        def add_input(self, accumulator, table):
            return accumulator.add(table)

        def merge_accumulators(self, accumulators):
            accumulators = iter(accumulators)
            merged = next(accumulators)
            for other in accumulators:
                merged.merge(other)
            return merged

        def extract_output(self, accumulator):
            return json.dumps(accumulator.result())

    out = temp_location or tempfile.mkdtemp(prefix="mlrail-beam-stats-")
    try:
        with beam.Pipeline(options=PipelineOptions(flags=options or [], runner=runner)) as p:
            for split, paths in split_paths.items():
                (
                    p
                    | f"Files {split}" >> beam.Create(paths)
                    | f"Read {split}" >> beam.io.ReadAllFromParquetBatched(columns=columns)
                    | f"Statistics {split}" >> beam.CombineGlobally(StatisticsCombineFn())
                    | f"Write {split}"
                    >> beam.io.WriteToText(f"{out}/{split}", shard_name_template="")
                )
        results = {}
        for split in split_paths:
            with fsspec.open(f"{out}/{split}", "r") as handle:
                results[split] = json.loads(handle.read())
        return results
    finally:
        if temp_location is None:
            shutil.rmtree(out, ignore_errors=True)


def choose_engine(engine: str, total_bytes: int, beam_above_bytes: int) -> str:
    """``auto`` picks Beam only when the data is larger than ``beam_above_bytes``: below
    that, the in-process engine is faster (no pipeline start-up) and already streams."""
    if engine not in ENGINES:
        raise ValueError(f"statistics engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    return "beam" if total_bytes > beam_above_bytes else "in_process"


def compute_split_statistics(
    split_paths: dict[str, list[str]],
    config: StatsConfig,
    engine: str = "auto",
    beam_above_bytes: int = 10 << 30,
    beam_runner: str = "DirectRunner",
    beam_options: list[str] | None = None,
    columns: list[str] | None = None,
) -> dict[str, Any]:
    """Statistics per split (of ``columns``, default all) plus dataset-level row counts,
    and which engine made them."""
    total = sum(fsspec.core.url_to_fs(p)[0].size(p) for ps in split_paths.values() for p in ps)
    chosen = choose_engine(engine, total, beam_above_bytes)
    if chosen == "beam":
        splits = beam_statistics(split_paths, config, beam_runner, beam_options, columns=columns)
    else:
        splits = {
            split: in_process_statistics(paths, config, columns=columns)
            for split, paths in split_paths.items()
        }
    return {
        "splits": splits,
        "rows": sum(s["rows"] for s in splits.values()),
        "engine": chosen,
        "bytes": total,
    }
