"""What the plugin's pages show, read from the stores: one data function per page.

Each function returns plain data (the page's ``?format=json`` twin) and the DAGs whose
executions it shows, under ``"dags"``, so the caller can check that the reader may see
them. Paths are never absolute server paths: artifacts are shown by id, type and path
relative to the artifact root, pushes relative to the serving root, and a local data file
relative to its data root.

    >>> page = run_page(env, "taxi_tips_training", "manual__2026-12-01T10:00:00+00:00")
    >>> [(s["component"], s["state"]) for s in page["stages"]]
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from mlrail.components import component_named
from mlrail.deployment.aliases import ALIASES
from mlrail.evaluation.blessing import GATE as MODEL_BLESSING
from mlrail.pipeline import stage_order
from mlrail.reports.binning import shared_bins
from mlrail.reports.verdicts import view
from mlrail.store.files import ANOMALIES, BLESSING, EVALUATION_METRICS, SCHEMA, STATISTICS
from mlrail.store.lineage import model_lineage
from mlrail.store.metadata import Artifact, Execution
from mlrail.store.registry import ModelRegistry, ModelVersion
from mlrail.store.runner import Env
from mlrail.store.summary import run_summary
from mlrail.verdict import summary_of


def display_path(env: Env, uri: str) -> str:
    """``uri`` as a reader may see it: relative to the artifact root, else to the serving
    root or a data root (prefixed by that root's folder name); remote URIs stay whole."""
    uri = uri.removeprefix("file://")
    if "://" in uri:
        return uri
    artifacts = _resolved(env.settings.artifact_root)
    roots = [env.settings.serving_root, *env.settings.data_roots]
    local = [artifacts, *(_resolved(r) for r in roots if r and "://" not in r)]
    for resolved in sorted(local, key=len, reverse=True):  # the deepest root first
        if uri == resolved or uri.startswith(resolved + "/"):
            inside = uri[len(resolved) :].lstrip("/")
            if resolved == artifacts:
                return inside
            return posixpath.join(posixpath.basename(resolved), inside)
    return posixpath.basename(uri)


def shown_paths(env: Env, value: Any) -> Any:
    """``value`` (artifact properties) with every local path in it as ``display_path``."""
    if isinstance(value, dict):
        return {k: shown_paths(env, v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown_paths(env, v) for v in value]
    if isinstance(value, str) and (value.startswith("/") or value.startswith("file://")):
        return display_path(env, value)
    return value


def _resolved(root: str) -> str:
    return str(Path(root).resolve())


def artifact_summary(env: Env, artifact: Artifact) -> dict[str, Any]:
    return {
        "id": artifact.id,
        "type": artifact.type,
        "path": display_path(env, artifact.uri),
        "external": artifact.external,
        "created_at": artifact.created_at,
    }


def execution_summary(e: Execution) -> dict[str, Any]:
    seconds = (e.finished_at - e.started_at).total_seconds() if e.finished_at else None
    return {
        "id": e.id,
        "component": e.component,
        "state": e.state,
        "dag_id": e.dag_id,
        "run_id": e.run_id,
        "task_id": e.task_id,
        "try_number": e.try_number,
        "started_at": e.started_at,
        "finished_at": e.finished_at,
        "seconds": seconds,
        "code_version": e.code_version,
        "cached_from": e.cached_from,
    }


def _dags(*executions: Execution | dict | None) -> list[str]:
    ids = set()
    for e in executions:
        dag_id = e.get("dag_id") if isinstance(e, dict) else getattr(e, "dag_id", None)
        if dag_id:
            ids.add(dag_id)
    return sorted(ids)


def _blessing_of(env: Env, version: ModelVersion) -> dict[str, Any] | None:
    """The verdict the push that registered ``version`` acted on."""
    if version.execution_id is None:
        return None
    blessing = env.metadata.io_of(version.execution_id, "input").get("blessing")
    return None if blessing is None else dict(blessing.properties)


def version_row(env: Env, registry: ModelRegistry, version: ModelVersion) -> dict[str, Any]:
    """One line of a model's version table."""
    model = env.metadata.get_artifact(version.model_artifact_id)
    training = env.metadata.producer_of(model.id)
    blessing = summary_of(_blessing_of(env, version)) or {}
    return {
        "version": version.version,
        "aliases": registry.aliases_of(version.model, version.version),
        "created_at": version.created_at,
        "published_at": version.published_at,
        "model_artifact": artifact_summary(env, model),
        "training_run": None if training is None else execution_summary(training),
        "blessed": blessing.get("lets_through"),
        "verdict": blessing.get("sentence"),
        "metrics": model.properties.get("final", {}),
    }


def models_page(env: Env) -> dict[str, Any]:
    """Every model: versions, aliases, when last trained and pushed, the latest verdict."""
    registry = ModelRegistry(env.metadata)
    models = []
    for name in registry.models():
        versions = registry.versions(name)
        rows = [version_row(env, registry, v) for v in versions]
        latest = rows[-1]
        models.append(
            {
                "name": name,
                "versions": len(rows),
                "latest": latest["version"],
                "aliases": registry.aliases(name),
                "last_trained": max(r["created_at"] for r in rows),
                "last_pushed": max(
                    (r["published_at"] for r in rows if r["published_at"]), default=None
                ),
                "latest_verdict": latest["verdict"],
                "latest_blessed": latest["blessed"],
                "dags": _dags(*(r["training_run"] for r in rows)),
            }
        )
    dags = sorted({d for m in models for d in m["dags"]})
    return {"models": models, "aliases": list(ALIASES), "dags": dags}


def model_page(env: Env, model: str) -> dict[str, Any]:
    """One model: every version with its aliases, verdict and training run; alias history."""
    registry = ModelRegistry(env.metadata)
    versions = registry.versions(model)
    if not versions:
        raise LookupError(f"no model {model!r} in the registry")
    rows = [version_row(env, registry, v) for v in versions][::-1]
    history = registry.alias_history(model)[::-1]
    return {
        "model": model,
        "aliases": registry.aliases(model),
        "versions": rows,
        "alias_history": history,
        "dags": _dags(*(r["training_run"] for r in rows)),
    }


def _evaluations(env: Env, model_artifact_id: int) -> list[dict[str, Any]]:
    """Every evaluation of the model artifact as the candidate, newest first, with its
    metrics (candidate and the blessed model it was compared with) and the checks."""
    found = []
    for event in env.metadata.events_for_artifact(model_artifact_id, "input"):
        if event.name != "model":
            continue
        execution = env.metadata.get_execution(event.execution_id)
        if execution.component != "evaluate" or execution.state not in ("complete", "cached"):
            continue
        outputs = env.metadata.io_of(execution.id, "output")
        if "blessing" not in outputs or "evaluation" not in outputs:
            continue
        blessing = BLESSING.read(env.artifacts, outputs["blessing"])
        metrics = EVALUATION_METRICS.read(env.artifacts, outputs["evaluation"])
        found.append(
            {
                "execution": execution_summary(execution),
                "blessing_artifact": artifact_summary(env, outputs["blessing"]),
                "evaluation_artifact": artifact_summary(env, outputs["evaluation"]),
                "verdict": view(blessing, MODEL_BLESSING),
                "baseline_version": blessing.get("baseline_version"),
                "metrics": metrics,
            }
        )
    return found[::-1]


def _sandboxes(env: Env, model_artifact_id: int) -> list[dict[str, Any]]:
    """Every sandbox validation of the model artifact as the candidate, newest first."""
    found = []
    for event in env.metadata.events_for_artifact(model_artifact_id, "input"):
        execution = env.metadata.get_execution(event.execution_id)
        if event.name != "model" or execution.component != "sandbox":
            continue
        verdict = env.metadata.io_of(execution.id, "output").get("infra_blessing")
        if execution.state != "complete" or verdict is None:
            continue
        blessing = BLESSING.read(env.artifacts, verdict)
        found.append(
            {
                "execution": execution_summary(execution),
                "artifact": artifact_summary(env, verdict),
                "verdict": view(blessing, "infra_blessing"),
            }
        )
    return found[::-1]


def version_page(env: Env, model: str, version: int) -> dict[str, Any]:
    """A model version: verdict and metrics, lineage, pushes and alias history."""
    lineage = model_lineage(env, model, version)
    registry = ModelRegistry(env.metadata)
    entry = registry.get(model, version)
    artifact = env.metadata.get_artifact(entry.model_artifact_id)
    evaluations = _evaluations(env, artifact.id)
    verdict = _blessing_of(env, entry)
    # The evaluation whose verdict the registering push acted on; else the latest one.
    acted_on = entry.execution_id and env.metadata.io_of(entry.execution_id, "input").get(
        "blessing"
    )
    chosen = next(
        (e for e in evaluations if acted_on and e["blessing_artifact"]["id"] == acted_on.id),
        evaluations[0] if evaluations else None,
    )
    inputs = {
        kind: [artifact_summary(env, env.metadata.get_artifact(a["id"])) for a in lineage[kind]]
        for kind in ("examples", "statistics", "schema")
    }
    dataset = lineage["dataset"]
    if dataset is not None:
        dataset = {
            **dataset,
            "source": display_path(env, dataset["source"]),
            "files": [{**f, "path": display_path(env, f["path"])} for f in dataset["files"]],
        }
    executions = [lineage["training_run"], *lineage["upstream_executions"], *lineage["consumers"]]
    return {
        "model": model,
        "version": version,
        "aliases": lineage["aliases"],
        "created_at": entry.created_at,
        "published_at": entry.published_at,
        "model_artifact": artifact_summary(env, artifact),
        "training_metrics": artifact.properties.get("final", {}),
        "verdict": verdict,
        "evaluation": chosen,
        "evaluations": len(evaluations),
        "sandbox": next(iter(_sandboxes(env, artifact.id)), None),
        "dataset": dataset,
        **inputs,
        "hyperparameters": lineage["hyperparameters"] or {},
        "code_versions": lineage["code_versions"],
        "training_run": lineage["training_run"],
        "upstream_executions": lineage["upstream_executions"],
        "pushes": [
            {
                "execution": p["execution"],
                "pushed_model": p["pushed_model"]["id"],
                "serving_path": posixpath.join(
                    model, str(p["pushed_model"]["properties"].get("version", version))
                ),
            }
            for p in lineage["pushes"]
        ],
        "alias_history": lineage["alias_history"],
        "dags": _dags(*executions),
    }


def _stage_order(component: str) -> int:
    """Where a component's stage comes in the pipeline model's DAGs (mlrail.pipeline);
    components no DAG declares follow, in the order recorded."""
    order = stage_order()
    return order.index(component) if component in order else len(order)


def verdict_of(component: str, result: dict[str, Any]) -> dict[str, Any] | None:
    """The verdict a stage's result gives (``state``, ``lets_through``, ``sentence``), as
    its component reads it; None when the stage decides nothing."""
    known = component_named(component)
    return known.verdict_of(result) if known else result.get("verdict")


def _pushed_version(component: str, result: dict[str, Any]) -> dict[str, Any] | None:
    if component == "push" and result.get("pushed"):
        return {"model": result["model"], "version": result["version"]}
    return None


def run_page(env: Env, dag_id: str, run_id: str) -> dict[str, Any]:
    """A DAG run: every stage, computed or cached (and from where), timings, verdicts,
    outputs, and the reports to open."""
    dag_run = f"{dag_id}/{run_id}"
    executions = env.metadata.executions_in_context("dag_run", dag_run)
    if not executions:
        raise LookupError(f"no mlrail executions recorded for {dag_run}")
    summary = run_summary(env, dag_run)
    latest = {e.component: e for e in executions}
    stages = []
    for component in sorted(latest, key=_stage_order):
        e = latest[component]
        origin = env.metadata.get_execution(e.cached_from) if e.cached_from else None
        outputs = env.metadata.io_of(e.id, "output")
        verdict = verdict_of(component, e.result or {}) or {}
        stages.append(
            {
                **execution_summary(e),
                "tries": sum(1 for x in executions if x.component == component),
                "cached_from_run": None if origin is None else execution_summary(origin),
                "outputs": {slot: artifact_summary(env, a) for slot, a in outputs.items()},
                "verdict": verdict.get("sentence"),
                "passed": verdict.get("lets_through"),
                "error": e.error,
                "data_docs": component == "validate" and "anomalies" in outputs,
                "sandbox_report": outputs["infra_blessing"].id
                if component == "sandbox" and "infra_blessing" in outputs
                else None,
                "model_version": _pushed_version(component, e.result or {}),
            }
        )
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "seconds": summary["seconds"],
        "started_at": min(e.started_at for e in executions),
        "triggered_by": summary.get("triggered_by"),
        "stages": stages,
        "dags": [dag_id],
    }


def runs_page(env: Env, dag_id: str) -> dict[str, Any]:
    """The runs of a DAG recorded in the metadata store, newest first."""
    runs = []
    for context in env.metadata.contexts("dag_run", f"{dag_id}/"):
        executions = env.metadata.executions_in_context("dag_run", context["name"])
        if not executions:
            continue
        latest = {e.component: e for e in executions}
        states = [e.state for e in latest.values()]
        push = (latest.get("push") and latest["push"].result) or {}
        evaluate = (latest.get("evaluate") and latest["evaluate"].result) or {}
        finished = [e.finished_at for e in executions if e.finished_at]
        started = min(e.started_at for e in executions)
        runs.append(
            {
                "run_id": context["name"].removeprefix(f"{dag_id}/"),
                "started_at": started,
                "seconds": (max(finished) - started).total_seconds() if finished else None,
                "computed": sorted(c for c, e in latest.items() if e.state == "complete"),
                "cached": sorted(c for c, e in latest.items() if e.state == "cached"),
                "failed": sorted(
                    c for c, e in latest.items() if e.state in ("failed", "interrupted")
                ),
                "running": "running" in states,
                "blessed": (verdict_of("evaluate", evaluate) or {}).get("lets_through"),
                "pushed_version": push.get("version") if push.get("pushed") else None,
                "triggered_by": (context.get("properties") or {}).get("triggered_by"),
            }
        )
    if not runs:
        raise LookupError(f"no mlrail runs recorded for DAG {dag_id!r}")
    return {"dag_id": dag_id, "runs": runs, "dags": [dag_id]}


def _consumers(env: Env, artifact_id: int, component: str) -> list[Execution]:
    executions = [
        env.metadata.get_execution(e.execution_id)
        for e in env.metadata.events_for_artifact(artifact_id, "input")
    ]
    return [x for x in executions if x.component == component and x.state in ("complete", "cached")]


def _schema_and_anomalies(
    env: Env, statistics: Artifact
) -> tuple[Artifact | None, Artifact | None]:
    """The schema inferred from these statistics and the latest validation that used them."""
    schema = anomalies = None
    for execution in _consumers(env, statistics.id, "schema"):
        schema = env.metadata.io_of(execution.id, "output").get("schema") or schema
    for execution in _consumers(env, statistics.id, "validate"):
        anomalies = env.metadata.io_of(execution.id, "output").get("anomalies") or anomalies
    return schema, anomalies


def _feature_rows(document: dict[str, Any], schema: dict[str, Any] | None) -> list[dict]:
    """Per feature, per split: the numbers TFDV shows, and what to highlight."""
    splits = list(document["splits"])
    roles = {}
    if schema:
        roles = {f["name"]: f for f in schema["features"]}
        roles[schema["label"]["name"]] = {"role": "label", "type": schema["label"]["type"]}
    names = list(dict.fromkeys(n for s in document["splits"].values() for n in s["features"]))
    if roles:  # the schema's order: features as the spec lists them, then the label
        order = {name: i for i, name in enumerate(roles)}
        names.sort(key=lambda n: order.get(n, len(order)))
    rows = []
    for name in names:
        per_split = {}
        for split in splits:
            stats = document["splits"][split]["features"].get(name)
            if stats is None:
                continue
            rows_in_split = document["splits"][split]["rows"] or 1
            missing_share = stats["missing"] / rows_in_split
            entry = {
                "kind": stats["kind"],
                "count": stats["count"],
                "missing": stats["missing"],
                "missing_share": missing_share,
                "unique": stats.get("unique"),
            }
            if stats["kind"] == "numeric":
                zeros = stats.get("zeros", 0)
                entry.update(
                    mean=stats["mean"],
                    std=stats["std"],
                    min=stats["min"],
                    median=stats["median"],
                    max=stats["max"],
                    zeros=zeros,
                    zeros_share=zeros / rows_in_split,
                )
            else:
                entry.update(
                    avg_length=stats.get("avg_length"),
                    top_values=[(v["value"], v["count"]) for v in stats.get("top_k", [])],
                )
            # Highlighted as TFDV does: missing values, many zeros, a constant or an id-like column.
            entry["flags"] = {
                "missing": missing_share > 0,
                "zeros": stats["kind"] == "numeric" and entry["zeros_share"] >= 0.1,
                "unique": entry["unique"] is not None
                and (entry["unique"] <= 1 or entry["unique"] >= 0.9 * max(stats["count"], 1)),
            }
            per_split[split] = entry
        kind = next(iter(per_split.values()))["kind"]
        rows.append(
            {
                "name": name,
                "kind": kind,
                "role": roles.get(name, {}).get("role"),
                "type": roles.get(name, {}).get("type"),
                "schema": roles.get(name, {}),
                "splits": per_split,
                "chart": _chart(document, name, per_split, kind),
            }
        )
    return rows


def _chart(document: dict[str, Any], name: str, per_split: dict[str, dict], kind: str) -> Any:
    """A numeric feature's bins shared by every split (see mlrail.reports.binning), or a
    categorical feature's most frequent values per split."""
    if kind != "numeric":
        return {s: e["top_values"] for s, e in per_split.items()}
    stored = {s: document["splits"][s]["features"][name] for s in per_split}
    bins = shared_bins(stored)
    return None if bins is None else bins.to_dict()


def statistics_page(env: Env, artifact_id: int) -> dict[str, Any]:
    """A dataset version's statistics per feature and split, with its schema and anomalies."""
    statistics = env.metadata.get_artifact(artifact_id)
    if statistics.type != "DatasetStatistics":
        raise LookupError(f"artifact #{artifact_id} is a {statistics.type}, not statistics")
    document = STATISTICS.read(env.artifacts, statistics)
    schema_artifact, anomalies_artifact = _schema_and_anomalies(env, statistics)
    schema = schema_artifact and SCHEMA.read(env.artifacts, schema_artifact)
    anomalies = anomalies_artifact and ANOMALIES.read(env.artifacts, anomalies_artifact)
    producer = env.metadata.producer_of(statistics.id)
    examples = env.metadata.io_of(producer.id, "input").get("examples") if producer else None
    features = _feature_rows(document, schema)
    return {
        "artifact": artifact_summary(env, statistics),
        "dataset_version": statistics.properties.get("dataset_version"),
        "engine": document.get("engine"),
        "splits": {name: s["rows"] for name, s in document["splits"].items()},
        "duplicate_rows": {name: s.get("duplicate_rows") for name, s in document["splits"].items()},
        "features": features,
        # Statistics written before the quantile grid: their bins are coarse in the tails.
        "coarse_bins": [
            f["name"]
            for f in features
            if f["kind"] == "numeric"
            and f["chart"]
            and set(f["chart"]["sources"].values()) - {"exact", "grid"}
        ],
        "examples": None if examples is None else artifact_summary(env, examples),
        "schema_artifact": None
        if schema_artifact is None
        else artifact_summary(env, schema_artifact),
        "schema": schema,
        "anomalies_artifact": None
        if anomalies_artifact is None
        else artifact_summary(env, anomalies_artifact),
        "anomalies": anomalies,
        "produced_by": None if producer is None else execution_summary(producer),
        "dags": _dags(producer),
    }


def artifact_dags(env: Env, artifact_id: int) -> list[str]:
    """The DAGs whose executions produced or used the artifact (who may see its files)."""
    producer = env.metadata.producer_of(artifact_id)
    consumers = [
        env.metadata.get_execution(e.execution_id)
        for e in env.metadata.events_for_artifact(artifact_id, "input")
    ]
    return _dags(producer, *consumers)


def artifact_page(env: Env, artifact_id: int) -> dict[str, Any]:
    """An artifact: type, path, properties, files, who produced and who used it."""
    artifact = env.metadata.get_artifact(artifact_id)
    producer = env.metadata.producer_of(artifact.id)
    consumers = [
        env.metadata.get_execution(e.execution_id)
        for e in env.metadata.events_for_artifact(artifact.id, "input")
    ]
    files: dict[str, int] = {}
    if not artifact.external and env.artifacts.exists(artifact.uri):
        files = env.artifacts.commit_info(artifact.uri).files  # exists: committed
    return {
        **artifact_summary(env, artifact),
        "fingerprint": artifact.fingerprint,
        "properties": shown_paths(env, artifact.properties),
        "files": [{"path": p, "bytes": n} for p, n in sorted(files.items())],
        "committed": bool(files) or artifact.external,
        "produced_by": None if producer is None else execution_summary(producer),
        "used_by": [execution_summary(e) for e in consumers],
        "dags": _dags(producer, *consumers),
    }


def artifact_file(env: Env, artifact_id: int, path: str) -> bytes:
    """One committed file of an artifact (``path`` relative to it, as listed)."""
    from mlrail.store.artifacts import UncommittedArtifactError

    artifact = env.metadata.get_artifact(artifact_id)
    try:
        files = {} if artifact.external else env.artifacts.commit_info(artifact.uri).files
    except UncommittedArtifactError:
        files = {}
    if path not in files:
        raise LookupError(f"artifact #{artifact_id} has no file {path}")
    return env.artifacts.fs.cat_file(f"{artifact.uri}/{path}")
