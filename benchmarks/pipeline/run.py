"""Cold run vs cache hit vs forced recompute of the taxi-tips training pipeline.

Runs the same chain the Airflow DAG runs (mlrail.components.pipeline.run_training_pipeline,
in-process, so Airflow's own start-up does not blur the figures) three times on one
generated dataset:

1. cold: empty stores, everything computed;
2. cached: same data, same code: ingest, statistics, schema, validation and training
   are served from the cache; evaluation and push run;
3. forced: ``force=True``, the peer without caching, in the same process and same run.

    .venv/bin/python benchmarks/pipeline/run.py [--rows N] [--quick]

The last line printed is one JSON object with seconds per run and per stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from mlrail.components.pipeline import run_training_pipeline
from mlrail.data.datagen import TaxiConfig, generate_taxi_trips, write_dataset
from mlrail.spec import load_spec
from mlrail.store.runner import Env, RunInfo
from mlrail.store.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _stage_seconds(env: Env, run_id: str) -> dict[str, float]:
    return {
        e.component: round((e.finished_at - e.started_at).total_seconds(), 3)
        for e in env.metadata.executions(run_id=run_id)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="20,000 rows")
    args = parser.parse_args()
    rows = 20_000 if args.quick else args.rows

    work = Path(tempfile.mkdtemp(prefix="mlrail-bench-"))
    try:
        data = write_dataset(generate_taxi_trips(TaxiConfig(rows=rows)), work / "trips.parquet")
        spec = load_spec(ROOT / "include/pipelines/taxi_tips.yaml")
        spec = dataclasses.replace(spec, data=dataclasses.replace(spec.data, source=str(data)))
        env = Env.open(
            Settings(str(work / "artifacts"), f"sqlite:///{work / 'm.db'}", str(work / "serving"))
        )
        results = {}
        for name, force in (("cold", False), ("cached", False), ("forced", True)):
            started = time.perf_counter()
            run_training_pipeline(env, spec, RunInfo(spec.pipeline, run_id=name), force=force)
            results[name] = {
                "seconds": round(time.perf_counter() - started, 2),
                "stages": _stage_seconds(env, name),
            }
            print(
                f"{name:>7}: {results[name]['seconds']:7.2f} s  {results[name]['stages']}",
                flush=True,
            )
        summary = {
            "rows": rows,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
            **{f"{k}_s": v["seconds"] for k, v in results.items()},
            "cached_vs_forced": round(
                results["cached"]["seconds"] / results["forced"]["seconds"], 3
            ),
            "stages": {k: v["stages"] for k, v in results.items()},
        }
        print(json.dumps(summary))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
