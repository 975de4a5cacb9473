"""One training entrypoint, the same locally and in a Vertex AI custom container.

    python -m mlrail.train --strategy {single,mirrored,multi_worker,parameter_server} \\
        --train-data TRAIN.parquet --eval-data EVAL.parquet --schema SCHEMA.json \\
        --statistics STATISTICS.json --hyperparameters HYPERPARAMETERS.json \\
        --module include/models/taxi_tips.py --model-dir OUT

Vertex AI sets ``AIP_MODEL_DIR``, ``AIP_TRAINING_DATA_URI``, ``AIP_VALIDATION_DATA_URI`` and
``TF_CONFIG``/``CLUSTER_SPEC``; they are the defaults of the matching options. With
``--strategy multi_worker`` and no TF_CONFIG, ``--workers N`` local worker processes are
started on 127.0.0.1 with a TF_CONFIG each; with ``--strategy parameter_server``, a chief,
``--workers N`` workers and ``--parameter-servers M`` ps processes. Only the chief (worker 0
when the cluster has no chief) writes ``OUT/saved_model`` and ``OUT/training.json``; other
workers export to a temporary folder that is deleted, so they never clobber the chief's
model. Under ``parameter_server`` the chief coordinates and the workers and ps only serve
(Vertex AI: pool 0 is the chief, pool 1 the workers, pool 2 the ps).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mlrail.training.distributed import STRATEGIES
from mlrail.training.stages import fit_stages, resolve_stages

# Set in the processes launch_local_cluster starts: they end when the launcher is gone.
LOCAL_CLUSTER_ENV = "MLRAIL_LOCAL_CLUSTER"
# The chief's TFRecord copy of the train split, next to the model, removed after training.
TFRECORD_DIR = "train-tfrecords"


def is_chief(tf_config: dict[str, Any]) -> bool:
    task = tf_config.get("task") or {}
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = "chief" in (tf_config.get("cluster") or {})
    return not has_chief and task.get("type") == "worker" and int(task.get("index", 0)) == 0


def local_cluster(strategy: str, workers: int, parameter_servers: int) -> dict[str, int]:
    """Tasks by type of the cluster to start on this machine when no TF_CONFIG is given."""
    if strategy == "parameter_server":
        return {"chief": 1, "worker": workers, "ps": parameter_servers}
    return {"worker": workers}


def launch_local_cluster(argv: list[str], tasks: dict[str, int], timeout: float = 1800) -> None:
    """Run this entrypoint once per task of ``tasks`` on 127.0.0.1, with a TF_CONFIG each.

    Returns when the chief has finished, or every worker of a cluster without a chief.
    Tasks that only serve (the workers and ps of a cluster with a chief) are watched: one
    that dies fails the run with the end of its log. Whatever is still running at the end
    is stopped, on success and on failure alike.
    """
    from mlrail.training.processes import LocalProcesses, free_ports

    ports = iter(free_ports(sum(tasks.values())))
    cluster = {kind: [f"127.0.0.1:{next(ports)}" for _ in range(n)] for kind, n in tasks.items()}
    names = [f"{kind}-{index}" for kind, n in tasks.items() for index in range(n)]
    finishers = ["chief-0"] if "chief" in tasks else names
    with LocalProcesses(prefix="mlrail-cluster-") as group:
        for kind, n in tasks.items():
            for index in range(n):
                task = {"cluster": cluster, "task": {"type": kind, "index": index}}
                env = {**os.environ, LOCAL_CLUSTER_ENV: "1", "TF_CONFIG": json.dumps(task)}
                group.start(f"{kind}-{index}", [sys.executable, "-m", "mlrail.train", *argv], env)
        servers = tuple(name for name in names if name not in finishers)
        group.wait(finishers, watch=servers, timeout=timeout)


def serve() -> None:
    """Be a worker or ps of a parameter-server cluster: run the functions and hold the
    variables the chief sends, until this process is stopped (by the local launcher, or
    by the platform once the chief is done)."""
    import tensorflow as tf

    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    server = tf.distribute.Server(
        resolver.cluster_spec(),
        job_name=resolver.task_type,
        task_index=resolver.task_id,
        protocol=resolver.rpc_layer or "grpc",
        start=True,
    )
    server.join()


def _stages(args: argparse.Namespace, hparams: dict) -> list[dict]:
    explicit = None
    if args.stages:
        # Inline JSON (a remote job's arguments) or a file holding it.
        text = (
            args.stages if args.stages.lstrip().startswith("[") else Path(args.stages).read_text()
        )
        explicit = json.loads(text)
    stages = resolve_stages(explicit, hparams)
    if not stages:
        raise ValueError(
            "nothing to train: give train.stages, or hyperparameters with "
            "learning_rate, batch_size and epochs"
        )
    return stages


def _builder(args: argparse.Namespace, module, schema: dict, features: dict, hparams: dict):
    """The module's build_model for these inputs, checked against the task's output."""
    from mlrail.training.export import check_output

    def build():
        model = module.build_model(schema, features, hparams)
        check_output(model, schema, args.module)
        return model

    return build


def _fit(args: argparse.Namespace, module, schema: dict, features: dict, hparams: dict):
    """Train with the module's build_model under the chosen strategy: (model, records)."""
    from mlrail.training.distributed import make_strategy, train_distributed

    stages = _stages(args, hparams)
    build = _builder(args, module, schema, features, hparams)
    if args.strategy == "parameter_server":
        return _fit_parameter_server(args, build, schema, stages)
    if args.strategy == "single":
        model = build()
        return model, fit_stages(
            model,
            args.train_data,
            args.eval_data,
            schema,
            stages,
            args.seed,
            args.early_stopping_patience,
            args.early_stopping_metric,
        )
    import pyarrow.parquet as pq

    strategy = make_strategy(args.strategy, args.devices)
    rows = pq.ParquetFile(args.train_data).metadata.num_rows
    return train_distributed(strategy, build, args.train_data, rows, schema, stages, args.seed)


