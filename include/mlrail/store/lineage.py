"""Lineage of a model version: back to data, code, parameters and the Airflow run; forward
to its pushes and alias moves.

    >>> from mlrail.store.lineage import model_lineage
    >>> report = model_lineage(env, "taxi_tips", 1)
    >>> report["dataset"]["version"], report["training_run"]["run_id"]
"""

from __future__ import annotations

from typing import Any

from mlrail.store.files import SCHEMA
from mlrail.store.metadata import Artifact, Execution
from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import Env


def _artifact(a: Artifact) -> dict[str, Any]:
    return {
        "id": a.id,
        "type": a.type,
        "uri": a.uri,
        "fingerprint": a.fingerprint,
        "properties": a.properties,
    }


def _execution(e: Execution) -> dict[str, Any]:
    return {
        "id": e.id,
        "component": e.component,
        "code_version": e.code_version,
        "parameters": e.parameters,
        "state": e.state,
        "dag_id": e.dag_id,
        "run_id": e.run_id,
        "task_id": e.task_id,
        "try_number": e.try_number,
        "started_at": e.started_at.isoformat(),
        "finished_at": e.finished_at.isoformat() if e.finished_at else None,
    }


def upstream(env: Env, artifact: Artifact) -> tuple[list[Artifact], list[Execution]]:
    """Every artifact and producing execution the artifact was derived from, nearest first."""
    seen_artifacts: dict[int, Artifact] = {}
    seen_executions: dict[int, Execution] = {}
    frontier = [artifact]
    while frontier:
        current = frontier.pop(0)
        producer = env.metadata.producer_of(current.id)
        if producer is None or producer.id in seen_executions:
            continue
        seen_executions[producer.id] = producer
        for parent in env.metadata.io_of(producer.id, "input").values():
            if parent.id not in seen_artifacts:
                seen_artifacts[parent.id] = parent
                frontier.append(parent)
    return list(seen_artifacts.values()), list(seen_executions.values())


def downstream(env: Env, artifact: Artifact) -> list[tuple[Execution, dict[str, Artifact]]]:
    """Executions that consumed the artifact, with what each produced."""
    found = []
    for event in env.metadata.events_for_artifact(artifact.id, "input"):
        execution = env.metadata.get_execution(event.execution_id)
        found.append((execution, env.metadata.io_of(execution.id, "output")))
    return found


def trained_schema(env: Env, model_artifact_id: int) -> dict | None:
    """The schema a model artifact was trained with (its training execution's input); None
    when no training execution recorded one."""
    training = env.metadata.producer_of(model_artifact_id)
    schema = training and env.metadata.io_of(training.id, "input").get("schema")
    return None if schema is None else SCHEMA.read(env.artifacts, schema)


def _first(artifacts: list[Artifact], type: str) -> Artifact | None:
    return next((a for a in artifacts if a.type == type), None)


def model_lineage(env: Env, model: str, version: int) -> dict[str, Any]:
    """Lineage report of a registered model version (see the module docstring)."""
    registry = ModelRegistry(env.metadata)
    entry = registry.get(model, version)
    model_artifact = env.metadata.get_artifact(entry.model_artifact_id)
    parents, executions = upstream(env, model_artifact)
    training = env.metadata.producer_of(model_artifact.id)
    dataset = _first(parents, "Dataset")
    hparams = _first(parents, "Hyperparameters")
    consumers = downstream(env, model_artifact)
    pushes = [
        {"execution": _execution(e), "pushed_model": _artifact(out["pushed_model"])}
        for e, out in consumers
        if "pushed_model" in out
    ]
    return {
        "model": model,
        "version": version,
        "aliases": registry.aliases_of(model, version),
        "model_artifact": _artifact(model_artifact),
        "dataset": None
        if dataset is None
        else {
            "id": dataset.id,
            "source": dataset.uri,
            "version": dataset.properties.get("version"),
            "fingerprint": dataset.fingerprint,
            "files": dataset.properties.get("files", []),
            # The record keeps the first files only (mlrail.data.fingerprint); the count is whole.
            "file_count": dataset.properties.get(
                "file_count", len(dataset.properties.get("files", []))
            ),
        },
        "examples": [_artifact(a) for a in parents if a.type == "Examples"],
        "statistics": [_artifact(a) for a in parents if a.type == "DatasetStatistics"],
        "schema": [_artifact(a) for a in parents if a.type == "Schema"],
        "hyperparameters": None if hparams is None else hparams.properties.get("values"),
        "code_versions": {e.component: e.code_version for e in reversed(executions)},
        "training_run": None if training is None else _execution(training),
        "upstream_executions": [_execution(e) for e in executions],
        "consumers": [_execution(e) for e, _ in consumers],
        "pushes": pushes,
        "alias_history": [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in h.items()}
            for h in registry.alias_history(model)
            if h["to_version"] == version or h["from_version"] == version
        ],
    }


def alias_move(from_version: int | None, to_version: int) -> str:
    """``v1 -> v2``, or ``set to v1`` for an alias that pointed nowhere before."""
    if from_version is None:
        return f"set to v{to_version} (first)"
    return f"v{from_version} -> v{to_version}"


def format_lineage(report: dict[str, Any]) -> str:
    """Human-readable rendering of ``model_lineage``."""
    lines = [
        f"model {report['model']} version {report['version']}"
        f"  aliases: {', '.join(report['aliases']) or '-'}",
        f"  artifact #{report['model_artifact']['id']}  {report['model_artifact']['uri']}",
    ]
    run = report["training_run"]
    if run:
        lines.append(
            f"  trained by execution #{run['id']} in {run['dag_id']} / {run['run_id']}"
            f" (task {run['task_id']}, try {run['try_number']})"
        )
    data = report["dataset"]
    if data:
        lines.append(
            f"  dataset {data['source']} version {data['version']}"
            f" (fingerprint {data['fingerprint'][:12]}, {data['file_count']} file(s))"
        )
    for kind in ("examples", "statistics", "schema"):
        for a in report[kind]:
            lines.append(f"  {a['type']:<18} #{a['id']}  {a['uri']}")
    values = report["hyperparameters"] or {}
    lines.append(
        "  hyperparameters " + (", ".join(f"{k}={v}" for k, v in sorted(values.items())) or "-")
    )
    lines.append(
        "  code versions " + ", ".join(f"{c}={v}" for c, v in report["code_versions"].items())
    )
    for push in report["pushes"]:
        p = push["pushed_model"]["properties"]
        lines.append(f"  pushed to {p['serving_path']} by {push['execution']['run_id']}")
    for move in report["alias_history"]:
        lines.append(
            f"  alias {move['alias']}: {alias_move(move['from_version'], move['to_version'])}"
            f" at {move['at']} by {move['actor']} ({move['run_id']}): {move['reason']}"
        )
    return "\n".join(lines)
