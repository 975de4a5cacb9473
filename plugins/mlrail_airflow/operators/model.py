"""Model operators: train, evaluate (blessing) and push."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from mlrail_airflow.links import LineageLink, RunSummaryLink
from mlrail_airflow.operators.base import MlrailBaseOperator, artifact_id


class TrainModelOperator(MlrailBaseOperator):
    """Trains the spec's model module; the SavedModel carries its preprocessing."""

    template_fields = ("examples", "statistics", "schema")

    def __init__(self, *, examples: Any, statistics: Any, schema: Any, **kwargs):
        super().__init__(**kwargs)
        self.examples = examples
        self.statistics = statistics
        self.schema = schema

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import train_model

        return train_model(
            env,
            spec,
            run,
            artifact_id(self.examples, "examples", "ingest"),
            artifact_id(self.statistics, "statistics", "statistics"),
            artifact_id(self.schema, "schema", "schema"),
            force,
        )


class EvaluateModelOperator(MlrailBaseOperator):
    """Evaluates the candidate against thresholds and the blessed model; never cached."""

    template_fields = ("model", "examples", "schema")

    def __init__(self, *, model: Any, examples: Any, schema: Any, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.examples = examples
        self.schema = schema

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import evaluate_model

        result = evaluate_model(
            env,
            spec,
            run,
            artifact_id(self.model, "model", "train"),
            artifact_id(self.examples, "examples", "ingest"),
            artifact_id(self.schema, "schema", "schema"),
        )
        self.log.info("verdict: %s", result.result["reasons"])
        return result


class PushModelOperator(MlrailBaseOperator):
    """Registers and pushes a blessed model; skips (with the verdict) when not blessed."""

    template_fields = ("model", "evaluation")
    operator_extra_links = (RunSummaryLink(), LineageLink())

    def __init__(self, *, model: Any, evaluation: Any, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.evaluation = evaluation

    def execute(self, context: Any) -> dict[str, Any]:
        result = super().execute(context)
        if not result.get("pushed"):
            raise AirflowSkipException(result.get("reason", "not pushed"))
        return result

    def run_stage(self, env, spec, run, force, context):
        from mlrail.pipeline import push_model

        return push_model(
            env,
            spec,
            run,
            artifact_id(self.model, "model", "train"),
            artifact_id(self.evaluation, "blessing", "evaluate"),
        )
