"""One pipeline run as the metadata store recorded it (mlrail.reports.summary says it in
words)."""

from __future__ import annotations

from typing import Any

from mlrail.store.runner import Env


def run_summary(env: Env, dag_run: str | None = None, prefix: str = "") -> dict[str, Any]:
    """Summary of the executions recorded for a DAG run (``<dag_id>/<run_id>``; latest if None)."""
    dag_run = dag_run or env.metadata.latest_context("dag_run", prefix)
    if dag_run is None:
        raise LookupError(f"no pipeline run recorded in {env.metadata.url}")
    executions = env.metadata.executions_in_context("dag_run", dag_run)
    latest = {e.component: e for e in executions}  # a cleared task's last try wins
    started = min(e.started_at for e in executions)
    finished = max((e.finished_at or e.started_at) for e in executions)
    (context,) = (
        c
        for c in env.metadata.contexts_of(executions[0].id)
        if c["type"] == "dag_run" and c["name"] == dag_run
    )
    return {
        "dag_run": dag_run,
        "seconds": round((finished - started).total_seconds(), 1),
        # {"user", "run_type", "via"} (mlrail.store.runner.Trigger); None if not recorded
        "triggered_by": context["properties"].get("triggered_by"),
        "steps": {
            c: {
                "state": e.state,
                "cached_from": e.cached_from,
                "result": e.result or {},
                "error": e.error,
                "started_at": e.started_at,
                "finished_at": e.finished_at,
            }
            for c, e in latest.items()
        },
    }
