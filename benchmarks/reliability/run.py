"""Concurrent training runs and SIGKILLs under a real Airflow scheduler.

A real Airflow 3 deployment in a temporary folder: API server, scheduler (LocalExecutor)
and DAG processor, with PostgreSQL (started by this script, as the tests start it) for
both Airflow's database and mlrail's store. Its DAGs are ``--runs`` copies of the taxi
training pipeline (``reliability_0`` ...) that share one data source and one model name,
so their cache keys are identical: the mlrail guarantees say they compute each step once
and register one model version.

1. Concurrency: every DAG is triggered at the same moment, twice (a cold wave, then a
   wave that should be served from the cache). Counted: failed runs, duplicate versions
   (two versions trained from the same inputs), alias moves without a new model, and
   anything partial visible afterwards (staging folders, executions still ``running``,
   serving folders without a published version).
2. Kill trials: the data gets a new version, one DAG is triggered, and its task process
   is killed with SIGKILL during training, during export (a SavedModel half-written to
   staging) or during push, found through the owner that mlrail records on the running
   execution. The on-call person's move follows: clear the task. A trial is recovered
   when the run then succeeds with nothing partial visible.

    .venv/bin/python benchmarks/reliability/run.py [--quick] [--runs N] [--kills K]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from mlrail.data.datagen import TaxiConfig, generate_taxi_trips, write_dataset  # noqa: E402
from mlrail.store.registry import ModelRegistry  # noqa: E402
from mlrail.store.runner import Env  # noqa: E402
from mlrail.store.settings import Settings  # noqa: E402
from tests.postgres import PostgresServer, _free_port  # noqa: E402

MODEL = "taxi_reliability"
TERMINAL = {"success", "failed"}
KILL_POINTS = ("train", "export", "push")


def write_project(work: Path, runs: int, data: Path) -> Path:
    """Pipeline specs ``reliability_<i>`` (one data source, one model name) and a DAG file."""
    base = yaml.safe_load((ROOT / "include/pipelines/taxi_tips.yaml").read_text())
    pipelines = work / "pipelines"
    pipelines.mkdir(parents=True)
    for i in range(runs):
        spec = {
            **base,
            "pipeline": f"reliability_{i}",
            "model_name": MODEL,
            "schedule": None,
            "data": {**base["data"], "source": str(data)},
            "train": {
                "module": str(ROOT / "include/models/taxi_tips.py"),
                "hyperparameters": {"epochs": 2, "batch_size": 256, "hidden_units": [16]},
                "retries": 0,
            },
            # Every new model is blessed, so every kill trial reaches its push.
            "evaluation": {"baseline_tolerance": {"auc": 1.0}},
        }
        (pipelines / f"reliability_{i}.yaml").write_text(yaml.safe_dump(spec))
    dags = work / "dags"
    dags.mkdir()
    (dags / "reliability.py").write_text(
        "from pathlib import Path\n"
        "from mlrail_airflow.dag_factory import training_dag\n"
        f"for spec in sorted(Path({str(pipelines)!r}).glob('*.yaml')):\n"
        "    dag = training_dag(spec)\n"
        "    globals()[dag.dag_id] = dag\n"
    )
    return dags


class Deployment:
    """Airflow's API server, scheduler and DAG processor, as separate processes."""

    def __init__(self, work: Path, dags: Path, airflow_db: str, settings: Settings, slots: int):
        self.work, self.port, self.slots = work, _free_port(), slots
        connection = {
            "conn_type": "generic",
            "extra": {
                "artifact_root": settings.artifact_root,
                "metadata_url": settings.metadata_url,
                "serving_root": settings.serving_root,
            },
        }
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(max(4, slots)),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW_CONN_MLRAIL_DEFAULT": json.dumps(connection),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": str(ROOT),
        }
        self.processes: list[subprocess.Popen] = []
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{self.port}/api/v2", timeout=30)

    def _airflow(self, *args: str) -> None:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode:
            raise RuntimeError(f"airflow {' '.join(args)}: {done.stderr[-3000:]}")

    def start(self, dag_ids: list[str]) -> None:
        self._airflow("db", "migrate")
        # Every run's training may start at once: the lease, not the pool, must keep
        # them from training the same model twice.
        self._airflow("pools", "set", "training", str(self.slots), "mlrail training")
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        for part in ("api-server", "scheduler", "dag-processor"):
            log = (logs / f"{part}.log").open("w")
            command = [str(Path(sys.executable).parent / "airflow"), part]
            self.processes.append(
                subprocess.Popen(
                    command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.work
                )
            )
        self._wait(lambda: self._has_dags(dag_ids), 300, "the DAGs to be parsed")

    def _has_dags(self, dag_ids: list[str]) -> bool:
        try:
            found = self.api.get("/dags", params={"limit": 100}).json()["dags"]
        except (httpx.HTTPError, KeyError, ValueError):
            return False
        return set(dag_ids) <= {d["dag_id"] for d in found}

    @staticmethod
    def _wait(ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(1)
        raise TimeoutError(f"waited {timeout} s for {what}")

    def trigger(self, dag_id: str) -> str:
        answer = self.api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        answer.raise_for_status()
        return answer.json()["dag_run_id"]

    def state(self, dag_id: str, run_id: str) -> str:
        return self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]

    def wait_all(self, runs: list[tuple[str, str]], timeout: float = 1800) -> dict:
        """Wait until every run has ended; their final states."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = {run: self.state(*run) for run in runs}
            if all(s in TERMINAL for s in states.values()):
                return states
            time.sleep(2)
        raise TimeoutError(f"{len(runs)} DAG runs did not end within {timeout} s")

    def clear(self, dag_id: str, run_id: str, task_id: str) -> None:
        """Clear ``task_id`` and its downstream tasks in the run (Airflow's Clear button)."""
        answer = self.api.post(
            f"/dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": [task_id],
                "include_downstream": True,  # as the on-call person does: the rest waits on it
                "only_failed": False,
                "reset_dag_runs": True,
            },
        )
        answer.raise_for_status()

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        answer = self.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in answer.json().get("task_instances", [])}

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        # LocalExecutor workers and task processes the parts leave behind.
        subprocess.run(["pkill", "-f", str(self.work)], check=False)


