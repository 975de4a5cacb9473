"""What clearing or re-running tasks must leave unchanged in a deployment's stores."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from mlrail.store import tables as t
from mlrail.store.registry import ModelRegistry


def snapshot(env, model: str) -> dict:
    """Every artifact, the registry and its aliases, the serving folder, stray staging."""
    registry = ModelRegistry(env.metadata)
    with env.metadata.reader.connect() as conn:
        artifacts = sorted(conn.execute(sa.select(t.artifacts.c.type, t.artifacts.c.uri)).all())
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
