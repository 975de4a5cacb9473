"""Statistics benchmark: our in-process and Beam engines against TFDV and pandas.

    .venv/bin/python benchmarks/stats/run.py [--rows N [N ...]] [--quick]

For each size it generates (or reuses) ``benchmarks/.work/stats-<N>.parquet`` with 20
numeric and 5 categorical columns, then measures in the same run, each engine in its own
process:

* ``in_process``: mlrail's streamed engine (Parquet file -> statistics);
* ``beam``: the same accumulators as a Beam pipeline on the DirectRunner;
* ``tfdv``: TFDV ``generate_statistics_from_dataframe`` in its own virtualenv
  (tensorflow-data-validation 1.16.1 needs tensorflow 2.16, pandas < 2 and pyarrow 10;
  the script creates ``benchmarks/.work/tfdv-venv`` on first use). Its rows/s counts the
  Parquet read plus the statistics, the same work our engines do; the statistics call
  alone is reported too;
* ``pandas``: ``read_parquet`` + ``describe()`` + ``value_counts()`` per string column;
* ``cache_hit``: a statistics cache hit through mlrail.components.pipeline, the operator's path.

Sizes up to 2M rows are run three times per engine and the median is kept.
The last line printed is one JSON object: per size, rows/s, wall seconds and peak RSS per
engine, ``ratio_vs_tfdv`` (our in-process rows/s over TFDV's) and ``cache_hit_s``.
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


def _median_run(command: list[str], repeats: int) -> dict:
    """Run ``command`` ``repeats`` times; keep the run with the median wall time."""
    runs = sorted((_run(command) for _ in range(repeats)), key=lambda r: r["seconds"])
    return {**runs[len(runs) // 2], "runs_s": [r["seconds"] for r in runs]}


def measure(rows: int, tfdv_python: Path) -> dict:
    path = str(make_table(WORK / f"stats-{rows}.parquet", rows))
    # Median of 3 at small sizes, where one run is short enough for noise to matter.
    repeats = 3 if rows <= 2_000_000 else 1
    results = {}
    for engine in ("in_process", "beam", "pandas", "cache_hit"):
        command = [sys.executable, str(HERE / "engines.py"), engine, path]
        results[engine] = _median_run(command, repeats)
        print(
            f"{rows:>11,} rows  {engine:<10} {results[engine]['seconds']:8.3f} s  "
            f"peak {results[engine]['peak_rss_mb']:7.0f} MB",
            flush=True,
        )
    tfdv_runs = sorted(
        (_run([str(tfdv_python), str(HERE / "tfdv_peer.py"), path]) for _ in range(repeats)),
        key=lambda r: r["read_seconds"] + r["seconds"],
    )
    tfdv = tfdv_runs[len(tfdv_runs) // 2]
    results["tfdv"] = {
        "seconds": tfdv["read_seconds"] + tfdv["seconds"],
        "stats_only_seconds": tfdv["seconds"],
        "peak_rss_mb": tfdv["peak_rss_mb"],
        "runs_s": [r["read_seconds"] + r["seconds"] for r in tfdv_runs],
    }
    print(
        f"{rows:>11,} rows  tfdv       {results['tfdv']['seconds']:8.3f} s  "
        f"(statistics call alone {tfdv['seconds']:.3f} s)  "
        f"peak {tfdv['peak_rss_mb']:7.0f} MB",
        flush=True,
    )
    for name, result in results.items():
        if name != "cache_hit":
            result["rows_per_s"] = rows / result["seconds"]
    return {
        "engines": results,
        "ratio_vs_tfdv": results["in_process"]["rows_per_s"] / results["tfdv"]["rows_per_s"],
        "ratio_vs_tfdv_stats_only": results["in_process"]["rows_per_s"]
        / (rows / results["tfdv"]["stats_only_seconds"]),
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