def _fit_parameter_server(args: argparse.Namespace, build_model, schema: dict, stages: list):
    """Coordinate parameter-server training from the chief.

    The workers cannot run the Parquet feeder, so the chief first writes the train split
    as TFRecord shards (two per worker, so each reads whole files) into the model
    directory: the one place every task can read, a local folder here and a /gcs/ or gs://
    path on Vertex AI, where the workers are other machines. The shards are removed when
    training ends, however it ends, and any left by a crashed run are removed first.
    """
    import pyarrow.parquet as pq

    from mlrail.training.distributed import make_strategy, train_parameter_server
    from mlrail.training.tfrecord import write_tfrecords

    workers = len(json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"])
    shards = f"{args.model_dir.rstrip('/')}/{TFRECORD_DIR}"
    _remove(shards)
    try:
        # Written before connecting to the cluster: the workers and ps start meanwhile.
        files = write_tfrecords([args.train_data], shards, schema, shards=2 * workers)
        rows = pq.ParquetFile(args.train_data).metadata.num_rows
        strategy = make_strategy("parameter_server")
        return train_parameter_server(
            strategy, build_model, files, rows, schema, stages, args.seed, workers
        )
    finally:
        _remove(shards)


def _remove(folder: str) -> None:
    import tensorflow as tf

    if tf.io.gfile.exists(folder):
        tf.io.gfile.rmtree(folder)


def _run_tfx(
    args: argparse.Namespace, module, schema: dict, hparams: dict, target: Path
) -> list[dict]:
    """A TFX module's run_fn, which saves the model itself into target/saved_model."""
    import pyarrow.parquet as pq

    from mlrail.training.tfx_compat import fn_args

    if args.strategy != "single":
        raise ValueError(
            f"{args.module}: a TFX run_fn manages its own distribution; use "
            "strategy single (run_fn may create a tf.distribute strategy itself)"
        )
    arguments = fn_args(
        train_path=args.train_data,
        eval_path=args.eval_data,
        train_rows=pq.ParquetFile(args.train_data).metadata.num_rows,
        eval_rows=pq.ParquetFile(args.eval_data).metadata.num_rows,
        schema_path=args.schema,
        schema=schema,
        model_dir=target,
        hyperparameters=hparams,
        custom_config=json.loads(args.custom_config or "{}"),
        seed=args.seed,
    )
    module.run_fn(arguments)
    if not (target / "saved_model" / "saved_model.pb").exists():
        raise RuntimeError(
            f"{args.module}: run_fn did not save a model to fn_args.serving_model_dir"
        )
    return [{"stage": 1, "tfx_run_fn": True, "train_steps": arguments.train_steps, "final": {}}]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train in this process (one worker of the cluster when TF_CONFIG is set)."""
    import keras

    from mlrail.training.modules import load_model_module

    schema = json.loads(Path(args.schema).read_text())
    features = json.loads(Path(args.statistics).read_text())["splits"]["train"]["features"]
    hparams = json.loads(Path(args.hyperparameters).read_text())
    module = load_model_module(args.module)
    keras.utils.set_random_seed(args.seed)
    chief = is_chief(json.loads(os.environ.get("TF_CONFIG") or "{}"))
    target = Path(args.model_dir) if chief else Path(tempfile.mkdtemp(prefix="mlrail-nonchief-"))
    target.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if callable(getattr(module, "build_model", None)):
        from mlrail.training.export import export_saved_model

        model, records = _fit(args, module, schema, features, hparams)
        export_saved_model(model, str(target / "saved_model"), schema)
    else:
        records = _run_tfx(args, module, schema, hparams, target)
    record = {
        "strategy": args.strategy,
        "stages": records,
        "final": records[-1]["final"],
        "seconds": time.monotonic() - started,
        "replicas": records[-1].get("replicas", 1),
    }
    if chief:
        (target / "training.json").write_text(json.dumps(record, indent=2))
    else:
        shutil.rmtree(target, ignore_errors=True)
    if args.loss_log:
        task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}
        suffix = f".{task['type']}-{task['index']}" if task else ""
        Path(args.loss_log + suffix).write_text(json.dumps(records))
    return record


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m mlrail.train",
        description="Train a model module on Parquet examples. Strategies: "
        + ", ".join(STRATEGIES)
        + ".",
    )
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="single",
        help="single | mirrored (all local devices; N logical CPUs without a "
        "GPU) | multi_worker (N processes, TF_CONFIG) | parameter_server (a chief, N "
        "workers and M ps processes, TF_CONFIG; asynchronous updates)",
    )
    parser.add_argument(
        "--train-data",
        default=env("AIP_TRAINING_DATA_URI"),
        help="train split Parquet file (default: $AIP_TRAINING_DATA_URI)",
    )
    parser.add_argument(
        "--eval-data",
        default=env("AIP_VALIDATION_DATA_URI"),
        help="eval split Parquet file (default: $AIP_VALIDATION_DATA_URI)",
    )
    parser.add_argument(
        "--model-dir",
        default=env("AIP_MODEL_DIR"),
        help="where the chief writes saved_model/ (default: $AIP_MODEL_DIR)",
    )
    parser.add_argument("--schema", required=True)
    parser.add_argument("--statistics", required=True)
    parser.add_argument("--hyperparameters", required=True)
    parser.add_argument("--module", required=True, help="the model module (build_model)")
    parser.add_argument(
        "--stages",
        help="JSON list of {learning_rate, batch_size, epochs}, or a file holding it",
    )
    parser.add_argument("--custom-config", help="JSON passed to a TFX run_fn as custom_config")
    parser.add_argument(
        "--devices",
        type=int,
        default=2,
        help="mirrored without a GPU: logical CPU devices (default 2)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="multi_worker, parameter_server without TF_CONFIG: local worker processes",
    )
    parser.add_argument(
        "--parameter-servers",
        type=int,
        default=1,
        help="parameter_server without TF_CONFIG: local ps processes (default 1)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--early-stopping-patience",
        type=int,
        default=0,
        help="single: stop a stage after this many epochs without a better "
        "--early-stopping-metric, keeping the best weights (0: off)",
    )
    parser.add_argument(
        "--early-stopping-metric",
        default="val_loss",
        help="what early stopping watches (default val_loss); its direction comes from "
        "mlrail.spec.metrics",
    )
    parser.add_argument("--loss-log", help="write every step's global loss here (tests)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    missing = [name for name in ("train_data", "eval_data", "model_dir") if not getattr(args, name)]
    if missing:
        build_parser().error("missing " + ", ".join("--" + m.replace("_", "-") for m in missing))
    distributed_env = os.environ.get("TF_CONFIG") or os.environ.get("CLUSTER_SPEC")
    if args.strategy in ("multi_worker", "parameter_server") and not distributed_env:
        tasks = local_cluster(args.strategy, args.workers, args.parameter_servers)
        launch_local_cluster(argv, tasks)
        return 0
    if os.environ.get(LOCAL_CLUSTER_ENV):
        from mlrail.training.processes import exit_with_parent

        exit_with_parent()  # a killed launcher runs no cleanup; its tasks must not linger
    task = (json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}).get("type")
    if args.strategy == "parameter_server" and task in ("worker", "ps"):
        serve()
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
