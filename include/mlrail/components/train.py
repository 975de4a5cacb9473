"""Hyperparameters and training components."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from mlrail.data.schema import check_columns
from mlrail.store.artifacts import ArtifactStore
from mlrail.store.files import HYPERPARAMETERS as HYPERPARAMETERS_FILE
from mlrail.store.files import SCHEMA, STATISTICS, split_uri
from mlrail.store.metadata import Artifact
from mlrail.store.runner import Component, ExecutorContext, ExecutorOutput
from mlrail.training.stages import resolve_stages


def write_hyperparameters(ctx: ExecutorContext) -> ExecutorOutput:
    """Record the hyperparameters a training will use (module defaults + spec overrides)."""
    values = ctx.params["values"]
    HYPERPARAMETERS_FILE.write(ctx.outputs["hyperparameters"], values, sort_keys=True)
    return ExecutorOutput(
        properties={"hyperparameters": {"values": values, "source": ctx.params["source"]}},
        result={"hyperparameters": values},
    )


def entrypoint_args(p: dict, files: dict[str, str]) -> list[str]:
    """Arguments for ``python -m mlrail.train`` from the execution's parameters and the
    paths it reads and writes (``train_data``, ``eval_data``, ``schema``, ``statistics``,
    ``hyperparameters``, ``module``, ``model_dir``; ``stages`` optional), local or remote."""
    args = [
        "--strategy",
        p["strategy"],
        "--devices",
        str(p["devices"]),
        "--workers",
        str(p["workers"]),
        "--parameter-servers",
        str(p["parameter_servers"]),
        "--seed",
        str(p["seed"]),
        "--early-stopping-patience",
        str(p["early_stopping_patience"]),
        "--early-stopping-metric",
        p["early_stopping_metric"],
        "--custom-config",
        json.dumps(p["custom_config"]),
    ]
    for name in (
        "train_data",
        "eval_data",
        "schema",
        "statistics",
        "hyperparameters",
        "stages",
        "module",
        "model_dir",
    ):
        if files.get(name):
            args += ["--" + name.replace("_", "-"), files[name]]
    return args


def check_training_data(artifacts: ArtifactStore, examples: Artifact, schema: dict) -> None:
    """The train and eval splits hold the columns the schema names, in types it allows:
    a wrong type fails here with the column's name, not inside TensorFlow."""
    artifacts.verify(examples.uri)
    for split in ("train", "eval"):
        with artifacts.fs.open(split_uri(examples.uri, split), "rb") as handle:
            check_columns(pq.read_schema(handle), schema, f"the {split} split ({examples.uri})")


def _local_args(ctx: ExecutorContext, files: Path) -> list[str]:
    """Entrypoint arguments for a local run: the small JSON inputs copied to ``files``
    (artifacts may live on an object store; the entrypoint reads local paths)."""
    artifacts, p = ctx.env.artifacts, ctx.params
    examples = ctx.inputs["examples"]
    check_training_data(artifacts, examples, SCHEMA.read(artifacts, ctx.inputs["schema"]))
    hparams = HYPERPARAMETERS_FILE.read(artifacts, ctx.inputs["hyperparameters"])
    for slot, file in (("schema", SCHEMA), ("statistics", STATISTICS)):
        file.write(files, file.read(artifacts, ctx.inputs[slot]), indent=None)
    HYPERPARAMETERS_FILE.write(files, hparams, indent=None)
    (files / "stages.json").write_text(json.dumps(resolve_stages(p.get("stages"), hparams)))
    return entrypoint_args(
        p,
        {
            "train_data": split_uri(examples.uri, "train"),
            "eval_data": split_uri(examples.uri, "eval"),
            "schema": str(SCHEMA.path(files)),
            "statistics": str(STATISTICS.path(files)),
            "hyperparameters": str(HYPERPARAMETERS_FILE.path(files)),
            "stages": str(files / "stages.json"),
            "module": p["module_path"],
            "model_dir": str(ctx.outputs["model"]),
        },
    )


def train(ctx: ExecutorContext) -> ExecutorOutput:
    """Train through the one entrypoint: in this process for a strategy that trains in the
    task's own process; else in a fresh one (its devices and cluster must be set before
    TensorFlow starts, and the task process may have started it already)."""
    from mlrail import train as entrypoint
    from mlrail.training.strategies import strategy

    with tempfile.TemporaryDirectory(prefix="mlrail-train-") as files:
        argv = _local_args(ctx, Path(files))
        if strategy(ctx.params["strategy"]).in_task_process:
            entrypoint.main(argv)
        else:
            done = subprocess.run(
                [sys.executable, "-m", "mlrail.train", *argv], capture_output=True, text=True
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"training with strategy {ctx.params['strategy']} failed:\n"
                    f"{done.stderr[-4000:]}"
                )
    record = json.loads((ctx.outputs["model"] / "training.json").read_text())
    return model_output(record, ctx.inputs["examples"])


def model_output(record: dict, examples: Artifact, **extra: str) -> ExecutorOutput:
    """The Model artifact's properties and the task result from the entrypoint's
    ``training.json`` record, wherever the training ran; ``extra`` adds properties (the
    remote job that produced it)."""
    final = record["final"]
    return ExecutorOutput(
        properties={
            "model": {
                "final": final,
                "strategy": record["strategy"],
                "replicas": record["replicas"],
                "train_rows": examples.properties["splits"]["train"],
                "format": "tf_saved_model",
                "path": "saved_model",
                **extra,
            }
        },
        result={
            "final_metrics": final,
            "train_seconds": round(record["seconds"], 2),
            "strategy": record["strategy"],
            "replicas": record["replicas"],
            "stages": [
                {k: v for k, v in s.items() if k not in ("history", "step_losses")}
                for s in record["stages"]
            ],
            **extra,
        },
    )


HYPERPARAMETERS = Component(
    name="hyperparameters",
    executor=write_hyperparameters,
    outputs={"hyperparameters": "Hyperparameters"},
)
TRAIN = Component(
    name="train",
    executor=train,
    outputs={"model": "Model"},
)
