"""What clearing or re-running tasks must leave unchanged in a deployment's stores."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from mlrail.store import tables as t
from mlrail.store.registry import ModelRegistry


def snapshot(env, model: str) -> dict:
    """Every artifact, the registry and its aliases, the serving folder, stray staging.

    InfraBlessings are left out: a sandbox is a measurement of the machine at the time, and
    each try records its own (a re-run measures again, to the same verdict)."""
    registry = ModelRegistry(env.metadata)
    with env.metadata.reader.connect() as conn:
        query = sa.select(t.artifacts.c.type, t.artifacts.c.uri).where(
            t.artifacts.c.type != "InfraBlessing"
        )
        artifacts = sorted(conn.execute(query).all())
    blessed = registry.resolve(model, "blessed")
    serving = Path(env.settings.serving_root)
    root = Path(env.settings.artifact_root)
    return {
        "artifacts": artifacts,
        "versions": [(v.version, v.model_artifact_id) for v in registry.versions(model)],
        "blessed": blessed and blessed.version,
        "alias_history": len(registry.alias_history(model)),
        "serving": sorted(str(p.relative_to(serving)) for p in serving.rglob("*")),
        "staging": sorted(str(p) for p in root.rglob(".*.staging-*")),
    }


def sandbox_processes(dag_id: str, run_id: str, store: str) -> list[int]:
    """The pids of the sandbox servers of the run of metadata store ``store`` still alive
    (other tests may run their own)."""
    import psutil

    from mlrail.serving.sandbox.folder import sandbox_root

    root = str(sandbox_root(dag_id, run_id, store))
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if "mlrail.serving.sandbox.launch" not in " ".join(process.info["cmdline"] or []):
                continue
            if process.environ().get("MLRAIL_SERVE_SERVING_ROOT", "").startswith(root):
                found.append(process.pid)
        except psutil.Error:
            continue
    return found
