"""Metadata schema (SQLAlchemy Core) and its migrations.

The schema version is stored in ``mlrail_schema``. A new database is created from the
tables below at the current version; an older one runs ``UPGRADES`` from its version on.
Add an upgrade at the end (and its columns to the tables), never edit a released one.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

metadata = sa.MetaData()

schema_version = sa.Table(
    "mlrail_schema",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(64), nullable=False, index=True),
    sa.Column("uri", sa.String(2048), nullable=False),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("properties", sa.JSON, nullable=False, default=dict),
    # External artifacts (a user's dataset) are not written by mlrail: no commit marker.
    sa.Column("external", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("uri", "fingerprint", name="uq_artifact_uri_fingerprint"),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("component", sa.String(128), nullable=False, index=True),
    sa.Column("code_version", sa.String(64), nullable=False),
    sa.Column("cache_key", sa.String(64), nullable=False, index=True),
    sa.Column("parameters", sa.JSON, nullable=False, default=dict),
    # running -> complete | failed; a cache hit is recorded directly as cached.
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("cached_from", sa.Integer, sa.ForeignKey("executions.id"), nullable=True),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("pipeline", sa.String(256), nullable=True),
    sa.Column("dag_id", sa.String(256), nullable=True),
    sa.Column("run_id", sa.String(256), nullable=True),
    sa.Column("task_id", sa.String(256), nullable=True),
    sa.Column("try_number", sa.Integer, nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    # Who computes a running execution (host:pid:start time, or the remote job) and until
    # when its lease holds without a heartbeat (schema v2).
    sa.Column("owner", sa.String(256), nullable=True),
    sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
)

# One computation per cache key: a second running execution with the same key cannot be
# inserted, so concurrent runs wait for the first instead of computing it again.
running_key_index = sa.Index(
    "uq_running_cache_key",
    executions.c.cache_key,
    unique=True,
    sqlite_where=executions.c.state == "running",
    postgresql_where=executions.c.state == "running",
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=False),
    sa.Column("artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # input | output
    sa.Column("name", sa.String(128), nullable=False),
    sa.UniqueConstraint("execution_id", "kind", "name", name="uq_event_slot"),
    sa.Index("ix_events_artifact", "artifact_id", "kind"),
)

contexts = sa.Table(
    "contexts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(64), nullable=False),  # pipeline | pipeline_version | dag_run
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("properties", sa.JSON, nullable=False, default=dict),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("type", "name", name="uq_context"),
)

associations = sa.Table(
    "associations",
    metadata,
    sa.Column("context_id", sa.Integer, sa.ForeignKey("contexts.id"), primary_key=True),
    sa.Column("execution_id", sa.Integer, sa.ForeignKey("executions.id"), primary_key=True),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("model_artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("pushed_artifact_id", sa.Integer, sa.ForeignKey("artifacts.id"), nullable=True),
    sa.Column("execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Set once the version's files are in the serving folder; unset versions are reserved
    # numbers of a push still under way (or killed), invisible to readers (schema v2).
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("model", "version", name="uq_model_version"),
    sa.UniqueConstraint("model", "model_artifact_id", name="uq_model_artifact"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model", sa.String(256), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

alias_history = sa.Table(
    "alias_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.String(256), nullable=False, index=True),
    sa.Column("alias", sa.String(64), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("run_id", sa.String(256), nullable=True),
    sa.Column("execution_id", sa.Integer, sa.ForeignKey("executions.id"), nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


def _v1_to_v2(conn: sa.Connection) -> None:
    """Leases on running executions, and versions visible only once their files are pushed."""
    stamp = sa.DateTime(timezone=True).compile(dialect=conn.dialect)
    for table, column, kind in (
        ("executions", "owner", "VARCHAR(256)"),
        ("executions", "lease_expires_at", stamp),
        ("model_versions", "published_at", stamp),
    ):
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
    # Versions pushed before leases existed are complete: their push recorded its files.
    conn.execute(
        sa.text(
            "UPDATE model_versions SET published_at = created_at "
            "WHERE pushed_artifact_id IS NOT NULL"
        )
    )
    running_key_index.create(conn)


# UPGRADES[i] brings a database from version i + 1 to i + 2.
UPGRADES: list[Callable[[sa.Connection], None]] = [_v1_to_v2]
SCHEMA_VERSION = 1 + len(UPGRADES)


def check_version(engine: sa.Engine, url: str) -> None:
    """Raise unless the database holds this mlrail's schema (read-only users never migrate)."""
    with engine.connect() as conn:
        found = _found_version(conn)
    if found is None:
        raise LookupError("no mlrail metadata recorded yet: no pipeline has run against this store")
    if found != SCHEMA_VERSION:
        raise RuntimeError(
            f"the metadata database {url} has schema version {found}, this mlrail reads "
            f"{SCHEMA_VERSION}; run any pipeline task once to migrate it"
        )


def _found_version(conn: sa.Connection) -> int | None:
    if not sa.inspect(conn).has_table(schema_version.name):
        return None
    return conn.execute(sa.select(schema_version.c.version)).scalar()


def migrate(engine: sa.Engine, reader: sa.Engine | None = None) -> int:
    """Create or upgrade the schema to SCHEMA_VERSION; return the version found before.

    A database already at SCHEMA_VERSION is only read (through ``reader`` if given), so
    opening the store does not queue behind a writer. A new database gets the current
    tables at once; an older one runs the migrations after its version.
    """
    with (reader or engine).connect() as conn:
        if _found_version(conn) == SCHEMA_VERSION:
            return SCHEMA_VERSION
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Serialise concurrent first starts (several tasks opening a new database).
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(74237001)"))
        found = _found_version(conn)
        current = found or 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"metadata database schema is version {current}, newer than this mlrail "
                f"({SCHEMA_VERSION}); upgrade mlrail instead of pointing an old one at it"
            )
        if not found:  # a new database (or one stamped 0, which never held tables)
            metadata.create_all(conn, checkfirst=True)
            conn.execute(sa.delete(schema_version))
            conn.execute(schema_version.insert().values(id=1, version=SCHEMA_VERSION))
            return current
        for step in UPGRADES[current - 1 :]:
            step(conn)
        if current != SCHEMA_VERSION:
            conn.execute(schema_version.update().values(version=SCHEMA_VERSION))
        return current
