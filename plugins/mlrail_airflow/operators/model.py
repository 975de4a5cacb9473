"""Model operators: train, evaluate (blessing) and push."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from mlrail_airflow.links import LineageLink, RunSummaryLink
from mlrail_airflow.operators.base import MlrailBaseOperator
from mlrail_airflow.operators.data import EXAMPLES, SCHEMA, STATISTICS

MODEL = ("model", "train")


class TuneHyperparametersOperator(MlrailBaseOperator):
    """KerasTuner search on short runs, or a reasoned reuse / narrowing of the last one."""

    inputs = {"examples": EXAMPLES, "statistics": STATISTICS, "schema": SCHEMA}

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import tune_hyperparameters

        ids = [self.input_id(name) for name in ("examples", "statistics", "schema")]
        result = tune_hyperparameters(env, spec, run, *ids, force)
        self.log.info(
            "tuning decision: %s (%s)", result.result["decision"], result.result["reason"]
        )
        return result


class TrainModelOperator(MlrailBaseOperator):
    """Trains the spec's model module; the SavedModel carries its preprocessing. With a
    ``hyperparameters`` input (the tune task's output) it trains with the tuned values."""

    inputs = {
        "examples": EXAMPLES,
        "statistics": STATISTICS,
        "schema": SCHEMA,
        "hyperparameters": ("hyperparameters", "tune"),
    }
    optional_inputs = frozenset({"hyperparameters"})

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import train_model

        ids = [self.input_id(name) for name in ("examples", "statistics", "schema")]
        return train_model(
            env, spec, run, *ids, force, hyperparameters_id=self.input_id("hyperparameters")
        )


class EvaluateModelOperator(MlrailBaseOperator):
    """Evaluates the candidate against thresholds and the blessed model; never cached."""

    inputs = {"model": MODEL, "examples": EXAMPLES, "schema": SCHEMA}

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import evaluate_model

        ids = [self.input_id(name) for name in ("model", "examples", "schema")]
        result = evaluate_model(env, spec, run, *ids)
        self.log.info("verdict: %s", result.result["reasons"])
        return result


class PushModelOperator(MlrailBaseOperator):
    """Registers and pushes a blessed model; skips (with the verdict) when not blessed."""

    inputs = {"model": MODEL, "evaluation": ("blessing", "evaluate")}
    operator_extra_links = (RunSummaryLink(), LineageLink())

    def execute(self, context: Any) -> dict[str, Any]:
        result = super().execute(context)
        if not result.get("pushed"):
            raise AirflowSkipException(result.get("reason", "not pushed"))
        return result

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import push_model

        return push_model(env, spec, run, self.input_id("model"), self.input_id("evaluation"))
