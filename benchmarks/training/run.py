"""Is the model feeder ever the bottleneck? Step time with the real feeder vs in memory.

    .venv/bin/python benchmarks/training/run.py [--rows N] [--epochs E] [--quick]

Generates taxi trips, writes them as one Parquet split (row groups of 50,000, as ingest
writes them) and builds the taxi model from the real statistics and schema. In this
process it measures

1. the feeder alone: examples/s of iterating ``mlrail.training.feeder.make_dataset``;
2. the same rows written as TFRecord shards (``mlrail.training.tfrecord.write_tfrecords``, the
   parameter-server input) and read alone with ``make_tfrecord_dataset``;

then trains the model three ways, each in its own process (an "arm"), in the same run:

3. ``real_feeder``: Keras ``fit`` on the real feeder (seeded shuffle, parallel reads);
4. ``tfrecord``: the same on the TFRecord reader (same seed, batch size and steps);
5. ``in_memory``: the same on the feeder's batches cached in RAM during a warm-up epoch,
   then replayed.

Each arm trains a warm-up epoch (tracing, cache fill) and then runs one long ``fit``
(one iterator, as mlrail's trainer does) that stops every ``--segment`` steps. The arms
take turns segment by segment, in rotating order, and the arms that are not training are
stopped (SIGSTOP): none of them can work ahead, or compete for the cores, in another's
turn. On a shared virtual machine the step time of one and the same model drifts between
about 2 and 4.5 ms within seconds; turns of a fraction of a second give every arm the
same machine. Step times are totals over all turns.

The last line is one JSON object with ``feeder_step_ratio`` (real-feeder step time /
in-memory step time), ``feeder_examples_per_s``, and the TFRecord reader's
``tfrecord_examples_per_s`` and ``tfrecord_step_ratio``; ``step_ms_turns`` has every
turn's step time. ``--quick`` (100,000 rows) stays under two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[2]
ARMS = ("real_feeder", "tfrecord", "in_memory")


def _prepare(rows: int, work: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlrail.data.datagen import TaxiConfig, generate_taxi_trips
    from mlrail.data.schema import infer_schema
    from mlrail.data.statistics import table_statistics

    frame = generate_taxi_trips(TaxiConfig(rows=rows)).drop(columns=["trip_id", "tips"])
    path = work / "train.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=50_000)
    stats = table_statistics(frame)
    schema = infer_schema(stats, "big_tipper", "binary_classification", [], [], 100)
    return {"path": str(path), "schema": schema, "statistics": stats["features"]}


def _examples_per_s(data, steps: int) -> float:
    started = time.perf_counter()
    seen = sum(int(label.shape[0]) for _, label in data.take(steps))
    return seen / (time.perf_counter() - started)


def _arm_dataset(arm: str, setup: dict, batch_size: int):
    from mlrail.training.feeder import FeederConfig, make_dataset
    from mlrail.training.tfrecord import make_tfrecord_dataset

    config = FeederConfig(batch_size=batch_size, seed=7, repeat=True, drop_remainder=True)
    if arm == "real_feeder":
        return make_dataset([setup["path"]], setup["schema"], config)
    if arm == "tfrecord":
        return make_tfrecord_dataset(setup["files"], setup["schema"], config)
    once = FeederConfig(batch_size=batch_size, seed=7, drop_remainder=True)
    cached = make_dataset([setup["path"]], setup["schema"], once).cache()
    # A cache is kept only when a pass reaches the end; an iterator dropped earlier (as
    # Keras drops one after steps_per_epoch) throws the partial cache away.
    for _ in cached:
        pass
    return cached.repeat()


def _run_arm(arm: str, setup_file: str) -> None:
    """One arm's process: warm up, then train in turns. Each "go" on stdin starts a turn of
    ``segment`` steps, answered by "done <seconds>" on stdout; anything else (or the end of
    stdin) stops training."""
    import keras

    sys.path.insert(0, str(ROOT / "include" / "models"))
    import taxi_tips

    setup = json.loads(Path(setup_file).read_text())
    batch, steps = setup["batch_size"], setup["steps_per_epoch"]
    data = _arm_dataset(arm, setup, batch)
    keras.utils.set_random_seed(1)
    hparams = {**taxi_tips.HYPERPARAMETERS, "batch_size": batch}
    model = taxi_tips.build_model(setup["schema"], setup["statistics"], hparams)
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)  # tracing

    class Turns(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.steps = 0
            self.started = self._wait()

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps % setup["segment"] == 0:
                print(f"done {time.perf_counter() - self.started}", flush=True)
                self.started = self._wait()

        def _wait(self) -> float:
            if sys.stdin.readline().strip() != "go":
                self.model.stop_training = True
            return time.perf_counter()

    print("ready", flush=True)
    model.fit(data, epochs=10**6, steps_per_epoch=steps, verbose=0, callbacks=[Turns()])


def _reply(arm: str, process: subprocess.Popen, word: str) -> list[str]:
    """The arm's next line starting with ``word`` (libraries may print other lines)."""
    for line in process.stdout:
        if line.startswith(word):
            return line.split()
    raise RuntimeError(f"arm {arm} ended without saying {word!r} (exit code {process.wait()})")


