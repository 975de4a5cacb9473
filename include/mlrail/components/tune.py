"""Tune: a KerasTuner search (or a reasoned reuse of the last one) -> Hyperparameters."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlrail.components.train import check_training_data
from mlrail.search_job import SearchJob, run_search
from mlrail.store.files import HYPERPARAMETERS, SCHEMA, STATISTICS, split_uri
from mlrail.store.metadata import Artifact
from mlrail.store.runner import Component, Env, ExecutorContext, ExecutorOutput
from mlrail.training.modules import load_model_module
from mlrail.training.tfx_compat import run_tuner_fn, tuner_fn_args
from mlrail.training.tuning import TuningState, decide, narrowed

log = logging.getLogger("mlrail")


def schema_shape(schema: dict) -> str:
    """The schema's structure (names, types, roles, label): ranges and vocabularies move
    with every data change and do not make an earlier search obsolete."""
    shape = [[f["name"], f["type"], f["role"]] for f in schema["features"]]
    payload = json.dumps({"label": schema["label"]["name"], "features": shape})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _searcher(module, p: dict) -> str:
    """How the module is tuned: ``space`` (build_model + hyperparameter_space) or
    ``tuner_fn`` (a TFX module: run_fn + tuner_fn, see mlrail.training.tfx_compat)."""
    path = p["module_path"]
    if callable(getattr(module, "hyperparameter_space", None)):
        return "space"
    if not callable(getattr(module, "tuner_fn", None)):
        raise ValueError(
            f"{path}: defines neither hyperparameter_space(hp) nor a TFX-style "
            "tuner_fn(fn_args), which tuning needs (see include/models/taxi_tips.py)"
        )
    if callable(getattr(module, "build_model", None)):
        # The trainer would hand build_model a KerasTuner config instead of values.
        raise ValueError(
            f"{path}: tuner_fn is for TFX modules that train with run_fn; a module with "
            "build_model declares its search space in hyperparameter_space(hp)"
        )
    if p.get("parallel_trials", 1) > 1:
        raise ValueError(
            f"tune.parallel_trials is {p['parallel_trials']}, but {path} tunes with a TFX "
            "tuner_fn, which runs its trials one at a time here; set tune.parallel_trials: 1"
        )
    return "tuner_fn"


def _decide(current: TuningState, previous: dict, p: dict, searcher: str) -> tuple[str, str]:
    if p.get("force"):
        return "full", "force: full search (the last search is not reused)"
    decision, reason = decide(
        current,
        TuningState(**previous["state"]) if previous else None,
        previous.get("best"),
        p["policy"],
        p["max_row_delta"],
    )
    if decision == "narrow" and searcher == "tuner_fn":
        return "full", (
            f"{reason}; but a tuner_fn builds its own tuner and search space, which "
            "cannot be narrowed from outside: full search"
        )
    return decision, reason


def trial_steps(p: dict, rows: int) -> int:
    defaults = p["defaults"]
    full_steps = int(defaults.get("epochs", 1)) * math.ceil(
        rows / int(defaults.get("batch_size", 32))
    )
    return max(1, math.ceil(p["trial_fraction"] * full_steps))


def _search_space(ctx: ExecutorContext, schema: dict, decision: str) -> tuple[tuple, int]:
    """The module's hyperparameter_space, searched in this process or in parallel trials."""
    p, examples = ctx.params, ctx.inputs["examples"]
    previous = p.get("previous") or {}
    statistics = STATISTICS.read(ctx.env.artifacts, ctx.inputs["statistics"])
    start = None
    if decision == "narrow":
        start = narrowed(previous["space"], previous["best"], p["narrow_epsilon"]).get_config()
    job = SearchJob(
        module_path=p["module_path"],
        train_path=split_uri(examples.uri, "train"),
        eval_path=split_uri(examples.uri, "eval"),
        schema=schema,
        features=statistics["splits"]["train"]["features"],
        defaults=p["defaults"],
        batch_size=int(p["defaults"].get("batch_size", 32)),
        steps=trial_steps(p, examples.properties["splits"]["train"]),
        algorithm=p["algorithm"],
        max_trials=p["max_trials"],
        seed=p["seed"],
        objective=p["objective"],
        start=start,
    )
    # More random-search workers than trials would start TensorFlow only to be told to stop.
    parallel = p.get("parallel_trials", 1)
    if p["algorithm"] == "random":
        parallel = min(parallel, p["max_trials"])
    return run_search(job, parallel), parallel


