"""Model registry: versions per model name, aliases (blessed, production, ...) with history.

Two rules keep it safe under clears, kills and concurrent runs:

* a version number is reserved by ``register`` and becomes visible (``get``, ``versions``,
  ``resolve``) only when ``publish`` says its files are in place, so a push killed halfway
  leaves no version that points at nothing;
* alias moves are compare-and-set: a caller says which version it expects the alias to
  point at (the one its evaluation compared against), and a move from anything else is
  refused, so re-running an old push never rolls back what is blessed now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from mlrail.errors import DeterministicError
from mlrail.store import tables as t
from mlrail.store.metadata import MetadataStore, _now

# ``expected`` for a move that does not depend on where the alias points (a manual move).
ANY_VERSION = object()


class AliasMovedError(DeterministicError):
    """The alias no longer points where the caller's decision assumed."""

    def __init__(self, model: str, alias: str, expected: int | None, current: int | None):
        self.model, self.alias, self.expected, self.current = model, alias, expected, current
        seen = "unset" if expected is None else f"v{expected}"
        now = "unset" if current is None else f"v{current}"
        super().__init__(
            f"alias {alias!r} of model {model!r} was {seen} when this was decided and is now {now}"
        )


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    model_artifact_id: int
    pushed_artifact_id: int | None
    execution_id: int | None
    created_at: datetime
    published_at: datetime | None


_PUBLISHED = t.model_versions.c.published_at.is_not(None)


def _version(row: Any) -> ModelVersion:
    data = row._asdict()
    data.pop("id", None)
    return ModelVersion(**data)


