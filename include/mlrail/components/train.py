"""Hyperparameters and training components."""

from __future__ import annotations

import json
import time

from mlrail.feeder import FeederConfig, make_dataset
from mlrail.modules import load_model_module
from mlrail.runner import Component, ExecutorContext, ExecutorOutput


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


def train(ctx: ExecutorContext) -> ExecutorOutput:
    import keras

    artifacts = ctx.env.artifacts
    schema = artifacts.read_json(ctx.inputs["schema"].uri, "schema.json")
    statistics = artifacts.read_json(ctx.inputs["statistics"].uri, "statistics.json")
    hparams = artifacts.read_json(ctx.inputs["hyperparameters"].uri, "hyperparameters.json")
    module = load_model_module(ctx.params["module_path"])
    keras.utils.set_random_seed(ctx.params["seed"])

    examples = ctx.inputs["examples"]
    artifacts.verify(examples.uri)
    batch = int(hparams["batch_size"])
    seed = ctx.params["seed"]
    train_data = make_dataset(
        [f"{examples.uri}/train/data.parquet"], schema, FeederConfig(batch_size=batch, seed=seed)
    )
    eval_data = make_dataset(
        [f"{examples.uri}/eval/data.parquet"], schema, FeederConfig(batch_size=batch)
    )
    model = module.build_model(schema, statistics["splits"]["train"]["features"], hparams)
    started = time.monotonic()
    history = model.fit(
        train_data,
        validation_data=eval_data,
        epochs=int(hparams["epochs"]),
        shuffle=False,  # the feeder shuffles, seeded
        verbose=2,
    )
    seconds = time.monotonic() - started
    out = ctx.outputs["model"]
    model.export(str(out / "saved_model"), format="tf_saved_model", verbose=False)
    final = {k: float(v[-1]) for k, v in history.history.items()}
    record = {
        "history": history.history,
        "final": final,
        "seconds": seconds,
        "train_rows": examples.properties["splits"]["train"],
        "eval_rows": examples.properties["splits"]["eval"],
    }
    (out / "training.json").write_text(json.dumps(record, indent=2))
    return ExecutorOutput(
        properties={
            "model": {
                "final": final,
                "train_rows": examples.properties["splits"]["train"],
                "format": "tf_saved_model",
                "path": "saved_model",
            }
        },
        result={"final_metrics": final, "train_seconds": round(seconds, 2)},
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
    code_modules=("mlrail.keras_features", "mlrail.modules", "mlrail.feeder"),
)
