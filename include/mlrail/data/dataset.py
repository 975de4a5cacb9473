"""Dataset versions, where a run may read data from, and table reading shared by ingest
and the data generator.

A file that cannot be read as what it claims to be (an empty CSV, a row with the wrong
number of fields, a corrupt or truncated Parquet file) is a DataError naming the file, and
the line for CSV: it fails the same way on every retry.
"""

from __future__ import annotations

import csv
import functools
import gzip
import lzma
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlrail.data.fingerprint import fingerprint_dataset, resolve_files
from mlrail.errors import DataError
from mlrail.store.metadata import Artifact, MetadataStore

BATCH_ROWS = 262_144
MAX_SOURCE_LENGTH = 4096  # longer than any path a filesystem or object store accepts


class SourceNotAllowed(DataError):
    """A run's data source lies outside the allowed data roots."""


def source_text(source: object) -> str:
    """``source`` if it can be a data source's path or URL; SourceNotAllowed otherwise."""
    if not isinstance(source, str) or not source.strip():
        raise SourceNotAllowed(f"data source {source!r}: expected a path or URL")
    if len(source) > MAX_SOURCE_LENGTH:
        raise SourceNotAllowed(
            f"data source {source[:80]!r}...: longer than {MAX_SOURCE_LENGTH} characters"
        )
    return source


def _local(path: str) -> str | None:
    """The local path of ``path`` (a path or a file:// URL), None for other URLs."""
    if path.startswith("file://"):
        return path[len("file://") :]
    return None if "://" in path else path


def _fixed_part(source: str) -> str:
    """The part of a source before any wildcard, cut back to a whole folder when there is
    one (``/data/taxi/*.csv`` -> ``/data/taxi``)."""
    fixed = re.split(r"[*?\[]", source, maxsplit=1)[0]
    return fixed if fixed == source else fixed.rsplit("/", 1)[0] or "/"


@dataclass(frozen=True)
class DataRoots:
    """Where a run's data source may be: local folders, compared after ``realpath`` (so
    neither ``..`` nor a symlink leads out of them), and URL prefixes (``gs://bucket/x``)."""

    roots: tuple[str, ...]

    def _local_roots(self) -> list[str]:
        return [os.path.realpath(p) for p in map(_local, self.roots) if p is not None]

    def _refuse(self, source: str, resolved: str) -> SourceNotAllowed:
        where = "is" if resolved == source else f"resolves to {resolved!r},"
        return SourceNotAllowed(
            f"data source {source!r} {where} outside the allowed data roots "
            f"{list(self.roots)}: put the data under one of them, or add its folder to "
            "data_roots (the extra of the mlrail_default connection, or MLRAIL_DATA_ROOTS)"
        )

    def check_file(self, path: str, source: str | None = None) -> None:
        """Refuse the local file or folder ``path`` unless its real path is in a root."""
        real = os.path.realpath(path)
        if not any(os.path.commonpath([real, root]) == root for root in self._local_roots()):
            raise self._refuse(source or path, real)

    def check(self, source: str) -> None:
        """Refuse ``source`` (before anything is listed or read) unless it lies in a root."""
        local = _local(source_text(source))
        if local is not None:
            self.check_file(_fixed_part(local), source)
            return
        segments = source.split("://", 1)[1].split("/")
        prefixes = [r.rstrip("/") for r in self.roots if _local(r) is None]
        if (
            "." in segments
            or ".." in segments
            or not any(source == p or source.startswith(p + "/") for p in prefixes)
        ):
            raise self._refuse(source, source)


def resolve_dataset(
    metadata: MetadataStore,
    source: str,
    fmt: str = "auto",
    content_hash: bool = False,
    roots: DataRoots | None = None,
) -> Artifact:
    """Register the current state of ``source`` as a Dataset artifact with a version number;
    with ``roots``, ``source`` and every file it matches must lie in them.

    The same files in the same state give the same artifact; any change (a new file, an
    appended row, a rewritten file) gives a new fingerprint and the next version.
    """
    check = None
    if roots is not None:
        roots.check(source)
        check = functools.partial(roots.check_file, source=source)
    fingerprint = fingerprint_dataset(source, content_hash=content_hash, check=check)
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
    raise DataError(
        f"{path}: cannot tell the format from the file name; set data.format to csv or "
        "parquet in the pipeline spec"
    )