def _take_turns(setup_file: Path, turns: int, segment: int) -> dict[str, list[float]]:
    """Seconds per step of every arm's turns; arms not in their turn are stopped."""
    processes = {
        arm: subprocess.Popen(
            [sys.executable, __file__, "--arm", arm, "--setup", str(setup_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for arm in ARMS
    }
    try:
        for arm, process in processes.items():
            _reply(arm, process, "ready")
            process.send_signal(signal.SIGSTOP)
        seconds: dict[str, list[float]] = {arm: [] for arm in ARMS}
        for number in range(turns):
            for arm in ARMS[number % 3 :] + ARMS[: number % 3]:
                process = processes[arm]
                process.send_signal(signal.SIGCONT)
                process.stdin.write("go\n")
                process.stdin.flush()
                reply = _reply(arm, process, "done")
                process.send_signal(signal.SIGSTOP)
                seconds[arm].append(float(reply[1]) / segment)
            print(
                f"turn {number + 1}: "
                + ", ".join(f"{a} {s[-1] * 1e3:.3f} ms" for a, s in seconds.items()),
                flush=True,
            )
        return seconds
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--epochs", type=int, default=8, help="timed epochs per arm")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--segment", type=int, default=200, help="steps per turn")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--setup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        return _run_arm(args.arm, args.setup)
    rows, epochs = (100_000, 4) if args.quick else (args.rows, args.epochs)
    # The split, its TFRecord copy and the arms' setup: removed however the run ends.
    with tempfile.TemporaryDirectory(prefix="mlrail-bench-train-") as scratch:
        _measure(args, rows, epochs, Path(scratch))


def _measure(args: argparse.Namespace, rows: int, epochs: int, work: Path) -> None:
    from mlrail.training.feeder import FeederConfig, make_dataset
    from mlrail.training.tfrecord import make_tfrecord_dataset, write_tfrecords

    setup = _prepare(rows, work)
    steps = rows // args.batch_size
    config = FeederConfig(batch_size=args.batch_size, seed=7, repeat=True, drop_remainder=True)
    feeder_rate = _examples_per_s(make_dataset([setup["path"]], setup["schema"], config), steps)
    print(f"feeder alone: {feeder_rate:,.0f} examples/s", flush=True)

    started = time.perf_counter()
    files = write_tfrecords([setup["path"]], str(work / "tfrecords"), setup["schema"], shards=4)
    write_rate = rows / (time.perf_counter() - started)
    print(f"TFRecord write: {write_rate:,.0f} rows/s", flush=True)
    tfrecord_rate = _examples_per_s(make_tfrecord_dataset(files, setup["schema"], config), steps)
    print(f"TFRecord reader alone: {tfrecord_rate:,.0f} examples/s", flush=True)

    setup.update(files=files, batch_size=args.batch_size, steps_per_epoch=steps)
    setup["segment"] = args.segment
    setup_file = work / "setup.json"
    setup_file.write_text(json.dumps(setup, default=lambda value: value.item()))
    turns = max(1, epochs * steps // args.segment)
    seconds = _take_turns(setup_file, turns, args.segment)
    real, tfrecord, memory = (sum(seconds[arm]) / turns for arm in ARMS)
    print(
        f"step over {turns} turns of {args.segment}: real feeder {real * 1e3:.3f} ms, "
        f"TFRecord {tfrecord * 1e3:.3f} ms, in memory {memory * 1e3:.3f} ms",
        flush=True,
    )
    paired = {
        arm: median(a / b for a, b in zip(seconds[arm], seconds["in_memory"], strict=True))
        for arm in ("real_feeder", "tfrecord")
    }
    print(
        json.dumps(
            {
                "rows": rows,
                "batch_size": args.batch_size,
                "timed_epochs": epochs,
                "steps_per_epoch": steps,
                "turns": turns,
                "segment_steps": args.segment,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                f"Python {platform.python_version()}, no GPU",
                "feeder_examples_per_s": round(feeder_rate),
                "step_ms_real_feeder": round(real * 1e3, 3),
                "step_ms_in_memory": round(memory * 1e3, 3),
                "feeder_step_ratio": round(real / memory, 3),
                "feeder_step_ratio_median_turn": round(paired["real_feeder"], 3),
                "tfrecord_write_rows_per_s": round(write_rate),
                "tfrecord_examples_per_s": round(tfrecord_rate),
                "step_ms_tfrecord": round(tfrecord * 1e3, 3),
                "tfrecord_step_ratio": round(tfrecord / memory, 3),
                "step_ms_turns": {
                    arm: [round(s * 1e3, 3) for s in values] for arm, values in seconds.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
