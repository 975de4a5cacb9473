"""One statistics engine on one Parquet file, in its own process so peak RSS is its own.

    python benchmarks/stats/engines.py ENGINE PATH     (ENGINE: in_process | beam | pandas
                                                         | cache_hit)

Prints one JSON line: seconds (the statistics call only, after imports) and peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def _in_process(path: str) -> float:
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
    """A statistics cache hit through the path the operator takes (mlrail.components.pipeline)."""
    import dataclasses

    from mlrail.components.pipeline import compute_statistics, ingest_examples
    from mlrail.spec import DataSpec, PipelineSpec, TrainSpec
    from mlrail.store.runner import Env, RunInfo
    from mlrail.store.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="mlrail-bench-cache-"))
    env = Env.open(
        Settings(str(work / "artifacts"), f"sqlite:///{work / 'm.db'}", str(work / "serving"))
    )
    spec = PipelineSpec(
        pipeline="bench",
        data=DataSpec(source=path, label="cat_0"),
        train=TrainSpec(module="unused.py"),
        task="multiclass_classification",
    )
    spec = dataclasses.replace(spec, path=str(work / "include" / "pipelines" / "b.yaml"))
    run = RunInfo("bench", run_id="cold")
    examples = ingest_examples(env, spec, run).outputs["examples"].id
    compute_statistics(env, spec, run, examples)
    started = time.perf_counter()
    hit = compute_statistics(env, spec, RunInfo("bench", run_id="warm"), examples)
    seconds = time.perf_counter() - started
    assert hit.cached, "the second statistics call was not a cache hit"
    return seconds


ENGINES = {"in_process": _in_process, "beam": _beam, "pandas": _pandas, "cache_hit": _cache_hit}

if __name__ == "__main__":
    engine, path = sys.argv[1], sys.argv[2]
    seconds = ENGINES[engine](path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"engine": engine, "seconds": seconds, "peak_rss_mb": peak}))
