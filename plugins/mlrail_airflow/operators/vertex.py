"""``backend: vertex``: the train and tune operators submit a Vertex AI job and defer.

Lifecycle: ``execute`` records the execution (or returns a cache hit), submits the job,
publishes its console link and defers to a trigger; the worker slot is free while the
job runs. ``execute_complete`` resumes with the trigger's one event: on success the
outputs become artifacts with lineage; otherwise the execution is recorded as failed,
half-written outputs are removed, and the task fails with the job's message. ``on_kill``
cancels a job this task submitted; while deferred, the trigger does it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.exceptions import AirflowException, AirflowFailException

JOB_XCOM = "vertex_job"


class VertexJobLink(BaseOperatorLink):
    """The Vertex AI job this task submitted, in the Cloud console."""

    name = "Vertex AI job"

    def get_link(self, operator, *, ti_key) -> str:
        if not hasattr(ti_key, "xcom_pull"):
            return ""
        job = ti_key.xcom_pull(task_ids=ti_key.task_id, key=JOB_XCOM)
        return job["url"] if job else ""


class VertexJobMixin:
    """For an MlrailBaseOperator whose stage can run as a Vertex AI job. Subclasses
    implement ``begin_remote`` (returns a ComponentResult on a cache hit, else a
    RemoteJob) and ``finish_remote`` (the finished job to a ComponentResult)."""

    _submitted: tuple[str, str, str] | None = None  # (conn id, kind, job name)

    def begin_remote(self, env, spec, run, force, target):
        raise NotImplementedError

    def finish_remote(self, env, spec, pending, event):
        raise NotImplementedError

    def execute(self, context: Any) -> dict[str, Any]:
        from mlrail.cloud.jobs import abandon
        from mlrail.cloud.vertex import console_url
        from mlrail.store.runner import ComponentResult
        from mlrail_airflow.hooks.vertex import VertexAIHook
        from mlrail_airflow.triggers.vertex import TRIGGERS

        spec, run, force = self.stage_context(context)
        if spec.backend != "vertex":
            return self.execute_stage(spec, run, force, context)
        hook = VertexAIHook(spec.vertex.conn_id)
        with self.mlrail_env() as env:
            started = self.begin_remote(env, spec, run, force, hook.get_target())
            if isinstance(started, ComponentResult):
                return self.report(started)
            try:
                job = hook.submit(started.kind, started.request)
            except Exception as err:
                abandon(env, started.pending, err)
                raise
        self._submitted = (spec.vertex.conn_id, started.kind, job.name)
        url = console_url(job.name)
        self.log.info("submitted %s: %s", job.name, url)
        context["ti"].xcom_push(key=JOB_XCOM, value={"name": job.name, "url": url})
        budget = spec.train.max_minutes * 60
        self.defer(
            trigger=TRIGGERS[started.kind](
                conn_id=spec.vertex.conn_id,
                job_name=job.name,
                poll_seconds=spec.vertex.poll_seconds,
                deadline=time.time() + budget if budget else None,
                resume={"pending": dataclasses.asdict(started.pending), "kind": started.kind},
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        from mlrail.cloud.jobs import abandon
        from mlrail.store.runner import PendingExecution
        from mlrail_airflow.hooks.vertex import VertexAIHook

        spec, _, _ = self.stage_context(context)
        pending = PendingExecution(**event["resume"]["pending"])
        kind = event["resume"]["kind"]
        name = event["job_name"]
        self._submitted = (spec.vertex.conn_id, kind, name)
        with self.mlrail_env() as env:
            if event["status"] != "success":
                if event["status"] == "timeout":
                    VertexAIHook(spec.vertex.conn_id).cancel(kind, name)
                message = f"Vertex AI job {name} {event['status']}: {event['message']}"
                abandon(env, pending, message)
                # A cancelled job or a spent budget would end the same way on a retry.
                if event["status"] in ("cancelled", "timeout"):
                    raise AirflowFailException(message)
                raise AirflowException(message)
            result = self.finish_remote(env, spec, pending, event)
        self._submitted = None
        return self.report(result)

    def on_kill(self) -> None:
        if self._submitted is None:
            return
        from mlrail_airflow.hooks.vertex import VertexAIHook

        conn_id, kind, name = self._submitted
        VertexAIHook(conn_id).cancel(kind, name)
