"""Row hashes over Arrow data, independent of how the data was batched or typed.

Numbers hash by their float64 value (so 3 and 3.0, or an int column that gained a null in
one batch, hash alike) and strings by their UTF-8 text; nulls hash to a fixed value. Used
for the deterministic train/eval/test split and for counting duplicate rows.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NULL_HASH = np.uint64(0x9E3779B97F4A7C15)


def is_numeric(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_decimal(arrow_type)
    )


def numeric_hashes(column: pa.Array) -> np.ndarray:
    values = column.to_numpy(zero_copy_only=False).astype(np.float64)
    hashes = pd.util.hash_array(values)
    if column.null_count:
        hashes[~column.is_valid().to_numpy(zero_copy_only=False)] = NULL_HASH
    return hashes


def string_hashes(dictionary_hashes: np.ndarray, indices: pa.Array) -> np.ndarray:
    """Per-row hashes of a dictionary-encoded column from the hashes of its dictionary."""
    if indices.null_count:
        valid = indices.is_valid().to_numpy(zero_copy_only=False)
        rows = np.full(len(indices), NULL_HASH, dtype=np.uint64)
        rows[valid] = dictionary_hashes[
            indices.to_numpy(zero_copy_only=False)[valid].astype(np.int64)
        ]
        return rows
    return dictionary_hashes[indices.to_numpy(zero_copy_only=False)]


def column_hashes(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if is_numeric(column.type):
        return numeric_hashes(column)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    encoded = pc.dictionary_encode(column)
    dictionary = pd.util.hash_array(encoded.dictionary.to_numpy(zero_copy_only=False))
    return string_hashes(dictionary, encoded.indices)


def combine(per_column: Iterable[np.ndarray], rows: int) -> np.ndarray:
    """One hash per row from the columns' hashes, order-sensitive."""
    combined = np.zeros(rows, dtype=np.uint64)
    multiplier = np.uint64(1000003)
    with np.errstate(over="ignore"):
        for hashes in per_column:
            combined = (combined ^ hashes) * multiplier
            multiplier += np.uint64(82520)
    return combined


def row_hashes(table: pa.Table | pa.RecordBatch, columns: list[str] | None = None) -> np.ndarray:
    names = columns or table.schema.names
    return combine((column_hashes(table.column(name)) for name in names), table.num_rows)
