"""Ingest (ExampleGen's work): stream a data source into train, eval and test Parquet
files, every source column kept, each row in the split mlrail.data.split assigns it.

The source is read a batch at a time and each split is written as it goes, so memory
does not grow with the data (the ledger of a previous version holds 9 bytes a row).
The Examples keep every column of the source; the spec's feature selection applies to
statistics and the schema, and columns that are not features (ids, excluded columns) stay
for row identity, joins and slicing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlrail.data.dataset import iter_batches, iter_source
from mlrail.data.split import (
    RULE,
    SPLITS,
    Ledger,
    assign,
    identity_columns,
    identity_hashes,
    ledger_columns,
)
from mlrail.errors import DataError
from mlrail.spec.names import ALLOWED, unusable_names
from mlrail.store.files import split_path, split_uri

ROW_GROUP = 262_144


@dataclass(frozen=True)
class SplitRequest:
    """How the spec asks for rows to be split (``split:``)."""

    ratios: dict[str, int]
    key: list[str] = field(default_factory=list)
    seed: int = 0


@dataclass(frozen=True)
class PreviousVersion:
    """The Examples of the source's previous version, whose rows keep their splits."""

    uri: str
    columns: list[str]
    split: dict[str, Any]  # its Examples' "split" properties (empty: made before the rule)
    request: SplitRequest  # how it was asked to be split

    def ledger_columns(self, columns: list[str], request: SplitRequest) -> list[str] | None:
        """The columns to match this version's rows by, or None: see mlrail.data.split."""
        described = {
            "columns": self.columns,
            "split": self.split,
            "ratios": self.request.ratios,
            "key": self.request.key,
            "seed": self.request.seed,
        }
        asked = {"ratios": request.ratios, "seed": request.seed}
        return ledger_columns(described, columns, request.key, asked)


def select_features(
    names: list[str],
    source: str,
    label: str,
    include: list[str],
    exclude: list[str],
    key: list[str],
) -> list[str]:
    """The feature columns: ``include``, or every column but the label and ``exclude``;
    every column the spec names must exist."""
    named = {"label": [label], "features.include": include, "features.exclude": exclude}
    named["split.key"] = key
    for field_name, columns in named.items():
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(
                f"{source}: column(s) {missing} named in the pipeline spec ({field_name}) are "
                f"not in the data; the data has {names}"
            )
    return include or [c for c in names if c not in exclude and c != label]


def check_model_names(features: list[str], label: str, url: str) -> None:
    """Refuse features and a label whose names a model cannot take as inputs
    (mlrail.spec.names): they would fail at training or export, or be renamed in the
    SavedModel's signature."""
    bad = unusable_names([*features, label])
    if bad:
        raise DataError(
            f"{url}: column {bad[0]!r} cannot be a feature or label: expected {ALLOWED}; "
            "rename the column, or list it in data.features.exclude"
            + (f" (also {bad[1:6]})" if len(bad) > 1 else "")
        )


class _SplitWriters:
    """One Parquet writer per split, opened on the first batch with that batch's schema."""

    def __init__(self, out: Path):
        self.out, self.writers, self.rows = out, {}, dict.fromkeys(SPLITS, 0)
        self.schema: pa.Schema | None = None

    def write(self, table: pa.Table, codes: np.ndarray, url: str) -> None:
        if self.schema is None:
            self.schema = table.schema
            for name in SPLITS:
                path = split_path(self.out, name)
                path.parent.mkdir()
                self.writers[name] = pq.ParquetWriter(path, self.schema)
        try:
            table = table.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise DataError(
                f"{url}: column types {table.schema} do not match the first "
                f"batch's {self.schema}: {err}"
            ) from None
        for code, name in enumerate(SPLITS):
            part = table.filter(pa.array(codes == code))
            if part.num_rows:
                self.writers[name].write_table(part, row_group_size=ROW_GROUP)
                self.rows[name] += part.num_rows

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


def _check_labels(table: pa.Table, label: str, url: str, offset: int) -> None:
    empty = pc.is_null(table.column(label), nan_is_null=True)
    nulls = int(pc.sum(empty).as_py() or 0)
    if nulls:
        rows = (np.flatnonzero(empty.to_numpy(zero_copy_only=False)) + offset)[:5].tolist()
        raise DataError(
            f"{url}: label column {label!r} is empty in {nulls} row(s) (first at rows "
            f"{rows}); drop or label those rows"
        )


def read_ledger(examples_dir: str, columns: list[str]) -> Ledger:
    """The ledger of a previous Examples artifact, matching rows by ``columns``."""

    def parts() -> Iterator[tuple[int, pa.Table]]:
        for code, name in enumerate(SPLITS):
            for batch in iter_batches(split_uri(examples_dir, name), columns=columns):
                yield code, batch

    return Ledger.build(columns, parts())


@dataclass
class _Assigner:
    """Split codes of each batch: the hash, or the previous version's split where the
    ledger knows the row."""

    request: SplitRequest
    ledger: Ledger | None = None
    inherited: int = 0  # rows whose split is not what the hash alone would give
    matched: int = 0

    def codes(self, batch: pa.Table) -> np.ndarray:
        columns = identity_columns(batch.schema.names, self.request.key)
        fresh = assign(identity_hashes(batch, columns), self.request.ratios, self.request.seed)
        if self.ledger is None:
            return fresh
        found, previous = self.ledger.lookup(batch)
        codes = np.where(found, previous, fresh)
        self.matched += int(found.sum())
        self.inherited += int((codes != fresh).sum())
        return codes


def write_examples(
    source: str,
    fmt: str,
    out: Path,
    label: str,
    include: list[str],
    exclude: list[str],
    request: SplitRequest,
    previous: PreviousVersion | None = None,
) -> dict[str, Any]:
    """Write the Examples of ``source`` into ``out`` (mlrail.store.files.split_path) and return
    their properties; rows ``previous`` had keep their split."""
    writers = _SplitWriters(out)
    assigner = _Assigner(request)
    columns, features, offsets = None, None, {}
    try:
        for url, batch in iter_source(source, fmt):
            if columns is None:
                columns = batch.schema.names
                features = select_features(columns, source, label, include, exclude, request.key)
                check_model_names(features, label, url)
                matching = previous.ledger_columns(columns, request) if previous else None
                if matching:
                    assigner.ledger = read_ledger(previous.uri, matching)
            offset = offsets.get(url, 0)
            _check_labels(batch, label, url, offset)
            offsets[url] = offset + batch.num_rows
            writers.write(batch, assigner.codes(batch), url)
    finally:
        writers.close()
    if columns is None:
        raise DataError(f"{source}: the data source has no rows")
    return {
        "splits": writers.rows,
        "columns": columns,
        "features": features,
        "label": label,
        "split": {
            "rule": RULE,
            "identity": "key" if request.key else "row",
            "inherited": assigner.inherited > 0,
            "ledger_columns": assigner.ledger.columns if assigner.ledger else None,
            "ledger_matched": assigner.matched,
            "inherited_rows": assigner.inherited,
        },
    }
