"""Model registry: versions per model name, aliases (blessed, production, ...) with history.

Two rules keep it safe under clears, kills and concurrent runs:

* a version number is reserved by ``register`` and becomes visible (``get``, ``versions``,
  ``resolve``) only when ``publish`` says its files are in place, so a push killed halfway
  leaves no version that points at nothing;
* alias moves are compare-and-set: a caller says which version it expects the alias to
  point at (the one its evaluation compared against), and a move from anything else is
  refused, so re-running an old push never rolls back what is blessed now;
* a publish never moves an alias to a model trained before the one it points at (a
  re-evaluated old run would pass against the newer model on its own, older test split):
  only a person's explicit rollback (``rollback=True``) goes back.
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


class OlderVersionError(DeterministicError):
    """The move would point the alias at a model trained before the one it points at."""

    def __init__(self, model: str, alias: str, version: int, current: int):
        self.model, self.alias, self.version, self.current = model, alias, version, current
        super().__init__(
            f"v{version} of model {model!r} was trained before v{current}, which {alias!r} "
            "points at: a push never moves an alias to an older model; only a person's "
            "explicit rollback does"
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
        rollback: bool = False,
    ) -> bool:
        """Make ``version`` visible (its files are in place) and move ``alias`` to it from
        ``expected``, in one transaction; True if the alias moved.

        Raises AliasMovedError, publishing nothing, when the alias points at neither
        ``expected`` nor ``version``; OlderVersionError when ``version`` was trained before
        the version the alias points at, unless ``rollback`` (a person's explicit rollback,
        never a pipeline's push).
        """
        with self.engine.begin() as conn:
            moved = self._move(
                conn,
                model,
                alias,
                version,
                reason,
                actor,
                expected,
                run_id,
                execution_id,
                rollback,
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
        """A person's move of ``alias`` to the published ``version`` (any version, an older
        one included: a rollback by hand), recording who moved it and why. Pipelines move
        aliases with ``publish``, which never goes back.

        Returns False (and records nothing) when the alias already points there, so a
        re-run does not add a second history entry. With ``expected`` (a version or None
        for unset), the move happens only from there; otherwise AliasMovedError.
        """
        self.get(model, version)
        with self.engine.begin() as conn:
            return self._move(
                conn, model, alias, version, reason, actor, expected, run_id, execution_id, True
            )

    def trained_before(self, model: str, version: int, other: int) -> bool:
        """True when ``version``'s model was trained before ``other``'s (see _trained_before)."""
        with self.reader.connect() as conn:
            return _trained_before(conn, model, version, other)

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
        rollback: bool,
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
        if current is not None and not rollback and _trained_before(conn, model, version, current):
            raise OlderVersionError(model, alias, version, current)
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


def _training_order(conn: sa.Connection, model: str, version: int) -> tuple[int | None, int]:
    """(id of the execution that trained the version's model, the model artifact's id).

    "Older" is training order, not the version number: numbers are given at a model's
    first push, so a model trained before the blessed one whose push failed or was refused
    would get a higher number when an old run is cleared and pushed again. Training order
    comes from ids the one database hands out (an execution's id when it starts, so a run
    that began training on newer data counts as newer even if an older, longer training
    finished after it), never from the clocks of the hosts that ran the workers. A cached
    training reuses the model artifact, so the model keeps the age of its first training.
    """
    artifact = (
        sa.select(t.model_versions.c.model_artifact_id)
        .where(t.model_versions.c.model == model, t.model_versions.c.version == version)
        .scalar_subquery()
    )
    trained = conn.execute(
        sa.select(sa.func.min(t.events.c.execution_id)).where(
            t.events.c.artifact_id == artifact, t.events.c.kind == "output"
        )
    ).scalar()
    return trained, conn.execute(sa.select(artifact)).scalar()


def _trained_before(conn: sa.Connection, model: str, version: int, other: int) -> bool:
    (trained, artifact), (other_trained, other_artifact) = (
        _training_order(conn, model, version),
        _training_order(conn, model, other),
    )
    if trained is None or other_trained is None:
        # A model registered without a recorded training (an import): artifact ids are
        # handed out by the same database in the order the models were committed.
        return artifact < other_artifact
    return trained < other_trained
