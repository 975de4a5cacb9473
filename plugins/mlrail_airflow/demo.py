"""`make demo`: run the taxi-tips training DAG through Airflow and print what it did.

Runs ``airflow dags test taxi_tips_training`` (the whole DAG in one process against the
project's Airflow home), keeps Airflow's own log in ``.airflow/demo-logs/``, and prints a
summary read back from the metadata store: dataset version and rows per split, which
stages came from the cache, metrics, the blessing verdict and the pushed version.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

DAG_ID = "taxi_tips_training"


def run_dag(dag_id: str, log_dir: Path) -> tuple[int, float, Path]:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{dag_id}-{datetime.now():%Y%m%dT%H%M%S}.log"
    airflow = Path(sys.executable).with_name("airflow")
    started = time.monotonic()
    with log_path.open("w") as log:
        code = subprocess.call(
            [str(airflow), "dags", "test", dag_id], stdout=log, stderr=subprocess.STDOUT
        )
    return code, time.monotonic() - started, log_path


def main() -> int:
    from mlrail.store.runner import Env
    from mlrail.store.summary import format_summary, run_summary
    from mlrail_airflow.hooks.mlrail import MlrailHook

    home = Path(os.environ["AIRFLOW_HOME"])
    print(f"running {DAG_ID} with `airflow dags test` (Airflow home {home}) ...", flush=True)
    code, seconds, log_path = run_dag(DAG_ID, home / "demo-logs")
    env = Env.open(MlrailHook().get_settings())
    try:
        summary = run_summary(env, prefix=f"{DAG_ID}/")
    except LookupError:
        summary = None
    print(
        f"\nAirflow run finished in {seconds:.1f} s ({'success' if code == 0 else 'FAILED'});"
        f" Airflow log: {log_path}"
    )
    if summary:
        print(format_summary(summary))
        print(
            f"\nartifacts: {env.settings.artifact_root}\nmetadata:  {env.settings.metadata_url}"
            f"\nlineage:   .venv/bin/python -m mlrail lineage --model taxi_tips --version N"
        )
    if code != 0:
        print(f"the DAG run failed; the task error is in {log_path}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
