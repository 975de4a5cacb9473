"""RunStepOperator: the task of a stage whose step has no operator of its own (a new step
declared in the core, or a project's own): it runs the step exactly as the in-process
runner does."""

from __future__ import annotations

from typing import Any

from mlrail_airflow.operators.base import MlrailBaseOperator


class RunStepOperator(MlrailBaseOperator):
    """Runs the core step ``step`` (mlrail.pipeline.model.Step) of the spec at
    ``spec_path``; its upstream results arrive as the step's arguments."""

    def __init__(self, *, step: Any, spec_path: str, **kwargs):
        # Set before the base class checks the arguments: they are this step's.
        self.step_object = step
        self.inputs = dict(step.artifacts)
        self.values = step.values
        self.optional_inputs = step.optional
        self.template_fields = (*step.artifacts, *step.values)
        super().__init__(spec_path=spec_path, **kwargs)

    def run_stage(self, env, spec, run, force, context):
        conf = dict(context["params"])
        return self.step_object.run(env, spec, run, self.step_inputs(), force, conf)
