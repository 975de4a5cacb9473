"""A readable summary of one pipeline run, built from the metadata store."""

from __future__ import annotations

from typing import Any

from mlrail.evaluation.catalog import METRICS
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


# Airflow's triggered_by values (DagRunTriggeredByType), as the summary says them.
VIA = {
    "ui": "from the UI",
    "rest_api": "through the REST API",
    "cli": "from the command line",
    "operator": "by another DAG",
    "test": "by dag.test",
    "timetable": "on its schedule",
    "asset": "by an asset update",
    "backfill": "by a backfill",
}


def _trigger(trigger: dict[str, Any]) -> str:
    via = trigger.get("via")
    how = ", ".join(filter(None, [trigger.get("run_type"), VIA.get(via, via)]))
    # Airflow names no user for the runs it starts itself (schedule, asset events).
    return f"  triggered by {trigger.get('user') or 'Airflow'} ({how})"


def _at(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "an unknown time"


def _unfinished(component: str, step: dict[str, Any]) -> str | None:
    """The line for a step that did not complete, saying what happened and when."""
    state = step["state"]
    if state == "failed":
        return f"  FAILED {component} at {_at(step['finished_at'])}: {step['error']}"
    if state == "interrupted":
        # The error starts with "interrupted: <why>" (mlrail.store.recovery).
        why = (step["error"] or "interrupted").removeprefix("interrupted: ")
        return (
            f"  INTERRUPTED {component}: started {_at(step['started_at'])}, found dead "
            f"at {_at(step['finished_at'])} ({why})"
        )
    if state == "running":
        return f"  RUNNING {component} since {_at(step['started_at'])}"
    return None


def format_summary(summary: dict[str, Any]) -> str:
    steps = summary["steps"]
    lines = [f"Run {summary['dag_run']}  ({summary['seconds']} s in pipeline tasks)"]
    if summary.get("triggered_by"):  # runs outside Airflow have no trigger
        lines.append(_trigger(summary["triggered_by"]))
    ingest = steps.get("ingest", {}).get("result", {})
    if ingest:
        rows = ", ".join(f"{k} {v}" for k, v in ingest.get("rows", {}).items())
        lines.append(f"  dataset version {ingest.get('dataset_version')}: {rows} rows")
    cached = [c for c, s in steps.items() if s["state"] == "cached"]
    ran = [c for c, s in steps.items() if s["state"] == "complete"]
    lines.append(f"  served from cache: {', '.join(cached) or 'nothing'}")
    lines.append(f"  computed: {', '.join(ran) or 'nothing'}")
    for component, step in steps.items():
        line = _unfinished(component, step)
        if line:
            lines.append(line)
    evaluation = steps.get("evaluate", {}).get("result", {})
    if evaluation:
        metrics = evaluation["metrics"]["candidate"]
        shown = ", ".join(
            f"{k} {v:.4f}" for k, v in metrics.items() if k in METRICS and v is not None
        )
        lines.append(f"  metrics (test split): {shown}")
        lines.append(f"  verdict: {evaluation['reasons']}")
    sandbox = steps.get("sandbox", {}).get("result", {})
    if sandbox:
        lines.append(f"  sandbox: {sandbox['infra_sentence']}")
    push = steps.get("push", {}).get("result", {})
    if push.get("pushed"):
        note = "" if push.get("copied") else " (already there; nothing copied)"
        lines.append(f"  pushed: version {push['version']} at {push['serving_path']}{note}")
    elif push:
        lines.append(f"  {push.get('reason')}")
    return "\n".join(lines)
