"""One KerasTuner search described as data, run in this process or as parallel trials.

With ``parallel`` above 1 the search runs as KerasTuner's own distributed tuning on
127.0.0.1: a chief process (``KERASTUNER_TUNER_ID=chief``) serves the oracle over gRPC
at ``KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT`` and ``parallel`` worker processes
(``tuner0`` ...) ask it for trials, each reading the Parquet examples itself. They all
share one tuner directory; the oracle stops handing out trials at ``max_trials`` in
total. When every worker has exited cleanly each trial has been reported and saved, so
the chief is stopped (KerasTuner's chief polls for the end every 20 s) and the results
are read back from the directory here.

    python -m mlrail.search_job JOB.json DIRECTORY    # one chief or worker process
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlrail.training.processes import LocalProcesses, exit_with_parent, free_ports

TIMEOUT_SECONDS = 4 * 3600


@dataclass(frozen=True)
class SearchJob:
    """Everything a search process needs; JSON-serializable for the worker processes."""

    module_path: str
    train_path: str
    eval_path: str
    schema: dict[str, Any]
    features: dict[str, Any]  # the train split's statistics, for build_model
    defaults: dict[str, Any]  # hyperparameters the search does not set
    batch_size: int
    steps: int  # train steps per trial
    algorithm: str
    max_trials: int
    seed: int
    objective: str
    start: dict[str, Any] | None = None  # HyperParameters config to search within (narrow)


def _tuner(job: SearchJob, directory: str, overwrite: bool):
    import keras_tuner as kt

    from mlrail.training.modules import load_model_module
    from mlrail.training.tuning import make_tuner

    module = load_model_module(job.module_path)
    return make_tuner(
        lambda values: module.build_model(job.schema, job.features, {**job.defaults, **values}),
        module.hyperparameter_space,
        algorithm=job.algorithm,
        max_trials=job.max_trials,
        epochs=1,
        directory=directory,
        seed=job.seed,
        objective=job.objective,
        hyperparameters=kt.HyperParameters.from_config(job.start) if job.start else None,
        overwrite=overwrite,
    )


def _search(job: SearchJob, directory: str, overwrite: bool):
    from mlrail.training.feeder import FeederConfig, make_dataset
    from mlrail.training.tuning import fit_kwargs

    train = make_dataset(
        [job.train_path],
        job.schema,
        FeederConfig(batch_size=job.batch_size, seed=job.seed, repeat=True),
    )
    evaluation = make_dataset([job.eval_path], job.schema, FeederConfig(batch_size=job.batch_size))
    tuner = _tuner(job, directory, overwrite)
    pause_when_idle(tuner)
    tuner.search(train, validation_data=evaluation, **fit_kwargs(1, job.steps))
    return tuner


def run_search(job: SearchJob, parallel: int = 1, timeout: float = TIMEOUT_SECONDS):
    """(best values, search space config, trials): in this process when ``parallel`` is
    1, else with ``parallel`` worker processes (see the module docstring)."""
    from mlrail.training.tuning import results

    with tempfile.TemporaryDirectory(prefix="mlrail-tuner-") as directory:
        if parallel <= 1:
            return results(_search(job, directory, overwrite=True))
        _run_processes(job, directory, parallel, timeout)
        # Reading back, not searching: a tuner built on the finished directory reloads
        # the chief's oracle (every trial's values and score) from its files.
        tuner = _tuner(job, directory, overwrite=False)
        tuner.oracle.reload()
        return results(tuner)


def _run_processes(job: SearchJob, directory: str, parallel: int, timeout: float) -> None:
    job_file = Path(directory) / "job.json"
    job_file.write_text(json.dumps(asdict(job)))
    (port,) = free_ports(1)
    base = {
        **os.environ,
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(port),
    }
    argv = [sys.executable, "-m", "mlrail.search_job", str(job_file), directory]
    workers = [f"tuner{index}" for index in range(parallel)]
    with LocalProcesses(prefix="mlrail-tuning-logs-") as group:
        for name in ("chief", *workers):
            group.start(name, argv, {**base, "KERASTUNER_TUNER_ID": name})
        group.wait(workers, watch=("chief",), timeout=timeout)
    # Leaving the block stopped the chief: it has nothing left to serve.


def pause_when_idle(tuner, seconds: float = 1.0) -> None:
    """In a worker, wait a moment when the chief answers IDLE: KerasTuner asks again at
    once, so a Hyperband bracket waiting on another worker's trial would otherwise be a
    busy loop of requests on a shared machine."""
    worker_id = os.environ.get("KERASTUNER_TUNER_ID", "")
    if "KERASTUNER_ORACLE_IP" not in os.environ or "chief" in worker_id:
        return
    create = tuner.oracle.create_trial

    def create_trial(tuner_id):
        trial = create(tuner_id)
        if trial.status == "IDLE":
            time.sleep(seconds)
        return trial

    tuner.oracle.create_trial = create_trial


def main(argv: list[str] | None = None) -> int:
    job_file, directory = sys.argv[1:] if argv is None else argv
    exit_with_parent()
    job = SearchJob(**json.loads(Path(job_file).read_text()))
    import keras

    # Trials differ by their hyperparameters, not by which worker happened to run them.
    keras.utils.set_random_seed(job.seed)
    _search(job, directory, overwrite=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
