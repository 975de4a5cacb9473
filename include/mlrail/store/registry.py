"""Model registry: versions per model name, aliases (blessed, production, ...) with history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from mlrail.store import tables as t
from mlrail.store.metadata import MetadataStore, _now


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    model_artifact_id: int
    pushed_artifact_id: int | None
    execution_id: int | None
    created_at: datetime


def _version(row: Any) -> ModelVersion:
    data = row._asdict()
    data.pop("id", None)
    return ModelVersion(**data)


class ModelRegistry:
    """Versions and aliases of models, stored in the metadata database."""

    def __init__(self, store: MetadataStore):
        self.store = store
        self.engine = store.engine

    def register(
        self, model: str, model_artifact_id: int, execution_id: int | None
    ) -> ModelVersion:
        """Give the Model artifact the next version number, or return the one it already has.

        Registering the same artifact twice (a cleared push task, a cached training) yields the
        same version: the registry never holds two versions of one artifact.
        """
        with self.engine.begin() as conn:
            existing = conn.execute(
                sa.select(t.model_versions).where(
                    t.model_versions.c.model == model,
                    t.model_versions.c.model_artifact_id == model_artifact_id,
                )
            ).first()
            if existing is not None:
                return _version(existing)
            latest = conn.execute(
                sa.select(sa.func.max(t.model_versions.c.version)).where(
                    t.model_versions.c.model == model
                )
            ).scalar()
            conn.execute(
                t.model_versions.insert().values(
                    model=model,
                    version=(latest or 0) + 1,
                    model_artifact_id=model_artifact_id,
                    execution_id=execution_id,
                    created_at=_now(),
                )
            )
            row = conn.execute(
                sa.select(t.model_versions).where(
                    t.model_versions.c.model == model,
                    t.model_versions.c.model_artifact_id == model_artifact_id,
                )
            ).one()
        return _version(row)

    def set_pushed(self, model: str, version: int, pushed_artifact_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.model_versions.update()
                .where(t.model_versions.c.model == model, t.model_versions.c.version == version)
                .values(pushed_artifact_id=pushed_artifact_id)
            )

    def get(self, model: str, version: int) -> ModelVersion:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.model_versions).where(
                    t.model_versions.c.model == model, t.model_versions.c.version == version
                )
            ).first()
        if row is None:
            known = [v.version for v in self.versions(model)]
            raise LookupError(f"model {model!r} has no version {version}; known versions: {known}")
        return _version(row)

    def versions(self, model: str) -> list[ModelVersion]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.model_versions)
                .where(t.model_versions.c.model == model)
                .order_by(t.model_versions.c.version)
            ).all()
        return [_version(r) for r in rows]

    def resolve(self, model: str, alias: str) -> ModelVersion | None:
        """The version an alias points to, or None when the alias is not set."""
        with self.engine.connect() as conn:
            version = conn.execute(
                sa.select(t.model_aliases.c.version).where(
                    t.model_aliases.c.model == model, t.model_aliases.c.alias == alias
                )
            ).scalar()
        return None if version is None else self.get(model, version)

    def aliases_of(self, model: str, version: int) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(t.model_aliases.c.alias).where(
                        t.model_aliases.c.model == model, t.model_aliases.c.version == version
                    )
                ).scalars()
            )

    def move_alias(
        self,
        model: str,
        alias: str,
        version: int,
        reason: str,
        actor: str,
        run_id: str | None = None,
        execution_id: int | None = None,
    ) -> bool:
        """Point ``alias`` at ``version`` and record who moved it and why.

        Returns False (and records nothing) when the alias already points there, so a
        re-run does not add a second history entry.
        """
        self.get(model, version)
        with self.engine.begin() as conn:
            current = conn.execute(
                sa.select(t.model_aliases.c.version).where(
                    t.model_aliases.c.model == model, t.model_aliases.c.alias == alias
                )
            ).scalar()
            if current == version:
                return False
            if current is None:
                conn.execute(
                    t.model_aliases.insert().values(model=model, alias=alias, version=version)
                )
            else:
                conn.execute(
                    t.model_aliases.update()
                    .where(t.model_aliases.c.model == model, t.model_aliases.c.alias == alias)
                    .values(version=version)
                )
            conn.execute(
                t.alias_history.insert().values(
                    model=model,
                    alias=alias,
                    from_version=current,
                    to_version=version,
                    reason=reason,
                    actor=actor,
                    run_id=run_id,
                    execution_id=execution_id,
                    at=_now(),
                )
            )
        return True

    def alias_history(self, model: str, alias: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(t.alias_history).where(t.alias_history.c.model == model)
        if alias:
            query = query.where(t.alias_history.c.alias == alias)
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(query.order_by(t.alias_history.c.id))]
