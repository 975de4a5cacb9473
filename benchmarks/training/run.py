"""Is the model feeder ever the bottleneck? Step time with the real feeder vs in memory.

    .venv/bin/python benchmarks/training/run.py [--rows N] [--epochs E] [--quick]

Generates taxi trips, writes them as one Parquet split (row groups of 50,000, as ingest
writes them), builds the taxi model from the real statistics and schema, then in the same
process and run:

1. the feeder alone: examples/s of iterating ``mlrail.feeder.make_dataset``;
2. the same rows written as TFRecord shards (``mlrail.tfrecord.write_tfrecords``, the
   parameter-server input) and read alone with ``make_tfrecord_dataset``;
3. training with the real feeder (seeded shuffle, parallel row-group reads);
4. training with the TFRecord reader (same seed, batch size and steps);
5. training on the same batches held in memory (the feeder's output cached in RAM during
   a warm-up epoch, then replayed).

Each model first trains a warm-up epoch (tracing, cache fill); then the three train in
``--rounds`` rounds (5) whose order rotates. On a shared virtual machine step times jump
by a quarter or more for seconds at a time, so the ratios are taken round by round (the
real feeder against the in-memory run next to it) and their median is reported. The last
line is one JSON object with ``feeder_step_ratio`` (median over rounds of real-feeder step
time / in-memory step time), ``feeder_examples_per_s``, and the TFRecord reader's
``tfrecord_examples_per_s`` and ``tfrecord_step_ratio``; ``step_ms_*`` are the medians of
each arm and ``step_ms_rounds`` has every round's figures. ``--quick`` (100,000 rows, 2
timed epochs per round) stays under two minutes on 2 cores.
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
from statistics import median

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


def _timed_rounds(fits: dict, epochs: int, steps: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per step of each ``name: (model, data)`` in every round, in rotating order."""
    for model, data in fits.values():
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)  # warm-up: tracing, caches
    names = list(fits)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        turn = number % len(names)
        for name in names[turn:] + names[:turn]:
            model, data = fits[name]
            started = time.perf_counter()
            model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=0)
            seconds[name].append((time.perf_counter() - started) / (epochs * steps))
        print(
            f"round {number + 1}: "
            + ", ".join(f"{n} {s[-1] * 1e3:.3f} ms" for n, s in seconds.items()),
            flush=True,
        )
    return seconds


def _examples_per_s(data, steps: int) -> float:
    started = time.perf_counter()
    seen = sum(int(label.shape[0]) for _, label in data.take(steps))
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows, epochs = (100_000, 2) if args.quick else (args.rows, args.epochs)

    import keras

    sys.path.insert(0, str(ROOT / "include" / "models"))
    import taxi_tips

    from mlrail.feeder import FeederConfig, make_dataset
    from mlrail.tfrecord import make_tfrecord_dataset, write_tfrecords

    work = Path(tempfile.mkdtemp(prefix="mlrail-bench-train-"))
    path, schema, statistics = _prepare(rows, work)
    config = FeederConfig(batch_size=args.batch_size, seed=7, repeat=True, drop_remainder=True)
    steps = rows // args.batch_size

    feeder_rate = _examples_per_s(make_dataset([path], schema, config), steps)
    print(f"feeder alone: {feeder_rate:,.0f} examples/s", flush=True)

    started = time.perf_counter()
    files = write_tfrecords([path], str(work / "tfrecords"), schema, shards=4)
    write_rate = rows / (time.perf_counter() - started)
    print(f"TFRecord write: {write_rate:,.0f} rows/s", flush=True)
    tfrecord_rate = _examples_per_s(make_tfrecord_dataset(files, schema, config), steps)
    print(f"TFRecord reader alone: {tfrecord_rate:,.0f} examples/s", flush=True)

    hparams = {**taxi_tips.HYPERPARAMETERS, "batch_size": args.batch_size}
    no_repeat = FeederConfig(batch_size=args.batch_size, seed=7, drop_remainder=True)
    datasets = {
        "real_feeder": make_dataset([path], schema, config),
        "tfrecord": make_tfrecord_dataset(files, schema, config),
        "in_memory": make_dataset([path], schema, no_repeat).cache().repeat(),
    }
    fits = {}
    for name, data in datasets.items():
        keras.utils.set_random_seed(1)
        fits[name] = (taxi_tips.build_model(schema, statistics, hparams), data)
    rounds = _timed_rounds(fits, epochs, steps, args.rounds)
    real, tfrecord, memory = (median(rounds[name]) for name in datasets)
    real_ratio, tfrecord_ratio = (
        median(a / b for a, b in zip(rounds[name], rounds["in_memory"], strict=True))
        for name in ("real_feeder", "tfrecord")
    )
    print(
        f"median step: real feeder {real * 1e3:.3f} ms, TFRecord {tfrecord * 1e3:.3f} ms, "
        f"in memory {memory * 1e3:.3f} ms",
        flush=True,
    )

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
                "feeder_step_ratio": round(real_ratio, 3),
                "tfrecord_write_rows_per_s": round(write_rate),
                "tfrecord_examples_per_s": round(tfrecord_rate),
                "step_ms_tfrecord": round(tfrecord * 1e3, 3),
                "tfrecord_step_ratio": round(tfrecord_ratio, 3),
                "step_ms_rounds": {
                    name: [round(s * 1e3, 3) for s in values] for name, values in rounds.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
