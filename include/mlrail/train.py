"""One training entrypoint, the same locally and in a Vertex AI custom container.

    python -m mlrail.train --strategy {single,mirrored,multi_worker} \\
        --train-data TRAIN.parquet --eval-data EVAL.parquet --schema schema.json \\
        --statistics statistics.json --hyperparameters hyperparameters.json \\
        --module include/models/taxi_tips.py --model-dir OUT

Vertex AI sets ``AIP_MODEL_DIR``, ``AIP_TRAINING_DATA_URI``, ``AIP_VALIDATION_DATA_URI`` and
``TF_CONFIG``/``CLUSTER_SPEC``; they are the defaults of the matching options. With
``--strategy multi_worker`` and no TF_CONFIG, ``--workers N`` local worker processes are
started on 127.0.0.1 with a TF_CONFIG each. Only the chief (worker 0 when the cluster has
no chief) writes ``OUT/saved_model`` and ``OUT/training.json``; other workers export to a
temporary folder that is deleted, so they never clobber the chief's model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mlrail.distributed import STRATEGIES
from mlrail.stages import fit_stages, resolve_stages


def is_chief(tf_config: dict[str, Any]) -> bool:
    task = tf_config.get("task") or {}
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = "chief" in (tf_config.get("cluster") or {})
    return not has_chief and task.get("type") == "worker" and int(task.get("index", 0)) == 0


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def launch_local_workers(argv: list[str], workers: int, timeout: float = 1800) -> None:
    """Run this entrypoint as ``workers`` processes on 127.0.0.1, one TF_CONFIG each."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(workers)]}
    logs = Path(tempfile.mkdtemp(prefix="mlrail-workers-"))
    processes = []
    for index in range(workers):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        }
        log = (logs / f"worker-{index}.log").open("w")
        processes.append(
            (
                subprocess.Popen(
                    [sys.executable, "-m", "mlrail.train", *argv],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
                log,
            )
        )
    deadline = time.monotonic() + timeout
    failed = []
    for index, (process, log) in enumerate(processes):
        try:
            code = process.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            code = "timeout"
        log.close()
        if code != 0:
            failed.append((index, code))
    if failed:
        for process, _ in processes:
            process.kill()
        index, code = failed[0]
        tail = (logs / f"worker-{index}.log").read_text()[-3000:]
        raise RuntimeError(
            f"worker {index} of {workers} exited with {code}; its log "
            f"({logs}/worker-{index}.log) ends with:\n{tail}"
        )
    shutil.rmtree(logs, ignore_errors=True)


def _stages(args: argparse.Namespace, hparams: dict) -> list[dict]:
    explicit = json.loads(Path(args.stages).read_text()) if args.stages else None
    stages = resolve_stages(explicit, hparams)
    if not stages:
        raise ValueError(
            "nothing to train: give train.stages, or hyperparameters with "
            "learning_rate, batch_size and epochs"
        )
    return stages


def _fit(args: argparse.Namespace, module, schema: dict, features: dict, hparams: dict):
    """Train with the module's build_model under the chosen strategy: (model, records)."""
    from mlrail.distributed import make_strategy, train_distributed

    stages = _stages(args, hparams)
    if args.strategy == "single":
        model = module.build_model(schema, features, hparams)
        return model, fit_stages(
            model,
            args.train_data,
            args.eval_data,
            schema,
            stages,
            args.seed,
            args.early_stopping_patience,
        )
    import pyarrow.parquet as pq

    strategy = make_strategy(args.strategy, args.devices)
    rows = pq.ParquetFile(args.train_data).metadata.num_rows
    return train_distributed(
        strategy,
        lambda: module.build_model(schema, features, hparams),
        args.train_data,
        rows,
        schema,
        stages,
        args.seed,
    )


def _run_tfx(
    args: argparse.Namespace, module, schema: dict, hparams: dict, target: Path
) -> list[dict]:
    """A TFX module's run_fn, which saves the model itself into target/saved_model."""
    import pyarrow.parquet as pq

    from mlrail.tfx_compat import fn_args

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

    from mlrail.modules import load_model_module

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
        model, records = _fit(args, module, schema, features, hparams)
        model.export(str(target / "saved_model"), format="tf_saved_model", verbose=False)
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
        "GPU) | multi_worker (N processes, TF_CONFIG)",
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
    parser.add_argument("--stages", help="JSON list of {learning_rate, batch_size, epochs}")
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
        help="multi_worker without TF_CONFIG: local worker processes",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--early-stopping-patience",
        type=int,
        default=0,
        help="single: stop a stage after this many epochs without a better "
        "val_loss, keeping the best weights (0: off)",
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
    if args.strategy == "multi_worker" and not distributed_env:
        launch_local_workers(argv, args.workers)
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
