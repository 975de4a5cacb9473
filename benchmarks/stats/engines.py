"""One statistics engine on one Parquet file, in its own process so peak RSS is its own.

    python benchmarks/stats/engines.py ENGINE PATH     (ENGINE: in_process | beam | pandas
                                                         | cache_hit)

Prints one JSON line: seconds (the statistics call only, after imports) and peak RSS.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def _in_process(path: str) -> float:
    """The in-process engine with its default threads: one per core (os.cpu_count())."""
    from mlrail.data.statistics import StatsConfig
    from mlrail.data.statistics.engine import in_process_statistics

    started = time.perf_counter()
    in_process_statistics([path], StatsConfig())
    return time.perf_counter() - started


def _beam(path: str) -> float:
    from mlrail.data.statistics import StatsConfig
    from mlrail.data.statistics.engine import beam_statistics

    started = time.perf_counter()
    beam_statistics({"all": [path]}, StatsConfig())
    return time.perf_counter() - started


def _pandas(path: str) -> float:
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_parquet(path)
    frame.describe()
    for column in frame.select_dtypes(exclude="number").columns:
        frame[column].value_counts()
    return time.perf_counter() - started


def _cache_hit(path: str) -> float:
    """A second run of the ingest and statistics tasks on the same data, through the
    operators' own ``execute`` (spec loading, the Airflow connection, the dataset's
    fingerprint, both cache lookups): what a cleared or re-scheduled run pays."""
    import json
    import os

    with tempfile.TemporaryDirectory(prefix="mlrail-bench-cache-") as scratch:
        work = Path(scratch)
        os.environ["AIRFLOW_CONN_MLRAIL_DEFAULT"] = json.dumps(
            {
                "conn_type": "generic",
                "extra": {
                    "artifact_root": str(work / "artifacts"),
                    "metadata_url": f"sqlite:///{work / 'm.db'}",
                    "serving_root": str(work / "serving"),
                },
            }
        )
        spec = work / "include" / "pipelines" / "bench.yaml"
        spec.parent.mkdir(parents=True)
        spec.write_text(
            f'pipeline: bench\ntask: multiclass_classification\ndata: {{source: "{path}", '
            "label: cat_0}\n"
        )
        from mlrail_airflow.operators import ComputeStatisticsOperator, IngestExamplesOperator

        def run(run_id: str) -> dict:
            examples = IngestExamplesOperator(task_id="ingest", spec_path=str(spec))
            done = examples.execute(_context(run_id, "ingest"))
            statistics = ComputeStatisticsOperator(
                task_id="statistics", spec_path=str(spec), examples=done
            )
            return statistics.execute(_context(run_id, "statistics"))

        run("cold")
        started = time.perf_counter()
        hit = run("warm")
        seconds = time.perf_counter() - started
    assert hit["cached"], "the second statistics run was not a cache hit"
    return seconds


@dataclasses.dataclass(frozen=True)
class _TaskInstance:
    run_id: str
    task_id: str
    dag_id: str = "bench_training"
    try_number: int = 1


def _context(run_id: str, task_id: str) -> dict:
    """The parts of what Airflow's task runner hands ``execute`` that the operators read."""
    return {"ti": _TaskInstance(run_id, task_id), "run_id": run_id, "params": {}}


ENGINES = {"in_process": _in_process, "beam": _beam, "pandas": _pandas, "cache_hit": _cache_hit}

if __name__ == "__main__":
    engine, path = sys.argv[1], sys.argv[2]
    seconds = ENGINES[engine](path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"engine": engine, "seconds": seconds, "peak_rss_mb": peak}))
