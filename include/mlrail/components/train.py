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


def stages_of(params: dict, hparams: dict) -> list[dict]:
    """The spec's stages, or one stage from the hyperparameters."""
    return params.get("stages") or [
        {key: hparams[key] for key in ("learning_rate", "batch_size", "epochs")}
    ]


def run_stages(model, examples_uri: str, schema: dict, stages: list[dict], seed: int):
    """Fit ``model`` stage after stage; each stage sets its learning rate and batch size and
    continues the epoch count. Returns each stage with its per-epoch history."""
    done, records = 0, []
    for number, stage in enumerate(stages, start=1):
        model.optimizer.learning_rate.assign(stage["learning_rate"])
        batch = int(stage["batch_size"])
        history = model.fit(
            make_dataset(
                [f"{examples_uri}/train/data.parquet"],
                schema,
                FeederConfig(batch_size=batch, seed=seed),
            ),
            validation_data=make_dataset(
                [f"{examples_uri}/eval/data.parquet"], schema, FeederConfig(batch_size=batch)
            ),
            initial_epoch=done,
            epochs=done + int(stage["epochs"]),
            shuffle=False,  # the feeder shuffles, seeded
            verbose=2,
        )
        done += int(stage["epochs"])
        records.append(
            {
                "stage": number,
                **stage,
                "history": history.history,
                "final": {k: float(v[-1]) for k, v in history.history.items()},
            }
        )
    return records


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
    model = module.build_model(schema, statistics["splits"]["train"]["features"], hparams)
    started = time.monotonic()
    stages = run_stages(
        model, examples.uri, schema, stages_of(ctx.params, hparams), ctx.params["seed"]
    )
    seconds = time.monotonic() - started
    out = ctx.outputs["model"]
    model.export(str(out / "saved_model"), format="tf_saved_model", verbose=False)
    final = stages[-1]["final"]
    record = {
        "stages": stages,
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
        result={
            "final_metrics": final,
            "train_seconds": round(seconds, 2),
            "stages": [{k: v for k, v in s.items() if k != "history"} for s in stages],
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
    code_modules=("mlrail.keras_features", "mlrail.modules", "mlrail.feeder"),
)
