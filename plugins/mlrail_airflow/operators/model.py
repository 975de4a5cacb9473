"""Model operators: train, evaluate (blessing) and push."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from mlrail_airflow.links import LineageLink, RunSummaryLink
from mlrail_airflow.operators.base import MlrailBaseOperator
from mlrail_airflow.operators.data import EXAMPLES, SCHEMA, STATISTICS

MODEL = ("model", "train")


class TrainModelOperator(MlrailBaseOperator):
    """Trains the spec's model module; the SavedModel carries its preprocessing."""

    inputs = {"examples": EXAMPLES, "statistics": STATISTICS, "schema": SCHEMA}

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import train_model

        ids = [self.input_id(name) for name in ("examples", "statistics", "schema")]
        return train_model(env, spec, run, *ids, force)


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
