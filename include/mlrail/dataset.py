"""Dataset versions and table reading shared by ingest and the data generator."""

from __future__ import annotations

from pathlib import PurePosixPath

import fsspec
import pandas as pd

from mlrail.fingerprint import fingerprint_dataset, resolve_files
from mlrail.metadata import Artifact, MetadataStore


def resolve_dataset(
    metadata: MetadataStore, source: str, fmt: str = "auto", content_hash: bool = False
) -> Artifact:
    """Register the current state of ``source`` as a Dataset artifact with a version number.

    The same files in the same state give the same artifact; any change (a new file, an
    appended row, a rewritten file) gives a new fingerprint and the next version.
    """
    fingerprint = fingerprint_dataset(source, content_hash=content_hash)
    known = metadata.artifacts_at(source, type="Dataset")
    for artifact in known:
        if artifact.fingerprint == fingerprint.fingerprint:
            return artifact
    return metadata.put_artifact(
        type="Dataset",
        uri=source,
        fingerprint=fingerprint.fingerprint,
        properties={"version": len(known) + 1, "format": fmt, **fingerprint.describe()},
        external=True,
    )


def _format_of(path: str, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".gz"):
        return "csv"
    raise ValueError(
        f"{path}: cannot tell the format from the extension {suffix!r}; set data.format to "
        "csv or parquet in the pipeline spec"
    )


def read_table(source: str, fmt: str = "auto") -> pd.DataFrame:
    """Read every file of ``source`` into one frame; files must share their columns."""
    fs, paths = resolve_files(source)
    frames = []
    for path in paths:
        url = fs.unstrip_protocol(path)
        kind = _format_of(path, fmt)
        with fsspec.open(url, "rb") as handle:
            frame = pd.read_parquet(handle) if kind == "parquet" else pd.read_csv(handle)
        if frames and list(frame.columns) != list(frames[0].columns):
            raise ValueError(
                f"{url}: columns {list(frame.columns)} differ from the first file's "
                f"{list(frames[0].columns)}; every file of a data source needs the same columns"
            )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
