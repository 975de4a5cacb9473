"""Metadata store: artifacts, executions, events and contexts (the lineage graph)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mlrail.store import tables as t


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Artifact:
    id: int
    type: str
    uri: str
    fingerprint: str
    properties: dict[str, Any]
    external: bool
    created_at: datetime

    def ref(self) -> dict[str, Any]:
        """The small JSON form operators return through XCom."""
        return {"id": self.id, "type": self.type, "uri": self.uri}


@dataclass(frozen=True)
class Execution:
    id: int
    component: str
    code_version: str
    cache_key: str
    parameters: dict[str, Any]
    state: str
    cached_from: int | None
    result: dict[str, Any] | None
    error: str | None
    pipeline: str | None
    dag_id: str | None
    run_id: str | None
    task_id: str | None
    try_number: int | None
    started_at: datetime
    finished_at: datetime | None
    owner: str | None = None
    lease_expires_at: datetime | None = None


@dataclass(frozen=True)
class Event:
    execution_id: int
    artifact_id: int
    kind: str
    name: str


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # Autocommit at the driver level so SQLAlchemy's "begin" hook below decides the lock.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn) -> None:
    # Writers take the write lock at BEGIN: a deferred transaction that later upgrades to a
    # write can fail with "database is locked" regardless of busy_timeout when tasks run in
    # parallel; an immediate one just waits its turn. Readers (``MetadataStore.reader``)
    # begin deferred: under WAL they read a snapshot and never wait for a writer.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# Execution option marking a connection that only reads.
READ_ONLY = "mlrail_read_only"


def _missing_sqlite_file(url: str) -> bool:
    if not url.startswith("sqlite"):
        return False
    path = sa.engine.make_url(url).database
    return bool(path) and path != ":memory:" and not Path(path).exists()


def _read_only_sqlite(url: str) -> str:
    """``url`` opened by SQLite itself read-only (``mode=ro``): the file is never created,
    migrated or written, whatever a caller runs on it."""
    path = sa.engine.make_url(url).database
    if not path or path == ":memory:":
        return url
    return f"sqlite:///file:{Path(path).resolve().as_posix()}?mode=ro&uri=true"


def create_engine(url: str, read_only: bool = False) -> sa.Engine:
    """Engine for ``url`` with SQLite tuned for several concurrent task processes; with
    ``read_only``, SQLite opens the file read-only (other databases: the caller only reads)."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if read_only:
            url = _read_only_sqlite(url)
        elif path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class MetadataStore:
    """Lineage graph in SQLite (default) or PostgreSQL.

    The schema is migrated on open, unless ``read_only`` (the plugin's pages, the model
    server): then it is only checked, SQLite opens the file read-only, and no statement
    takes the write lock, so a page never waits behind a training run that is writing.
    """

    def __init__(self, url: str, read_only: bool = False):
        self.url = url
        if read_only and _missing_sqlite_file(url):  # SQLite would create an empty one
            raise LookupError(
                "no mlrail metadata recorded yet: no pipeline has run against this store"
            )
        self.engine = create_engine(url, read_only)
        self.reader = self.engine.execution_options(**{READ_ONLY: True})
        try:
            if read_only:
                t.check_version(self.reader, url)
            else:
                t.migrate(self.engine, self.reader)
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    # artifacts ----------------------------------------------------------------------------

    def put_artifact(
        self,
        type: str,
        uri: str,
        fingerprint: str,
        properties: dict[str, Any] | None = None,
        external: bool = False,
    ) -> Artifact:
        """Register an artifact, or return the existing one with the same URI and fingerprint."""
        query = sa.select(t.artifacts).where(
            t.artifacts.c.uri == uri, t.artifacts.c.fingerprint == fingerprint
        )
        insert = t.artifacts.insert().values(
            type=type,
            uri=uri,
            fingerprint=fingerprint,
            properties=properties or {},
            external=external,
            created_at=_now(),
        )
        return Artifact(**self._get_or_create(query, insert)._asdict())

    def _get_or_create(self, query: sa.Select, insert: sa.Insert) -> sa.Row:
        """The row ``query`` finds, inserting it first if there is none. Two processes
        may insert at once (PostgreSQL does not serialise them as SQLite does): the unique
        constraint refuses the second, which then finds the first one's row."""
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    row = conn.execute(query).first()
                    if row is None:
                        conn.execute(insert)
                        row = conn.execute(query).one()
                    return row
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get_artifact(self, artifact_id: int) -> Artifact:
        with self.reader.connect() as conn:
            row = conn.execute(
                sa.select(t.artifacts).where(t.artifacts.c.id == artifact_id)
            ).first()
        if row is None:
            raise LookupError(f"no artifact with id {artifact_id} in {self.url}")
        return Artifact(**row._asdict())

    def artifacts_at(self, uri: str, type: str | None = None) -> list[Artifact]:
        """Every registered version of the artifact at ``uri`` (for datasets: each version)."""
        query = sa.select(t.artifacts).where(t.artifacts.c.uri == uri)
        if type:
            query = query.where(t.artifacts.c.type == type)
        with self.reader.connect() as conn:
            rows = conn.execute(query.order_by(t.artifacts.c.id)).all()
        return [Artifact(**r._asdict()) for r in rows]

    # executions ---------------------------------------------------------------------------

    def start_execution(self, **fields: Any) -> int:
        """Insert an execution; ``fields`` are column values (component, cache_key, ...)."""
        fields.setdefault("state", "running")
        fields.setdefault("started_at", _now())
        with self.engine.begin() as conn:
            return conn.execute(t.executions.insert().values(**fields)).inserted_primary_key[0]

    def finish_execution(
        self, execution_id: int, state: str, result: dict | None = None, error: str | None = None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.executions.update()
                .where(t.executions.c.id == execution_id)
                .values(state=state, result=result, error=error, finished_at=_now())
            )

    def running_with_key(self, cache_key: str) -> Execution | None:
        """The execution computing ``cache_key`` now, if any (there is at most one)."""
        found = self.executions(cache_key=cache_key, state="running")
        return found[0] if found else None

    def renew_lease(self, execution_id: int, until: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.executions.update()
                .where(t.executions.c.id == execution_id, t.executions.c.state == "running")
                .values(lease_expires_at=until)
            )

    def interrupt(self, execution_id: int, reason: str) -> bool:
        """Mark a running execution whose owner is gone ``interrupted``; False if it was no
        longer running (it finished, or someone else marked it first)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                t.executions.update()
                .where(t.executions.c.id == execution_id, t.executions.c.state == "running")
                .values(state="interrupted", error=f"interrupted: {reason}", finished_at=_now())
            )
        return done.rowcount == 1

    def get_execution(self, execution_id: int) -> Execution:
        with self.reader.connect() as conn:
            row = conn.execute(
                sa.select(t.executions).where(t.executions.c.id == execution_id)
            ).first()
        if row is None:
            raise LookupError(f"no execution with id {execution_id} in {self.url}")
        return Execution(**row._asdict())

    def executions(self, **where: Any) -> list[Execution]:
        """Executions whose columns equal ``where`` (e.g. ``run_id=...``), oldest first."""
        query = sa.select(t.executions).order_by(t.executions.c.id)
        for column, value in where.items():
            query = query.where(t.executions.c[column] == value)
        with self.reader.connect() as conn:
            return [Execution(**r._asdict()) for r in conn.execute(query)]

    def completed_with_key(self, cache_key: str) -> list[Execution]:
        """Completed (not cached) executions with ``cache_key``, newest first."""
        query = (
            sa.select(t.executions)
            .where(t.executions.c.cache_key == cache_key, t.executions.c.state == "complete")
            .order_by(t.executions.c.id.desc())
        )
        with self.reader.connect() as conn:
            return [Execution(**r._asdict()) for r in conn.execute(query)]

    # events -------------------------------------------------------------------------------

    def add_events(self, execution_id: int, kind: str, artifacts: dict[str, Artifact]) -> None:
        if not artifacts:
            return
        with self.engine.begin() as conn:
            conn.execute(
                t.events.insert(),
                [
                    {"execution_id": execution_id, "artifact_id": a.id, "kind": kind, "name": n}
                    for n, a in artifacts.items()
                ],
            )

    def events_of(self, execution_id: int) -> list[Event]:
        query = sa.select(t.events).where(t.events.c.execution_id == execution_id)
        with self.reader.connect() as conn:
            return [
                Event(r.execution_id, r.artifact_id, r.kind, r.name)
                for r in conn.execute(query.order_by(t.events.c.id))
            ]

    def events_for_artifact(self, artifact_id: int, kind: str) -> list[Event]:
        query = sa.select(t.events).where(
            t.events.c.artifact_id == artifact_id, t.events.c.kind == kind
        )
        with self.reader.connect() as conn:
            return [
                Event(r.execution_id, r.artifact_id, r.kind, r.name)
                for r in conn.execute(query.order_by(t.events.c.id))
            ]

    def io_of(self, execution_id: int, kind: str) -> dict[str, Artifact]:
        """Input or output artifacts of an execution, by slot name."""
        return {
            e.name: self.get_artifact(e.artifact_id)
            for e in self.events_of(execution_id)
            if e.kind == kind
        }

    def producer_of(self, artifact_id: int) -> Execution | None:
        """The execution that wrote the artifact (not a later cache hit that reused it)."""
        for event in self.events_for_artifact(artifact_id, "output"):
            execution = self.get_execution(event.execution_id)
            if execution.state == "complete":
                return execution
        return None

    # contexts -----------------------------------------------------------------------------

    def put_context(self, type: str, name: str, properties: dict | None = None) -> int:
        query = sa.select(t.contexts).where(t.contexts.c.type == type, t.contexts.c.name == name)
        insert = t.contexts.insert().values(
            type=type, name=name, properties=properties or {}, created_at=_now()
        )
        return self._get_or_create(query, insert).id

    def associate(self, context_ids: list[int], execution_id: int) -> None:
        with self.engine.begin() as conn:
            for context_id in context_ids:
                conn.execute(
                    t.associations.insert().values(context_id=context_id, execution_id=execution_id)
                )

    def contexts_of(self, execution_id: int) -> list[dict[str, Any]]:
        query = (
            sa.select(t.contexts)
            .join(t.associations, t.associations.c.context_id == t.contexts.c.id)
            .where(t.associations.c.execution_id == execution_id)
            .order_by(t.contexts.c.id)
        )
        with self.reader.connect() as conn:
            return [r._asdict() for r in conn.execute(query)]

    def executions_in_context(self, type: str, name: str) -> list[Execution]:
        query = (
            sa.select(t.executions)
            .join(t.associations, t.associations.c.execution_id == t.executions.c.id)
            .join(t.contexts, t.contexts.c.id == t.associations.c.context_id)
            .where(t.contexts.c.type == type, t.contexts.c.name == name)
            .order_by(t.executions.c.id)
        )
        with self.reader.connect() as conn:
            return [Execution(**r._asdict()) for r in conn.execute(query)]

    def contexts(self, type: str, name_prefix: str = "") -> list[dict[str, Any]]:
        """Contexts of ``type`` whose name starts with ``name_prefix``, newest first."""
        query = (
            sa.select(t.contexts)
            .where(t.contexts.c.type == type, t.contexts.c.name.startswith(name_prefix))
            .order_by(t.contexts.c.id.desc())
        )
        with self.reader.connect() as conn:
            return [r._asdict() for r in conn.execute(query)]

    def latest_context(self, type: str, name_prefix: str = "") -> str | None:
        query = (
            sa.select(t.contexts.c.name)
            .where(t.contexts.c.type == type, t.contexts.c.name.startswith(name_prefix))
            .order_by(t.contexts.c.id.desc())
            .limit(1)
        )
        with self.reader.connect() as conn:
            return conn.execute(query).scalar()
