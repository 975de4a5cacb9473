"""One training entrypoint, the same locally and in a Vertex AI custom container.

    python -m mlrail.train --strategy NAME \\
        --train-data TRAIN.parquet --eval-data EVAL.parquet --schema SCHEMA.json \\
        --statistics STATISTICS.json --hyperparameters HYPERPARAMETERS.json \\
        --module include/models/taxi_tips.py --model-dir OUT

Vertex AI sets ``AIP_MODEL_DIR``, ``AIP_TRAINING_DATA_URI``, ``AIP_VALIDATION_DATA_URI`` and
``TF_CONFIG``/``CLUSTER_SPEC``; they are the defaults of the matching options. The
strategies, and what each runs where, are mlrail.training.strategies. A strategy that
trains in several processes, run without a TF_CONFIG, starts its cluster's tasks on
127.0.0.1 (``--workers N`` workers, ``--parameter-servers M`` ps) with a TF_CONFIG each.
Only the chief (worker 0 when the cluster has no chief) writes ``OUT/saved_model`` and
``OUT/training.json``; other workers export to a temporary folder that is deleted, so they
never clobber the chief's model. Tasks that only serve (a parameter-server cluster's
workers and ps) run the chief's functions until they are stopped.
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

from mlrail.training.stages import resolve_stages
from mlrail.training.strategies import DEFAULT, STRATEGIES, strategy

# Set in the processes launch_local_cluster starts: they end when the launcher is gone.
LOCAL_CLUSTER_ENV = "MLRAIL_LOCAL_CLUSTER"


def is_chief(tf_config: dict[str, Any]) -> bool:
    task = tf_config.get("task") or {}
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = "chief" in (tf_config.get("cluster") or {})
    return not has_chief and task.get("type") == "worker" and int(task.get("index", 0)) == 0


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
    build = _builder(args, module, schema, features, hparams)
    return strategy(args.strategy).fit(args, build, schema, _stages(args, hparams))


def _run_tfx(
    args: argparse.Namespace, module, schema: dict, hparams: dict, target: Path
) -> list[dict]:
    """A TFX module's run_fn, which saves the model itself into target/saved_model."""
    import pyarrow.parquet as pq

    from mlrail.training.tfx_compat import fn_args

    if not strategy(args.strategy).runs_tfx_modules:
        allowed = [s.name for s in STRATEGIES.values() if s.runs_tfx_modules]
        raise ValueError(
            f"{args.module}: a TFX run_fn manages its own distribution; use strategy "
            f"{' or '.join(allowed)} (run_fn may create a tf.distribute strategy itself)"
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


def _readers(field: str) -> str:
    """The strategies that read ``train.<field>``, for an option's help."""
    return ", ".join(s.name for s in STRATEGIES.values() if field in s.fields)


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
        choices=list(STRATEGIES),
        default=DEFAULT,
        help=" | ".join(f"{s.name} ({s.description})" for s in STRATEGIES.values()),
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
        help=_readers("devices") + " without a GPU: logical CPU devices (default 2)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help=_readers("workers") + " without TF_CONFIG: local worker processes",
    )
    parser.add_argument(
        "--parameter-servers",
        type=int,
        default=1,
        help=_readers("parameter_servers") + " without TF_CONFIG: local ps processes (default 1)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--early-stopping-patience",
        type=int,
        default=0,
        help=_readers("early_stopping_patience")
        + ": stop a stage after this many epochs without a better "
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
    chosen = strategy(args.strategy)
    distributed_env = os.environ.get("TF_CONFIG") or os.environ.get("CLUSTER_SPEC")
    if chosen.local_tasks is not None and not distributed_env:
        launch_local_cluster(argv, chosen.local_tasks(args.workers, args.parameter_servers))
        return 0
    if os.environ.get(LOCAL_CLUSTER_ENV):
        from mlrail.training.processes import exit_with_parent

        exit_with_parent()  # a killed launcher runs no cleanup; its tasks must not linger
    task = (json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}).get("type")
    if chosen.serves(task):
        serve()
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
