"""Dataset versions and table reading shared by ingest and the data generator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlrail.data.fingerprint import fingerprint_dataset, resolve_files
from mlrail.errors import DataError
from mlrail.store.metadata import Artifact, MetadataStore

BATCH_ROWS = 262_144


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


def format_of(path: str, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    name = PurePosixPath(path).name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise ValueError(
        f"{path}: cannot tell the format from the file name; set data.format to csv or "
        "parquet in the pipeline spec"
    )


def iter_batches(
    path: str, fmt: str = "auto", batch_rows: int = BATCH_ROWS, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch | pa.Table]:
    """Batches of one Parquet or CSV file, never the whole file at once; only ``columns``
    when given.

    Parquet is read a row group at a time with Arrow's threads decoding columns in
    parallel; a row group larger than ``4 * batch_rows`` is streamed in batches instead, so
    memory stays bounded whatever the writer chose.
    """
    with fsspec.open(path, "rb", compression="infer") as handle:
        if format_of(path, fmt) == "csv":
            # An empty field is a missing value, in a text column too (as pandas reads it):
            # an empty label is then an unlabelled row, not a class named "".
            options = pacsv.ConvertOptions(
                include_columns=columns or [], strings_can_be_null=True
            )
            yield from pacsv.open_csv(
                handle,
                read_options=pacsv.ReadOptions(block_size=64 << 20),
                convert_options=options,
            )
            return
        # pre_buffer would read every row group ahead and keep it: 4x the memory at 10M rows.
        parquet = pq.ParquetFile(handle, pre_buffer=False, buffer_size=8 << 20)
        metadata = parquet.metadata
        if all(
            metadata.row_group(i).num_rows <= 4 * batch_rows for i in range(metadata.num_row_groups)
        ):
            for index in range(metadata.num_row_groups):
                yield parquet.read_row_group(index, columns=columns, use_threads=True)
        else:
            yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)


def iter_source(source: str, fmt: str = "auto") -> Iterator[tuple[str, pa.Table]]:
    """``(file URL, batch)`` for every batch of every file of a data source; files must
    share their columns."""
    fs, paths = resolve_files(source)
    first: list[str] | None = None
    for path in paths:
        url = fs.unstrip_protocol(path)
        for batch in iter_batches(url, fmt):
            names = batch.schema.names
            if first is None:
                first = names
            elif names != first:
                raise DataError(
                    f"{url}: columns {names} differ from the first file's {first}; every "
                    "file of a data source needs the same columns"
                )
            yield url, batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