def partial_visible(env: Env, settings: Settings) -> list[str]:
    """Everything a reader could see half-done: the guarantees say this stays empty."""
    found = [str(p) for p in Path(settings.artifact_root).rglob(".*.staging-*")]
    serving = Path(settings.serving_root) / MODEL
    if serving.exists():
        found += [str(p) for p in serving.glob(".*.staging-*")]
        published = {str(v.version) for v in ModelRegistry(env.metadata).versions(MODEL)}
        found += [str(p) for p in serving.iterdir() if not p.name.startswith(".")
                  and (p.name not in published or not (p / "saved_model.pb").exists())]  # fmt: skip
    found += [f"execution {e.id} ({e.component}) still running"
              for e in env.metadata.executions(state="running")]  # fmt: skip
    return found


def _train_key(env: Env, model_artifact_id: int) -> str | None:
    producer = env.metadata.producer_of(model_artifact_id)
    return producer and producer.cache_key


def registry_figures(env: Env) -> dict:
    """Versions trained from the same inputs twice, and alias moves to an equal model."""
    registry = ModelRegistry(env.metadata)
    versions = registry.versions(MODEL)
    keys = {v.version: _train_key(env, v.model_artifact_id) for v in versions}
    moves = [h for h in registry.alias_history(MODEL, "blessed") if h["from_version"]]
    return {
        "versions": len(versions),
        "duplicate_versions": len(versions) - len(set(keys.values())),
        "alias_moves_without_new_model": sum(
            keys.get(m["from_version"]) == keys.get(m["to_version"]) for m in moves
        ),
    }


def computed(env: Env, run_ids: list[str]) -> dict[str, int]:
    """How many executions of each step really computed (not served from the cache) in
    these runs: 1 per step in a cold wave with identical keys, 0 in a cached one (push,
    which always runs, aside)."""
    counts: dict[str, int] = {}
    for run_id in run_ids:
        for e in env.metadata.executions(run_id=run_id):
            counts[e.component] = counts.get(e.component, 0) + (e.state == "complete")
    return counts


def waits(work: Path) -> int:
    """Task log lines where a run waited for another one computing the same key."""
    needle = "waiting for it instead of computing it twice"
    logs = (work / "airflow" / "logs").rglob("*.log")
    return sum(path.read_text(errors="replace").count(needle) for path in logs)


def concurrency(deployment: Deployment, env: Env, dag_ids: list[str]) -> dict:
    results = {"runs": 0, "failed_runs": 0, "waves": []}
    for wave in ("cold", "cached"):
        moves_before = len(ModelRegistry(env.metadata).alias_history(MODEL))
        waited_before = waits(deployment.work)
        started = time.monotonic()
        runs = [(dag_id, deployment.trigger(dag_id)) for dag_id in dag_ids]
        states = deployment.wait_all(runs)
        failed = sum(s != "success" for s in states.values())
        moved = len(ModelRegistry(env.metadata).alias_history(MODEL)) - moves_before
        results["runs"] += len(runs)
        results["failed_runs"] += failed
        results["waves"].append(
            {
                "wave": wave,
                "seconds": round(time.monotonic() - started, 1),
                "failed": failed,
                "alias_moves": moved,
                "computed": computed(env, [run_id for _, run_id in runs]),
                "waited_for_another_run": waits(deployment.work) - waited_before,
            }
        )
    # In the cached wave nothing changed: any alias move there is one without a new model.
    return results


def _running_owner(env: Env, component: str) -> int | None:
    for execution in env.metadata.executions(state="running", component=component):
        if execution.owner and not execution.owner.startswith("remote:"):
            return int(execution.owner.split(":")[1])
    return None


def _exporting_owner(env: Env, settings: Settings) -> int | None:
    if any(Path(settings.artifact_root).glob("**/train/*/.model.staging-*/saved_model")):
        return _running_owner(env, "train")
    return None


