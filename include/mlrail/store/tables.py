"""Metadata schema (SQLAlchemy Core) and its migrations.

The schema version is stored in ``mlrail_schema``; ``MIGRATIONS[i]`` brings a database
from version ``i`` to ``i + 1``. Add a migration at the end, never edit a released one.
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

V1_TABLES = [
    artifacts,
    executions,
    events,
    contexts,
    associations,
    model_versions,
    model_aliases,
    alias_history,
]


def _v0_to_v1(conn: sa.Connection) -> None:
    metadata.create_all(conn, tables=V1_TABLES, checkfirst=True)


MIGRATIONS: list[Callable[[sa.Connection], None]] = [_v0_to_v1]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(engine: sa.Engine) -> int:
    """Create or upgrade the schema to SCHEMA_VERSION; return the version found before."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Serialise concurrent first starts (several tasks opening a new database).
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(74237001)"))
        metadata.create_all(conn, tables=[schema_version], checkfirst=True)
        found = conn.execute(sa.select(schema_version.c.version)).scalar()
        current = found or 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"metadata database schema is version {current}, newer than this mlrail "
                f"({SCHEMA_VERSION}); upgrade mlrail instead of pointing an old one at it"
            )
        for step in MIGRATIONS[current:]:
            step(conn)
        if found is None:
            conn.execute(schema_version.insert().values(id=1, version=SCHEMA_VERSION))
        elif current != SCHEMA_VERSION:
            conn.execute(schema_version.update().values(version=SCHEMA_VERSION))
        return current
