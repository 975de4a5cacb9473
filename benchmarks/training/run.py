"""Is the model feeder ever the bottleneck? Step time with the real feeder vs in memory.

    .venv/bin/python benchmarks/training/run.py [--rows N] [--epochs E] [--quick]

Generates taxi trips, writes them as one Parquet split (row groups of 50,000, as ingest
writes them), builds the taxi model from the real statistics and schema, then in the same
process and run:

1. the feeder alone: examples/s of iterating ``mlrail.feeder.make_dataset``;
2. training with the real feeder (seeded shuffle, parallel row-group reads);
3. training on the same batches held in memory (the feeder's output cached in RAM during
   a warm-up epoch, then replayed).

Each training measurement skips a warm-up epoch (tracing, cache fill). The last line is
one JSON object with ``feeder_step_ratio`` (real-feeder step time / in-memory step time)
and ``feeder_examples_per_s``. ``--quick`` (100,000 rows, 2 timed epochs) stays under two
minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _prepare(rows: int, work: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlrail.datagen import TaxiConfig, generate_taxi_trips
    from mlrail.schema import infer_schema
    from mlrail.statistics import table_statistics

    frame = generate_taxi_trips(TaxiConfig(rows=rows)).drop(columns=["trip_id", "tips"])
    path = work / "train.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=50_000)
    stats = table_statistics(frame)
    schema = infer_schema(stats, "big_tipper", "binary_classification", [], [], 100)
    return str(path), schema, stats["features"]


def _timed_fit(model, data, epochs: int, steps: int) -> float:
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)  # warm-up: tracing, caches
    started = time.perf_counter()
    model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=0)
    return (time.perf_counter() - started) / (epochs * steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows, epochs = (100_000, 2) if args.quick else (args.rows, args.epochs)

    import keras

    sys.path.insert(0, str(ROOT / "include" / "models"))
    import taxi_tips

    from mlrail.feeder import FeederConfig, make_dataset

    work = Path(tempfile.mkdtemp(prefix="mlrail-bench-train-"))
    path, schema, statistics = _prepare(rows, work)
    config = FeederConfig(batch_size=args.batch_size, seed=7, repeat=True, drop_remainder=True)
    steps = rows // args.batch_size

    started = time.perf_counter()
    seen = sum(int(label.shape[0]) for _, label in make_dataset([path], schema, config).take(steps))
    feeder_rate = seen / (time.perf_counter() - started)
    print(f"feeder alone: {feeder_rate:,.0f} examples/s", flush=True)

    hparams = {**taxi_tips.HYPERPARAMETERS, "batch_size": args.batch_size}
    keras.utils.set_random_seed(1)
    real = _timed_fit(
        taxi_tips.build_model(schema, statistics, hparams),
        make_dataset([path], schema, config),
        epochs,
        steps,
    )
    print(f"step with the real feeder: {real * 1e3:.2f} ms", flush=True)

    keras.utils.set_random_seed(1)
    no_repeat = FeederConfig(batch_size=args.batch_size, seed=7, drop_remainder=True)
    in_memory = make_dataset([path], schema, no_repeat).cache().repeat()
    memory = _timed_fit(
        taxi_tips.build_model(schema, statistics, hparams), in_memory, epochs, steps
    )
    print(f"step with batches in memory: {memory * 1e3:.2f} ms", flush=True)

    print(
        json.dumps(
            {
                "rows": rows,
                "batch_size": args.batch_size,
                "timed_epochs": epochs,
                "steps_per_epoch": steps,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                f"Python {platform.python_version()}, no GPU",
                "feeder_examples_per_s": round(feeder_rate),
                "step_ms_real_feeder": round(real * 1e3, 3),
                "step_ms_in_memory": round(memory * 1e3, 3),
                "feeder_step_ratio": round(real / memory, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
