"""Statistics benchmark: our in-process and Beam engines against TFDV and pandas.

    .venv/bin/python benchmarks/stats/run.py [--rows N [N ...]] [--quick]

For each size it generates (or reuses) ``benchmarks/.work/stats-<N>.parquet`` with 20
numeric and 5 categorical columns, then measures in the same run, each arm in its own
process (``SETTINGS`` below says how each runs; the JSON repeats it):

* ``in_process``: mlrail's streamed engine, one thread per core;
* ``beam``: the same accumulators as a Beam pipeline on the DirectRunner;
* ``tfdv``: TFDV's default local path, ``read_parquet`` + ``generate_statistics_from_
  dataframe`` (tensorflow-data-validation 1.16.1 needs tensorflow 2.16, pandas < 2 and
  pyarrow 10: the script creates ``benchmarks/.work/tfdv-venv`` on first use);
* ``tfdv_beam``: TFDV's ``GenerateStatistics`` on the Parquet record batches, on Beam's
  DirectRunner with 2 worker processes, its best local parallelism on 2 cores;
* ``pandas``: ``read_parquet`` + ``describe()`` + ``value_counts()`` per string column;
* ``cache_hit``: a second run of the ingest and statistics operators' ``execute`` on the
  same data (spec, connection, dataset fingerprint, both cache lookups).

Sizes up to 2M rows run three rounds in which the arms take turns; the median round per
arm is kept. Every temporary store is removed. The last line printed is one JSON object:
per size, rows/s, wall seconds, peak RSS and settings per arm, ``ratio_vs_tfdv`` and
``ratio_vs_tfdv_beam`` (our in-process rows/s over each TFDV arm's) and ``cache_hit_s``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / ".work"
TFDV_VENV = WORK / "tfdv-venv"
TFDV_PACKAGES = ["tensorflow-data-validation==1.16.1", "dill"]

sys.path.insert(0, str(HERE))
from data import make_table  # noqa: E402


def ensure_tfdv() -> Path:
    python = TFDV_VENV / "bin" / "python"
    if (
        not python.exists()
        or subprocess.call(
            [str(python), "-c", "import tensorflow_data_validation, dill"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        != 0
    ):
        print("creating the TFDV virtualenv (one time, a few minutes) ...", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(TFDV_VENV)])
        subprocess.check_call([str(python), "-m", "pip", "install", "-q", "uv"])
        subprocess.check_call(
            [
                str(TFDV_VENV / "bin" / "uv"),
                "pip",
                "install",
                "--python",
                str(python),
                *TFDV_PACKAGES,
            ]
        )
    return python


def _run(command: list[str]) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# How each arm runs: recorded with the figures.
SETTINGS = {
    "in_process": f"mlrail, {os.cpu_count()} threads (one per core, the default)",
    "beam": "mlrail on Beam's DirectRunner, its defaults (in_memory, 1 worker)",
    "pandas": "read_parquet + describe() + value_counts(), one thread",
    "cache_hit": "second run of the ingest and statistics operators (fingerprint included)",
    "tfdv": "TFDV read_parquet + generate_statistics_from_dataframe, n_jobs=1 (default)",
    "tfdv_beam": "TFDV GenerateStatistics on Beam's DirectRunner, multi_processing, 2 workers",
}


def _command(engine: str, path: str, tfdv_python: Path) -> list[str]:
    if engine.startswith("tfdv"):
        mode = "beam" if engine == "tfdv_beam" else "dataframe"
        return [str(tfdv_python), str(HERE / "tfdv_peer.py"), path, mode]
    return [sys.executable, str(HERE / "engines.py"), engine, path]


def _seconds(run: dict) -> float:
    """Parquet to statistics: TFDV's dataframe arm reads with pandas first."""
    return run["seconds"] + run.get("read_seconds", 0.0)


def measure(rows: int, tfdv_python: Path) -> dict:
    path = str(make_table(WORK / f"stats-{rows}.parquet", rows))
    # Three rounds at small sizes, where one run is short enough for noise to matter. The
    # arms take turns within a round, so a slow minute of the machine hits all of them.
    repeats = 3 if rows <= 2_000_000 else 1
    runs: dict[str, list[dict]] = {engine: [] for engine in SETTINGS}
    for round_number in range(repeats):
        for engine in SETTINGS:
            run = _run(_command(engine, path, tfdv_python))
            runs[engine].append(run)
            print(
                f"{rows:>11,} rows  round {round_number + 1}  {engine:<10} "
                f"{_seconds(run):8.3f} s  peak {run['peak_rss_mb']:7.0f} MB",
                flush=True,
            )
    results = {}
    for engine, done in runs.items():
        median = sorted(done, key=_seconds)[len(done) // 2]
        results[engine] = {
            "seconds": _seconds(median),
            "peak_rss_mb": median["peak_rss_mb"],
            "runs_s": [_seconds(r) for r in done],
            "settings": SETTINGS[engine],
        }
        if engine.startswith("tfdv"):
            results[engine]["stats_only_seconds"] = median["seconds"]
            if "workers_peak_rss_mb" in median:
                results[engine]["workers_peak_rss_mb"] = median["workers_peak_rss_mb"]
        if engine != "cache_hit":
            results[engine]["rows_per_s"] = rows / results[engine]["seconds"]
    ours = results["in_process"]["rows_per_s"]
    return {
        "engines": results,
        "ratio_vs_tfdv": ours / results["tfdv"]["rows_per_s"],
        "ratio_vs_tfdv_beam": ours / results["tfdv_beam"]["rows_per_s"],
        "ratio_vs_tfdv_stats_only": ours / (rows / results["tfdv"]["stats_only_seconds"]),
        "cache_hit_s": results["cache_hit"]["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--quick", action="store_true", help="1M rows only")
    args = parser.parse_args()
    sizes = [1_000_000] if args.quick else args.rows
    tfdv_python = ensure_tfdv()
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "sizes": {str(rows): measure(rows, tfdv_python) for rows in sizes},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
