"""Triggers that wait for a Vertex AI job in the triggerer, holding no worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from mlrail.cloud.vertex import console_url
from mlrail_airflow.hooks.vertex import METHODS, VertexAIHook

# Consecutive failed polls (network, quota) tolerated before the wait is given up.
MAX_POLL_ERRORS = 5


class VertexJobTrigger(BaseTrigger):
    """Polls one Vertex AI job until it ends and yields exactly one event:
    ``{"status": "success" | "failed" | "cancelled" | "timeout" | "error", "message",
    "job_name", "state", "job"}`` where ``job`` is the final job as JSON.

    ``resume`` is handed back in the event, untouched: what the operator needs to finish
    (the pending execution). It travels in the event rather than in the deferral's kwargs
    because ``dag.test()`` in Airflow 3.3 resumes with the event alone.

    ``deadline`` (epoch seconds) is the training budget: past it the trigger reports
    ``timeout`` and the operator cancels the job. When the task is killed while deferred
    (cleared, marked failed, Airflow's own timeout), the job is cancelled too; a trigger
    that is only moved to another triggerer leaves the job alone.
    """

    kind = ""  # a key of hooks.vertex.METHODS; subclasses set it
    success_states: frozenset[str] = frozenset({"JOB_STATE_SUCCEEDED"})

    def __init__(
        self,
        *,
        conn_id: str,
        job_name: str,
        poll_seconds: float = 60,
        deadline: float | None = None,
        resume: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.conn_id = conn_id
        self.job_name = job_name
        self.poll_seconds = poll_seconds
        self.deadline = deadline
        self.resume = resume or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "job_name": self.job_name,
                "poll_seconds": self.poll_seconds,
                "deadline": self.deadline,
                "resume": self.resume,
            },
        )

    async def _client(self):
        from asgiref.sync import sync_to_async

        hook = VertexAIHook(self.conn_id)
        # Reading the connection blocks (a call to the API server): off the event loop.
        arguments = await sync_to_async(hook.client_arguments)()
        return hook.get_async_job_client(arguments)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        client = await self._client()
        try:
            event = await self._wait(client)
        except asyncio.CancelledError:
            if await self._task_was_killed():
                _, _, cancel = METHODS[self.kind]
                await getattr(client, cancel)(name=self.job_name)
                self.log.info("task killed while waiting: cancelled %s", self.job_name)
            raise
        yield TriggerEvent(event)

    async def _wait(self, client) -> dict[str, Any]:
        from google.api_core.exceptions import GoogleAPICallError

        _, get, _ = METHODS[self.kind]
        errors = 0
        while True:
            try:
                job = await getattr(client, get)(name=self.job_name)
                errors = 0
            except GoogleAPICallError as err:
                errors += 1
                if errors >= MAX_POLL_ERRORS:
                    return self._event("error", f"cannot read the job's state: {err}")
                self.log.warning(
                    "polling %s failed (%s/%s): %s", self.job_name, errors, MAX_POLL_ERRORS, err
                )
                await asyncio.sleep(self.poll_seconds)
                continue
            event = self._final(job)
            if event is not None:
                return event
            if self.deadline is not None and time.time() >= self.deadline:
                return self._event(
                    "timeout",
                    f"still {job.state.name} when the training budget ran out",
                    job,
                )
            self.log.info("%s is %s", self.job_name, job.state.name)
            await asyncio.sleep(self.poll_seconds)

    def _final(self, job) -> dict[str, Any] | None:
        state = job.state.name
        if state in self.success_states:
            return self._event("success", f"{state}", job)
        if state == "JOB_STATE_CANCELLED":
            return self._event("cancelled", "the job was cancelled in Vertex AI", job)
        if state in ("JOB_STATE_FAILED", "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED"):
            detail = job.error.message or "no error message"
            return self._event("failed", f"{state}: {detail}", job)
        return None

    def _event(self, status: str, message: str, job=None) -> dict[str, Any]:
        return {
            "status": status,
            "message": message,
            "job_name": self.job_name,
            "state": job.state.name if job is not None else None,
            "job": type(job).to_json(job) if job is not None else None,
            "resume": self.resume,
        }

    async def _task_was_killed(self) -> bool:
        """Whether the wait was cancelled because the task was killed (cleared, marked
        failed or success, timed out, its run deleted): then the job must be cancelled.
        A triggerer that shuts down or hands the trigger over cancels it too, with the
        task still deferred, and the job must go on. When the state cannot be read, the
        job is left running and the log says so, with the job's name: cancelling hours
        of training by mistake cannot be undone, and the job stops at its budget."""
        ti = self.task_instance
        try:
            if ti is None:
                raise LookupError("the trigger was given no task instance")
            from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
            from asgiref.sync import sync_to_async

            states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
                dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index
            )
        except Exception as err:
            self.log.error(
                "could not read whether the task of %s was killed (%s: %s); leaving the job "
                "running: cancel it in the Vertex AI console if its task is gone (%s)",
                self.job_name,
                type(err).__name__,
                err,
                console_url(self.job_name),
            )
            return False
        return task_was_killed(states, ti.run_id, ti.task_id, ti.map_index)


def task_was_killed(states: dict[str, dict[str, Any]], run_id: str, task_id: str, map_index: int):
    """Decide from the task SDK's ``get_task_states`` answer (``{run_id: {task_id or
    task_id_mapindex: state}}``): anything but ``deferred`` means the task stopped waiting
    for this trigger. A cleared task has no state (None); a task missing from the answer
    was deleted with its run; both are killed."""
    key = task_id if map_index is None or map_index < 0 else f"{task_id}_{map_index}"
    run = states.get(run_id) or {}
    if key not in run:
        return True
    return run[key] != "deferred"


class CustomJobTrigger(VertexJobTrigger):
    """Waits for a Vertex AI CustomJob (training)."""

    kind = "custom_job"


class HyperparameterTuningJobTrigger(VertexJobTrigger):
    """Waits for a Vertex AI HyperparameterTuningJob; some failed trials
    (PARTIALLY_SUCCEEDED) still leave a best trial to use."""

    kind = "hyperparameter_tuning_job"
    success_states = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED"})


TRIGGERS = {cls.kind: cls for cls in (CustomJobTrigger, HyperparameterTuningJobTrigger)}