def _search_tuner_fn(ctx: ExecutorContext, module, schema: dict) -> tuple[tuple, int]:
    """A TFX module's tuner_fn, given what TFX's Tuner gives it, searched here."""
    p, examples = ctx.params, ctx.inputs["examples"]
    splits = examples.properties["splits"]
    with tempfile.TemporaryDirectory(prefix="mlrail-tuner-fn-") as working:
        schema_path = SCHEMA.path(Path(working))
        SCHEMA.write(Path(working), schema, indent=None)
        arguments = tuner_fn_args(
            train_steps=trial_steps(p, splits["train"]),
            working_dir=Path(working) / "tuning",
            train_path=split_uri(examples.uri, "train"),
            eval_path=split_uri(examples.uri, "eval"),
            train_rows=splits["train"],
            eval_rows=splits["eval"],
            schema_path=str(schema_path),
            schema=schema,
            hyperparameters=p["defaults"],
            custom_config=p.get("custom_config") or {},
            seed=p["seed"],
        )
        return run_tuner_fn(module, arguments), 1


@dataclass(frozen=True)
class TunePlan:
    """What to do before any search runs: the decision, its reason, and what it rests on."""

    searcher: str  # "space" | "tuner_fn"
    schema: dict
    current: TuningState
    decision: str
    reason: str
    previous: dict


def plan(env: Env, p: dict, inputs: dict[str, Artifact]) -> tuple[TunePlan, object]:
    """The plan for these inputs and parameters, and the loaded model module."""
    module = load_model_module(p["module_path"])
    searcher = _searcher(module, p)
    schema = SCHEMA.read(env.artifacts, inputs["schema"])
    check_training_data(env.artifacts, inputs["examples"], schema)
    rows = inputs["examples"].properties["splits"]["train"]
    current = TuningState(rows, schema_shape(schema), p["module_version"])
    previous = p.get("previous") or {}
    decision, reason = _decide(current, previous, p, searcher)
    log.info("tune: %s (%s)", decision, reason)
    return TunePlan(searcher, schema, current, decision, reason, previous), module


def tune(ctx: ExecutorContext) -> ExecutorOutput:
    """Decide (reuse, narrow or full), search, and write the Hyperparameters artifact: its
    file (mlrail.store.files) holds the values for build_model, or for a tuner_fn module
    the KerasTuner config its run_fn reads with ``HyperParameters.from_config``."""
    the_plan, module = plan(ctx.env, ctx.params, ctx.inputs)
    previous = the_plan.previous
    trials, space, best, parallel = [], previous.get("space"), previous.get("best"), 0
    if the_plan.decision != "reuse" and the_plan.searcher == "space":
        (best, space, trials), parallel = _search_space(ctx, the_plan.schema, the_plan.decision)
    elif the_plan.decision != "reuse":
        (best, space, trials), parallel = _search_tuner_fn(ctx, module, the_plan.schema)
    content, output = tuning_output(ctx.params, the_plan, best, space, trials, parallel)
    HYPERPARAMETERS.write_text(ctx.outputs["hyperparameters"], content)
    return output


def tuning_output(
    p: dict,
    the_plan: TunePlan,
    best: dict,
    space: dict,
    trials: list[dict],
    parallel: int,
    **extra: str,
) -> tuple[str, ExecutorOutput]:
    """The Hyperparameters file's text and the artifact's properties and task result,
    wherever the search ran; ``extra`` (e.g. the remote job) goes into both."""
    values = {**p["defaults"], **best}
    # TFX's Trainer gives run_fn the best HyperParameters' config, not bare values.
    tfx = the_plan.searcher == "tuner_fn"
    content = {"space": space["space"], "values": values} if tfx else values
    properties = {
        "values": values,
        "source": "tfx_tuner_fn" if tfx else "tuner",
        "decision": the_plan.decision,
        "reason": the_plan.reason,
        "state": vars(the_plan.current),
        "best": best,
        "space": space,
        "trials": trials,
        "parallel_trials": parallel,  # trials that ran at once; 0: no search
        **extra,
    }
    result = {
        "decision": the_plan.decision,
        "reason": the_plan.reason,
        "best": best,
        "trials": len(trials),
        "parallel_trials": parallel,
        **extra,
    }
    output = ExecutorOutput(properties={"hyperparameters": properties}, result=result)
    return json.dumps(content, indent=2, sort_keys=True), output


COMPONENT = Component(
    name="tune",
    executor=tune,
    outputs={"hyperparameters": "Hyperparameters"},
)
