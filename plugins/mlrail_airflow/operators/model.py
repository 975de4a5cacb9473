"""Model operators: tune, train (locally or as Vertex AI jobs), evaluate (blessing), push."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from mlrail_airflow.links import LineageLink, RunSummaryLink
from mlrail_airflow.operators.base import MlrailBaseOperator
from mlrail_airflow.operators.vertex import VertexJobLink, VertexJobMixin

DATA = ("examples", "statistics", "schema")


class TuneHyperparametersOperator(VertexJobMixin, MlrailBaseOperator):
    """KerasTuner search on short runs, or a reasoned reuse / narrowing of the last one.
    With ``backend: vertex`` the search is a Vertex AI HyperparameterTuningJob."""

    step = "tune"
    operator_extra_links = (RunSummaryLink(), VertexJobLink())

    def run_stage(self, env, spec, run, force, context):
        result = super().run_stage(env, spec, run, force, context)
        self.log.info(
            "tuning decision: %s (%s)", result.result["decision"], result.result["reason"]
        )
        return result

    def begin_remote(self, env, spec, run, force, target):
        from mlrail.cloud.jobs import begin_tuning

        ids = [self.input_id(name) for name in DATA]
        return begin_tuning(env, spec, run, target, *ids, force)

    def finish_remote(self, env, spec, pending, event):
        from mlrail.cloud.jobs import finish_tuning

        return finish_tuning(env, pending, event["job"])


class TrainModelOperator(VertexJobMixin, MlrailBaseOperator):
    """Trains the spec's model module; the SavedModel carries its preprocessing. With a
    ``hyperparameters`` input (the tune task's output) it trains with the tuned values.
    With ``backend: vertex`` it runs as a Vertex AI CustomJob and defers until it ends."""

    step = "train"
    operator_extra_links = (RunSummaryLink(), VertexJobLink())

    def begin_remote(self, env, spec, run, force, target):
        from mlrail.cloud.jobs import begin_training

        ids = [self.input_id(name) for name in DATA]
        return begin_training(env, spec, run, target, *ids, force, self.input_id("hyperparameters"))

    def finish_remote(self, env, spec, pending, event):
        from mlrail.cloud.jobs import finish_training

        return finish_training(env, pending, event["job_name"])


class EvaluateModelOperator(MlrailBaseOperator):
    """Evaluates the candidate against thresholds and the blessed model; cached while
    the candidate, the blessed model and the data are the same, unless ``force``."""

    step = "evaluate"

    def run_stage(self, env, spec, run, force, context):
        result = super().run_stage(env, spec, run, force, context)
        self.log.info("verdict: %s", result.result["verdict"]["sentence"])
        return result


class PushModelOperator(MlrailBaseOperator):
    """Registers and pushes a model both blessings passed; skips, naming the missing or
    failed blessing, otherwise."""

    step = "push"
    operator_extra_links = (RunSummaryLink(), LineageLink())

    def execute(self, context: Any) -> dict[str, Any]:
        result = super().execute(context)
        if not result.get("pushed"):
            raise AirflowSkipException(result.get("reason", "not pushed"))
        return result
