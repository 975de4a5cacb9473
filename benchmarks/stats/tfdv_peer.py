"""Runs inside the TFDV virtualenv: statistics of a Parquet file with TFDV, as a peer.

    python tfdv_peer.py PATH dataframe    # TFDV's default local path (one process)
    python tfdv_peer.py PATH beam         # Beam DirectRunner, 2 worker processes

``dataframe``: ``pandas.read_parquet`` then ``generate_statistics_from_dataframe`` with
its default ``n_jobs=1``. ``beam``: TFDV's ``GenerateStatistics`` transform on the Parquet
file's record batches (``ReadFromParquetBatched``) on the DirectRunner in
``multi_processing`` mode with ``direct_num_workers=2``, its best parallelism on this
machine's 2 cores. Prints one JSON line: rows, read_seconds (dataframe only), seconds
(the statistics alone for dataframe; the whole pipeline for beam), peak RSS of this
process and, for beam, of its worker processes.
"""

import json
import resource
import sys
import time

import tensorflow_data_validation as tfdv


def dataframe(path: str) -> dict:
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_parquet(path)
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    stats = tfdv.generate_statistics_from_dataframe(frame)
    return {
        "rows": len(frame),
        "read_seconds": read_seconds,
        "seconds": time.perf_counter() - started,
        "features": len(stats.datasets[0].features),
    }


def beam(path: str) -> dict:
    import tempfile

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx_bsl.arrow.table_util import CanonicalizeRecordBatch

    options = PipelineOptions(
        ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
        runner="DirectRunner",
    )
    with tempfile.TemporaryDirectory(prefix="tfdv-beam-") as out:
        started = time.perf_counter()
        with beam.Pipeline(options=options) as pipeline:
            (
                pipeline
                | beam.io.ReadFromParquetBatched(path)
                # TFDV takes record batches of list columns, as its dataframe path makes.
                | beam.FlatMap(lambda table: map(CanonicalizeRecordBatch, table.to_batches()))
                | tfdv.GenerateStatistics(tfdv.StatsOptions())
                | tfdv.WriteStatisticsToBinaryFile(f"{out}/stats")
            )
        seconds = time.perf_counter() - started
        stats = tfdv.load_stats_binary(f"{out}/stats")
    features = stats.datasets[0]
    return {
        "rows": int(features.num_examples),
        "read_seconds": 0.0,
        "seconds": seconds,
        "features": len(features.features),
    }


if __name__ == "__main__":
    result = {"dataframe": dataframe, "beam": beam}[sys.argv[2]](sys.argv[1])
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if sys.argv[2] == "beam":  # the largest of the worker processes
        result["workers_peak_rss_mb"] = (
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        )
    print(json.dumps(result))
