"""Sandbox operators: a setup task starts the model servers, the validation measures them,
a teardown task stops them (Airflow runs it whatever became of the validation)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from mlrail_airflow.links import RunSummaryLink, SandboxReportLink
from mlrail_airflow.operators.base import MlrailBaseOperator


class StartSandboxOperator(MlrailBaseOperator):
    """Setup task: starts the sandbox's model servers (the candidate, and the blessed model
    unless the candidate is it) and waits until they answer; returns their record. A start
    that fails stops what it started; an earlier try's servers are stopped first."""

    step = "start_sandbox"

    def execute_stage(self, spec, run, force, context):
        with self.mlrail_env() as env:
            record = self.run_stage(env, spec, run, force, context)
        for role, server in record["running"].items():
            self.log.info(
                "%s: ran; %s server at %s (pid %s) loaded in %.1f s",
                self.task_id,
                role,
                server["url"],
                server["pid"],
                server["load_seconds"],
            )
        return record


class ValidateSandboxOperator(MlrailBaseOperator):
    """Replays traffic to the sandbox servers, checks parity and malformed requests, and
    records an InfraBlessing against the spec's sandbox policy; its report is an extra link."""

    step = "validate_sandbox"
    operator_extra_links = (RunSummaryLink(), SandboxReportLink())

    def run_stage(self, env, spec, run, force, context):
        result = super().run_stage(env, spec, run, force, context)
        self.log.info("sandbox verdict: %s", result.result["verdict"]["sentence"])
        return result


class StopSandboxOperator(BaseOperator):
    """Teardown task: stops the sandbox servers, whatever became of the validation (and
    whatever an earlier try of this run left)."""

    step = "stop_sandbox"
    template_fields = ("servers",)
    ui_color = "#e8f1fb"

    def __init__(self, *, servers: Any, mlrail_conn_id: str = "mlrail_default", **kwargs):
        super().__init__(**kwargs)
        self.servers = servers
        self.mlrail_conn_id = mlrail_conn_id

    def execute(self, context: Any) -> list[str]:
        from mlrail.components.sandbox import stop_sandbox
        from mlrail_airflow.hooks import MlrailHook

        record = self.servers if isinstance(self.servers, dict) else None
        # Which store's run: another project on this worker may have the same run ids.
        store = MlrailHook(self.mlrail_conn_id).get_settings().metadata_url
        stopped = stop_sandbox(record, context["ti"].dag_id, context["run_id"], store)
        self.log.info(
            "%s: ran; stopped sandbox servers: %s",
            self.task_id,
            ", ".join(stopped) or "none running",
        )
        return stopped