class ModelRegistry:
    """Versions and aliases of models, stored in the metadata database."""

    def __init__(self, store: MetadataStore):
        self.store = store
        self.engine = store.engine
        self.reader = store.reader

    def register(
        self, model: str, model_artifact_id: int, execution_id: int | None
    ) -> ModelVersion:
        """Reserve the next version number for the Model artifact, or return the version it
        (or a model with the same content fingerprint) already has.

        Registering the same model twice (a cleared push, a cached or forced training that
        produced identical files) yields the same version: the registry never holds two
        versions of one model. The version stays invisible until ``publish``.
        """
        for attempt in range(3):
            try:
                return self._reserve(model, model_artifact_id, execution_id)
            except sa.exc.IntegrityError:
                # PostgreSQL: a concurrent push took the same number (or registered the
                # same artifact) first; the next attempt sees it.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _reserve(
        self, model: str, model_artifact_id: int, execution_id: int | None
    ) -> ModelVersion:
        with self.engine.begin() as conn:
            existing = self._same_model(conn, model, model_artifact_id)
            if existing is not None and existing.published_at is None and execution_id:
                # A push taking over a reservation owns its leftovers from now on.
                conn.execute(
                    t.model_versions.update()
                    .where(t.model_versions.c.id == existing.id)
                    .values(execution_id=execution_id)
                )
                existing = self._same_model(conn, model, model_artifact_id)
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
            row = self._same_model(conn, model, model_artifact_id)
        return _version(row)

    @staticmethod
    def _same_model(conn: sa.Connection, model: str, model_artifact_id: int):
        fingerprint = (
            sa.select(t.artifacts.c.fingerprint)
            .where(t.artifacts.c.id == model_artifact_id)
            .scalar_subquery()
        )
        return conn.execute(
            sa.select(t.model_versions)
            .join(t.artifacts, t.artifacts.c.id == t.model_versions.c.model_artifact_id)
            .where(
                t.model_versions.c.model == model,
                sa.or_(
                    t.model_versions.c.model_artifact_id == model_artifact_id,
                    t.artifacts.c.fingerprint == fingerprint,
                ),
            )
            .order_by(t.model_versions.c.version)
            .limit(1)
        ).first()

    def publish(
        self,
        model: str,
        version: int,
        alias: str,
        reason: str,
        actor: str,
        expected: int | None,
        run_id: str | None = None,
        execution_id: int | None = None,
    ) -> bool:
        """Make ``version`` visible (its files are in place) and move ``alias`` to it from
        ``expected``, in one transaction; True if the alias moved.

        Raises AliasMovedError, publishing nothing, when the alias points at neither
        ``expected`` nor ``version``.
        """
        with self.engine.begin() as conn:
            moved = self._move(
                conn, model, alias, version, reason, actor, expected, run_id, execution_id
            )
            conn.execute(
                t.model_versions.update()
                .where(
                    t.model_versions.c.model == model,
                    t.model_versions.c.version == version,
                    t.model_versions.c.published_at.is_(None),
                )
                .values(published_at=_now())
            )
        return moved

    def reserved_by(self, model: str, execution_id: int) -> list[int]:
        """Versions the execution reserved that were never published."""
        with self.reader.connect() as conn:
            return list(
                conn.execute(
                    sa.select(t.model_versions.c.version).where(
                        t.model_versions.c.model == model,
                        t.model_versions.c.execution_id == execution_id,
                        t.model_versions.c.published_at.is_(None),
                    )
                ).scalars()
            )

    def set_pushed(self, model: str, version: int, pushed_artifact_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.model_versions.update()
                .where(t.model_versions.c.model == model, t.model_versions.c.version == version)
                .values(pushed_artifact_id=pushed_artifact_id)
            )

    def get(self, model: str, version: int, reserved: bool = False) -> ModelVersion:
        """A published version (or, with ``reserved``, one whose push is under way)."""
        query = sa.select(t.model_versions).where(
            t.model_versions.c.model == model, t.model_versions.c.version == version
        )
        if not reserved:
            query = query.where(_PUBLISHED)
        with self.reader.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            known = [v.version for v in self.versions(model)]
            raise LookupError(f"model {model!r} has no version {version}; known versions: {known}")
        return _version(row)

    def models(self) -> list[str]:
        """Names of the models with at least one published version."""
        with self.reader.connect() as conn:
            query = sa.select(t.model_versions.c.model).where(_PUBLISHED).distinct()
            return sorted(conn.execute(query).scalars())

    def aliases(self, model: str) -> dict[str, int]:
        """Every alias of ``model`` and the version it points to."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(t.model_aliases.c.alias, t.model_aliases.c.version)
                .where(t.model_aliases.c.model == model)
                .order_by(t.model_aliases.c.alias)
            )
            return {alias: version for alias, version in rows}

    def versions(self, model: str) -> list[ModelVersion]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(t.model_versions)
                .where(t.model_versions.c.model == model, _PUBLISHED)
                .order_by(t.model_versions.c.version)
            ).all()
        return [_version(r) for r in rows]

    def resolve(self, model: str, alias: str) -> ModelVersion | None:
        """The version an alias points to, or None when the alias is not set."""
        with self.reader.connect() as conn:
            version = conn.execute(
                sa.select(t.model_aliases.c.version).where(
                    t.model_aliases.c.model == model, t.model_aliases.c.alias == alias
                )
            ).scalar()
        return None if version is None else self.get(model, version)

    def aliases_of(self, model: str, version: int) -> list[str]:
        with self.reader.connect() as conn:
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
        expected: Any = ANY_VERSION,
    ) -> bool:
        """Point ``alias`` at the published ``version`` and record who moved it and why.

        Returns False (and records nothing) when the alias already points there, so a
        re-run does not add a second history entry. With ``expected`` (a version or None
        for unset), the move happens only from there; otherwise AliasMovedError.
        """
        self.get(model, version)
        with self.engine.begin() as conn:
            return self._move(
                conn, model, alias, version, reason, actor, expected, run_id, execution_id
            )

    @staticmethod
    def _move(
        conn: sa.Connection,
        model: str,
        alias: str,
        version: int,
        reason: str,
        actor: str,
        expected: Any,
        run_id: str | None,
        execution_id: int | None,
    ) -> bool:
        where = (t.model_aliases.c.model == model, t.model_aliases.c.alias == alias)
        # Read inside the writing transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: the row
        # lock below), so two pushes cannot both see the old version.
        select = sa.select(t.model_aliases.c.version).where(*where)
        if conn.dialect.name == "postgresql":
            select = select.with_for_update()
        current = conn.execute(select).scalar()
        if current == version:
            return False
        if expected is not ANY_VERSION and current != expected:
            raise AliasMovedError(model, alias, expected, current)
        if current is None:
            conn.execute(t.model_aliases.insert().values(model=model, alias=alias, version=version))
        else:
            conn.execute(t.model_aliases.update().where(*where).values(version=version))
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
        with self.reader.connect() as conn:
            return [r._asdict() for r in conn.execute(query.order_by(t.alias_history.c.id))]
