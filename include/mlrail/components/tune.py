"""Tune: a KerasTuner search (or a reasoned reuse of the last one) -> Hyperparameters."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile

from mlrail.feeder import FeederConfig, make_dataset
from mlrail.modules import load_model_module
from mlrail.runner import Component, ExecutorContext, ExecutorOutput
from mlrail.tuning import TuningState, decide, narrowed, search

log = logging.getLogger("mlrail")


def schema_shape(schema: dict) -> str:
    """The schema's structure (names, types, roles, label): ranges and vocabularies move
    with every data change and do not make an earlier search obsolete."""
    shape = [[f["name"], f["type"], f["role"]] for f in schema["features"]]
    payload = json.dumps({"label": schema["label"]["name"], "features": shape})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def tune(ctx: ExecutorContext) -> ExecutorOutput:
    artifacts, p = ctx.env.artifacts, ctx.params
    module = load_model_module(p["module_path"])
    if not callable(getattr(module, "hyperparameter_space", None)):
        raise ValueError(
            f"{p['module_path']}: defines no hyperparameter_space(hp), which "
            "tuning needs (see include/models/taxi_tips.py)"
        )
    examples = ctx.inputs["examples"]
    schema = artifacts.read_json(ctx.inputs["schema"].uri, "schema.json")
    features = artifacts.read_json(ctx.inputs["statistics"].uri, "statistics.json")["splits"][
        "train"
    ]["features"]
    rows = examples.properties["splits"]["train"]
    current = TuningState(rows, schema_shape(schema), p["module_version"])
    previous = p.get("previous") or {}
    decision, reason = decide(
        current,
        TuningState(**previous["state"]) if previous else None,
        previous.get("best"),
        p["policy"],
        p["max_row_delta"],
    )
    log.info("tune: %s (%s)", decision, reason)
    defaults = p["defaults"]
    trials, space, best = [], previous.get("space"), previous.get("best")
    if decision != "reuse":
        batch = int(defaults["batch_size"])
        full_steps = int(defaults["epochs"]) * math.ceil(rows / batch)
        steps = max(1, math.ceil(p["trial_fraction"] * full_steps))
        train = make_dataset(
            [f"{examples.uri}/train/data.parquet"],
            schema,
            FeederConfig(batch_size=batch, seed=p["seed"], repeat=True),
        )
        evaluation = make_dataset(
            [f"{examples.uri}/eval/data.parquet"], schema, FeederConfig(batch_size=batch)
        )
        start = narrowed(space, best, p["narrow_epsilon"]) if decision == "narrow" else None
        with tempfile.TemporaryDirectory(prefix="mlrail-tuner-") as directory:
            best, space, trials = search(
                lambda values: module.build_model(schema, features, {**defaults, **values}),
                module.hyperparameter_space,
                train,
                evaluation,
                algorithm=p["algorithm"],
                max_trials=p["max_trials"],
                epochs=1,
                steps=steps,
                directory=directory,
                seed=p["seed"],
                objective=p["objective"],
                hyperparameters=start,
            )
    values = {**defaults, **best}
    (ctx.outputs["hyperparameters"] / "hyperparameters.json").write_text(
        json.dumps(values, indent=2, sort_keys=True)
    )
    properties = {
        "values": values,
        "source": "tuner",
        "decision": decision,
        "reason": reason,
        "state": vars(current),
        "best": best,
        "space": space,
        "trials": trials,
    }
    return ExecutorOutput(
        properties={"hyperparameters": properties},
        result={"decision": decision, "reason": reason, "best": best, "trials": len(trials)},
    )


COMPONENT = Component(
    name="tune",
    executor=tune,
    outputs={"hyperparameters": "Hyperparameters"},
    code_modules=("mlrail.tuning", "mlrail.feeder"),
)
