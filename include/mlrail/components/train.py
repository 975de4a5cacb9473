"""Hyperparameters and training components."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from mlrail.runner import Component, ExecutorContext, ExecutorOutput
from mlrail.stages import resolve_stages


def write_hyperparameters(ctx: ExecutorContext) -> ExecutorOutput:
    """Record the hyperparameters a training will use (module defaults + spec overrides)."""
    values = ctx.params["values"]
    (ctx.outputs["hyperparameters"] / "hyperparameters.json").write_text(
        json.dumps(values, indent=2, sort_keys=True)
    )
    return ExecutorOutput(
        properties={"hyperparameters": {"values": values, "source": ctx.params["source"]}},
        result={"hyperparameters": values},
    )


def _entrypoint_args(ctx: ExecutorContext, files: Path) -> list[str]:
    """Arguments for ``python -m mlrail.train`` from the execution's inputs."""
    artifacts, p = ctx.env.artifacts, ctx.params
    examples = ctx.inputs["examples"]
    artifacts.verify(examples.uri)
    hparams = artifacts.read_json(ctx.inputs["hyperparameters"].uri, "hyperparameters.json")
    for slot, name in (("schema", "schema.json"), ("statistics", "statistics.json")):
        (files / name).write_text(json.dumps(artifacts.read_json(ctx.inputs[slot].uri, name)))
    (files / "hyperparameters.json").write_text(json.dumps(hparams))
    (files / "stages.json").write_text(json.dumps(resolve_stages(p.get("stages"), hparams)))
    return [
        "--strategy",
        p["strategy"],
        "--devices",
        str(p["devices"]),
        "--workers",
        str(p["workers"]),
        "--seed",
        str(p["seed"]),
        "--early-stopping-patience",
        str(p["early_stopping_patience"]),
        "--custom-config",
        json.dumps(p["custom_config"]),
        "--train-data",
        f"{examples.uri}/train/data.parquet",
        "--eval-data",
        f"{examples.uri}/eval/data.parquet",
        "--schema",
        str(files / "schema.json"),
        "--statistics",
        str(files / "statistics.json"),
        "--hyperparameters",
        str(files / "hyperparameters.json"),
        "--stages",
        str(files / "stages.json"),
        "--module",
        p["module_path"],
        "--model-dir",
        str(ctx.outputs["model"]),
    ]


def train(ctx: ExecutorContext) -> ExecutorOutput:
    """Train through the one entrypoint: in this process for ``single``; in fresh processes
    for the distributed strategies (their devices and cluster must be set before TensorFlow
    starts, and the task process may have started it already)."""
    from mlrail import train as entrypoint

    with tempfile.TemporaryDirectory(prefix="mlrail-train-") as files:
        argv = _entrypoint_args(ctx, Path(files))
        if ctx.params["strategy"] == "single":
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
    examples = ctx.inputs["examples"]
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
    code_modules=(
        "mlrail.keras_features",
        "mlrail.modules",
        "mlrail.feeder",
        "mlrail.distributed",
        "mlrail.train",
        "mlrail.stages",
        "mlrail.tfx_compat",
    ),
)
