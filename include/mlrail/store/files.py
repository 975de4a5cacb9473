"""The files inside each artifact type, named once: every writer and reader of an
artifact's content goes through these accessors, so a file name or a split's layout is
never typed twice.

    Examples           <split>/data.parquet (one per split: train, eval, test)
    DatasetStatistics  statistics.json
    Schema             schema.json
    Anomalies          anomalies.json (and gx_docs/)
    Hyperparameters    hyperparameters.json
    Model              saved_model/
    ModelEvaluation    metrics.json
    ModelBlessing      blessing.json
    InfraBlessing      blessing.json, measurements.json, report.html
    PushedModel        push.json
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlrail.store.artifacts import ArtifactStore
    from mlrail.store.metadata import Artifact

SPLIT_DATA = "data.parquet"


def split_uri(examples_uri: str, split: str) -> str:
    """Where an Examples artifact keeps one split's rows (any fsspec URL)."""
    return f"{examples_uri}/{split}/{SPLIT_DATA}"


def split_path(examples: Path, split: str) -> Path:
    """The same, in a local copy of the artifact (ArtifactStore.read)."""
    return examples / split / SPLIT_DATA


@dataclass(frozen=True)
class File:
    """One named file of an artifact."""

    name: str

    def uri(self, artifact_uri: str) -> str:
        return f"{artifact_uri}/{self.name}"

    def path(self, folder: Path) -> Path:
        """In an output being written, or a local copy of the artifact."""
        return folder / self.name

    def write_text(self, folder: Path, text: str) -> None:
        (folder / self.name).write_text(text)


@dataclass(frozen=True)
class JsonFile(File):
    """A JSON document of an artifact."""

    def read(self, artifacts: ArtifactStore, artifact: Artifact) -> Any:
        return artifacts.read_json(artifact.uri, self.name)

    def write(self, folder: Path, document: Any, indent: int | None = 2, **dump: Any) -> None:
        self.write_text(folder, json.dumps(document, indent=indent, **dump))


STATISTICS = JsonFile("statistics.json")
SCHEMA = JsonFile("schema.json")
ANOMALIES = JsonFile("anomalies.json")
HYPERPARAMETERS = JsonFile("hyperparameters.json")
EVALUATION_METRICS = JsonFile("metrics.json")  # a ModelEvaluation's metrics per model
BLESSING = JsonFile("blessing.json")  # a ModelBlessing's or an InfraBlessing's verdict
MEASUREMENTS = JsonFile("measurements.json")
REPORT = File("report.html")
PUSH = JsonFile("push.json")
