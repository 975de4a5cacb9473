"""A pipeline run's summary in words (``python -m mlrail summary``, ``make demo``): what ran
and what came from the cache, then what each stage's component says of its result
(mlrail.store.runner.Component.summary_lines: its facts and its verdict)."""

from __future__ import annotations

from typing import Any

from mlrail.components import component_named
from mlrail.store.runner import verdict_lines

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
    """``summary`` (mlrail.store.summary.run_summary) as the lines a person reads."""
    steps = summary["steps"]
    lines = [f"Run {summary['dag_run']}  ({summary['seconds']} s in pipeline tasks)"]
    if summary.get("triggered_by"):  # runs outside Airflow have no trigger
        lines.append(_trigger(summary["triggered_by"]))
    cached = [c for c, s in steps.items() if s["state"] == "cached"]
    ran = [c for c, s in steps.items() if s["state"] == "complete"]
    lines.append(f"  served from cache: {', '.join(cached) or 'nothing'}")
    lines.append(f"  computed: {', '.join(ran) or 'nothing'}")
    for component, step in steps.items():
        line = _unfinished(component, step)
        if line:
            lines.append(line)
    for component, step in steps.items():
        if step["state"] not in ("complete", "cached"):
            continue
        known = component_named(component)
        said = (
            known.summary_lines(step["result"])
            if known is not None  # a component of a project's own: its verdict, if any
            else verdict_lines(component, step["result"].get("verdict"))
        )
        lines.extend(f"  {line}" for line in said)
    return "\n".join(lines)
