"""Where artifacts, metadata and pushed models live, and where a run may read data from.

Resolution order for each location: an explicit argument, then the environment
(``MLRAIL_ARTIFACT_ROOT``, ``MLRAIL_METADATA_URL``, ``MLRAIL_SERVING_ROOT``,
``MLRAIL_LOG_ROOT``), then a folder under ``MLRAIL_HOME`` (default ``./.mlrail``).

``log_root`` holds what model servers write and pipelines read back: the request and
feedback logs (mlrail.data.serving_logs); a spec's ``serving.log_root`` replaces it.

``data_roots`` are the folders and URL prefixes a run's data source (the training DAG's
``data_source`` param) must lie in: an explicit list, then ``MLRAIL_DATA_ROOTS``
(comma-separated), then none, which means each spec's defaults (its project's ``data``
folder and the folder of its ``data.source``: mlrail.spec.PipelineSpec.data_roots).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def data_roots_of(value: str | Sequence[str] | None, where: str) -> tuple[str, ...]:
    """``data_roots`` as given (a list, or one comma-separated string); ``where`` names the
    setting in the error."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"{where}: expected a list of paths or URL prefixes, got {value!r}")
    return tuple(item.strip() for item in items if item.strip())


@dataclass(frozen=True)
class Settings:
    """Locations of the stores a pipeline writes to, the servers' logs, and the allowed
    data roots."""

    artifact_root: str
    metadata_url: str
    serving_root: str
    data_roots: tuple[str, ...] = ()  # empty: each spec's defaults (see the module docstring)
    log_root: str = ""  # from_env always sets it; empty (built directly): not configured

    @classmethod
    def from_env(
        cls,
        artifact_root: str | None = None,
        metadata_url: str | None = None,
        serving_root: str | None = None,
        data_roots: str | Sequence[str] | None = None,
        log_root: str | None = None,
    ) -> Settings:
        home = Path(os.environ.get("MLRAIL_HOME", ".mlrail")).resolve()
        return cls(
            artifact_root=artifact_root
            or os.environ.get("MLRAIL_ARTIFACT_ROOT")
            or str(home / "artifacts"),
            metadata_url=metadata_url
            or os.environ.get("MLRAIL_METADATA_URL")
            or f"sqlite:///{home / 'metadata.db'}",
            serving_root=serving_root
            or os.environ.get("MLRAIL_SERVING_ROOT")
            or str(home / "serving"),
            data_roots=data_roots_of(data_roots, "data_roots")
            or data_roots_of(os.environ.get("MLRAIL_DATA_ROOTS"), "MLRAIL_DATA_ROOTS"),
            log_root=log_root or os.environ.get("MLRAIL_LOG_ROOT") or str(home / "logs"),
        )
