"""Metadata store and model registry (SQLAlchemy; SQLite by default, PostgreSQL by URL)."""

from mlrail.metadata.registry import ModelRegistry, ModelVersion
from mlrail.metadata.store import Artifact, Event, Execution, MetadataStore

__all__ = ["Artifact", "Event", "Execution", "MetadataStore", "ModelRegistry", "ModelVersion"]