def kill_trial(
    deployment: Deployment, env: Env, settings: Settings, data: Path, trial: int, point: str
) -> dict:
    """New data version, one run, SIGKILL at ``point``, clear the task, wait for the run."""
    frame = generate_taxi_trips(TaxiConfig(rows=data_rows(data), seed=100 + trial))
    write_dataset(frame, data)
    dag_id = "reliability_0_training"
    run_id = deployment.trigger(dag_id)
    rng = random.Random(trial)
    find = {
        "train": lambda: _running_owner(env, "train"),
        "export": lambda: _exporting_owner(env, settings),
        "push": lambda: _running_owner(env, "push"),
    }[point]
    task = "push" if point == "push" else "train"
    deadline = time.monotonic() + 900
    killed = None
    while killed is None and time.monotonic() < deadline:
        if deployment.state(dag_id, run_id) in TERMINAL:
            break
        pid = find()
        if pid is not None:
            if point == "train":
                time.sleep(rng.uniform(0.5, 3.0))  # somewhere inside training
            try:
                os.kill(pid, signal.SIGKILL)
                killed = pid
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    if killed is None:
        state = deployment.state(dag_id, run_id)
        return {"trial": trial, "point": point, "killed": False, "run": state}
    # The on-call person clears the killed task once Airflow is done with it: the run has
    # failed, or the task waits for its retry. (Cleared earlier, while the run was still
    # settling, one trial kept its downstream tasks upstream_failed after the clear.)
    deployment._wait(
        lambda: (
            deployment.state(dag_id, run_id) == "failed"
            or _task_state(deployment, dag_id, run_id, task) == "up_for_retry"
        ),
        300,
        f"Airflow to finish with the killed {task}",
    )
    deployment.clear(dag_id, run_id, task)
    state = deployment.wait_all([(dag_id, run_id)])[(dag_id, run_id)]
    leftovers = partial_visible(env, settings)
    outcome = {
        "trial": trial,
        "point": point,
        "killed": True,
        "run": state,
        "partial_visible": leftovers,
        "recovered": state == "success" and not leftovers,
    }
    if state != "success":  # what the on-call person would look at next
        outcome["tasks"] = deployment.task_states(dag_id, run_id)
        outcome["executions"] = [
            (e.component, e.try_number, e.state, (e.error or "")[-300:])
            for e in env.metadata.executions(run_id=run_id)
        ]
    return outcome


def _task_state(deployment: Deployment, dag_id: str, run_id: str, task: str) -> str | None:
    answer = deployment.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task}")
    return answer.json().get("state") if answer.status_code == 200 else None


def data_rows(data: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(data).num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="concurrent DAG runs per wave")
    parser.add_argument("--kills", type=int, default=9, help="kill trials")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2 runs, 3 kill trials, 4,000 rows")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.kills, args.rows = 2, 3, 4_000

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="mlrail-reliability-"))
    # A folder of its own: the server may run as the postgres user, which cannot enter
    # a private temporary folder of root's (as in tests/conftest.py).
    pg_root = Path(tempfile.mkdtemp(prefix="mlrail-reliability-pg-"))
    postgres = PostgresServer(pg_root).start()
    deployment = None
    try:
        settings = Settings(str(work / "artifacts"), postgres.new_database(), str(work / "serving"))
        data = write_dataset(
            generate_taxi_trips(TaxiConfig(rows=args.rows)), work / "trips.parquet"
        )
        dags = write_project(work, args.runs, data)
        dag_ids = [f"reliability_{i}_training" for i in range(args.runs)]
        deployment = Deployment(work, dags, postgres.new_database(), settings, args.runs)
        deployment.start(dag_ids)
        env = Env.open(settings)
        figures = concurrency(deployment, env, dag_ids)
        figures.update(registry_figures(env))
        figures["alias_moves_without_new_model"] += figures["waves"][1]["alias_moves"]
        figures["partial_artifacts_visible"] = len(partial_visible(env, settings))
        trials = [
            kill_trial(deployment, env, settings, data, n, KILL_POINTS[n % len(KILL_POINTS)])
            for n in range(args.kills)
        ]
        figures["partial_artifacts_visible"] += sum(
            len(t.get("partial_visible", [])) for t in trials
        )
        figures.update(
            kill_trials=sum(t["killed"] for t in trials),
            kill_trials_recovered=sum(t.get("recovered", False) for t in trials),
            trials=trials,
            versions_after_kills=len(ModelRegistry(env.metadata).versions(MODEL)),
        )
        env.metadata.close()
    finally:
        if deployment is not None:
            deployment.stop()
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_root, ignore_errors=True)
    figures.update(
        seconds=round(time.monotonic() - started, 1),
        settings={
            "runs_per_wave": args.runs,
            "kill_trials_asked": args.kills,
            "rows": args.rows,
            "executor": "LocalExecutor",
            "parallelism": max(4, args.runs),
            "training_pool_slots": args.runs,
            "databases": "PostgreSQL (Airflow and mlrail)",
        },  # fmt: skip
        machine={"cpus": os.cpu_count(), "python": platform.python_version()},
    )
    for trial in figures["trials"]:
        print(f"kill trial {trial['trial']} at {trial['point']}: {trial}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
