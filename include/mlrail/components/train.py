"""Hyperparameters and training components."""

from __future__ import annotations

import json
import time

import pandas as pd

from mlrail.keras_features import to_model_inputs
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


def _dataset(frame: pd.DataFrame, schema: dict, batch_size: int, shuffle_seed: int | None):
    import tensorflow as tf

    label = frame[schema["label"]["name"]].to_numpy()
    data = tf.data.Dataset.from_tensor_slices((to_model_inputs(frame, schema), label))
    if shuffle_seed is not None:
        data = data.shuffle(
            min(len(frame), 100_000), seed=shuffle_seed, reshuffle_each_iteration=True
        )
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train(ctx: ExecutorContext) -> ExecutorOutput:
    import keras

    artifacts = ctx.env.artifacts
    schema = artifacts.read_json(ctx.inputs["schema"].uri, "schema.json")
    statistics = artifacts.read_json(ctx.inputs["statistics"].uri, "statistics.json")
    hparams = artifacts.read_json(ctx.inputs["hyperparameters"].uri, "hyperparameters.json")
    module = load_model_module(ctx.params["module_path"])
    keras.utils.set_random_seed(ctx.params["seed"])

    with artifacts.read(ctx.inputs["examples"].uri) as examples:
        train_frame = pd.read_parquet(examples / "train" / "data.parquet")
        eval_frame = pd.read_parquet(examples / "eval" / "data.parquet")
    batch = int(hparams["batch_size"])
    model = module.build_model(schema, statistics["splits"]["train"]["features"], hparams)
    started = time.monotonic()
    history = model.fit(
        _dataset(train_frame, schema, batch, ctx.params["seed"]),
        validation_data=_dataset(eval_frame, schema, batch, None),
        epochs=int(hparams["epochs"]),
        shuffle=False,  # the tf.data pipeline shuffles, seeded
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
        "train_rows": len(train_frame),
        "eval_rows": len(eval_frame),
    }
    (out / "training.json").write_text(json.dumps(record, indent=2))
    return ExecutorOutput(
        properties={
            "model": {
                "final": final,
                "train_rows": len(train_frame),
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
    code_modules=("mlrail.keras_features", "mlrail.modules"),
)