def _unreadable(err: Exception) -> bool:
    """Whether ``err`` says the bytes are wrong (a retry reads the same bytes) rather than
    that reading them failed."""
    wrong = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, EOFError)
    if isinstance(err, (*wrong, zlib.error, lzma.LZMAError, gzip.BadGzipFile)):
        return True
    # pyarrow reports a corrupt page ("Corrupt snappy compressed data") as a bare OSError
    # without errno; an OS or network failure has an errno or a type of its own.
    return type(err) is OSError and err.errno is None


_RAGGED = re.compile(r"Expected (\d+) columns, got (\d+): ?(.*)", re.S)


def _ragged_line(path: str, expected: int) -> tuple[int, int] | None:
    """``(line, fields)`` of the first record of the CSV file at ``path`` that does not
    have ``expected`` fields (pyarrow's streaming reader does not know the line)."""
    try:
        with fsspec.open(
            path, "rt", compression="infer", newline="", encoding="utf-8", errors="replace"
        ) as handle:
            reader = csv.reader(handle)
            start = 1
            for record in reader:
                if record and len(record) != expected:
                    return start, len(record)
                start = reader.line_num + 1
    except (csv.Error, OSError):  # the line is a courtesy: pyarrow's message stands alone
        return None
    return None


def _read_error(path: str, kind: str, err: Exception) -> DataError:
    """The DataError for a file pyarrow could not read: which file, where and what to do."""
    text = str(err).strip()
    if kind == "parquet":
        return DataError(
            f"{path}: not a readable Parquet file ({text}): it is corrupt, truncated (still "
            "being written?) or not Parquet; rewrite it, or remove it from the data source"
        )
    if text == "Empty CSV file":
        return DataError(
            f"{path}: the CSV file is empty (not even a header line); write its header and "
            "rows, or remove it from the data source"
        )
    ragged = _RAGGED.search(text)
    if ragged is None:
        return DataError(f"{path}: not a readable CSV file: {text}")
    expected, got, row = int(ragged[1]), int(ragged[2]), ragged[3].strip()[:120]
    found = _ragged_line(path, expected)
    where = f"line {found[0]} has {found[1]} fields" if found else f"a row has {got} fields"
    return DataError(
        f"{path}: {where}, the header has {expected} (row: {row!r}); fix that row (a value "
        "holding a comma must be quoted)"
    )


def _csv_batches(handle, batch_rows: int, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    # An empty field is a missing value, in a text column too (as pandas reads it): an empty
    # label is then an unlabelled row, not a class named "".
    options = pacsv.ConvertOptions(include_columns=columns or [], strings_can_be_null=True)
    yield from pacsv.open_csv(
        handle, read_options=pacsv.ReadOptions(block_size=64 << 20), convert_options=options
    )


def _parquet_batches(
    handle, batch_rows: int, columns: list[str] | None
) -> Iterator[pa.RecordBatch | pa.Table]:
    # pre_buffer would read every row group ahead and keep it: 4x the memory at 10M rows.
    parquet = pq.ParquetFile(handle, pre_buffer=False, buffer_size=8 << 20)
    metadata = parquet.metadata
    groups = range(metadata.num_row_groups)
    if all(metadata.row_group(i).num_rows <= 4 * batch_rows for i in groups):
        for index in groups:
            yield parquet.read_row_group(index, columns=columns, use_threads=True)
    else:
        yield from parquet.iter_batches(batch_size=batch_rows, columns=columns)


def iter_batches(
    path: str, fmt: str = "auto", batch_rows: int = BATCH_ROWS, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch | pa.Table]:
    """Batches of one Parquet or CSV file, never the whole file at once; only ``columns``
    when given. A file that cannot be read is a DataError naming it (see the module
    docstring).

    Parquet is read a row group at a time with Arrow's threads decoding columns in
    parallel; a row group larger than ``4 * batch_rows`` is streamed in batches instead, so
    memory stays bounded whatever the writer chose.
    """
    kind = format_of(path, fmt)
    batches: Callable = _csv_batches if kind == "csv" else _parquet_batches
    try:
        with fsspec.open(path, "rb", compression="infer") as handle:
            yield from batches(handle, batch_rows, columns)
    except Exception as err:
        if not _unreadable(err):
            raise
        raise _read_error(path, kind, err) from err


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
