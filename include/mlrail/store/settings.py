"""Where artifacts, metadata and pushed models live.

Resolution order for each location: an explicit argument, then the environment
(``MLRAIL_ARTIFACT_ROOT``, ``MLRAIL_METADATA_URL``, ``MLRAIL_SERVING_ROOT``), then a
folder under ``MLRAIL_HOME`` (default ``./.mlrail``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Locations of the three stores a pipeline writes to."""

    artifact_root: str
    metadata_url: str
    serving_root: str

    @classmethod
    def from_env(
        cls,
        artifact_root: str | None = None,
        metadata_url: str | None = None,
        serving_root: str | None = None,
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
        )
