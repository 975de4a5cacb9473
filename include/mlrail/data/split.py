"""Which split a row belongs to, so that no row ever moves to another split.

The rule (``RULE``):

* a row's identity is a hash of its values in the identity columns: ``split.key`` when
  the spec names one, else every column of the data. Each column's values are hashed with
  the column's name and the results are added up, so the order of the columns does not
  matter; numbers hash by value (3 and 3.0 alike), text by its UTF-8, nulls alike;
* the identity, mixed with ``split.seed``, picks a bucket of 100; the percentages cut the
  buckets into train, eval and test;
* a new version of the data inherits the split of every row the previous version had
  (the ledger). Without a key, a row of the new version is matched to the previous one by
  the columns both versions have; so adding, removing or reordering columns, or
  appending rows, moves no existing row. Rows that only a removed column told apart, and
  that sat in different splits, are one row now: it goes to test before eval before
  train, so no evaluated row ends up in training. New rows get the hash above.

Changing ``split.key``, ``split.seed`` or the percentages asks for a new split: the ledger
is not used then. The ledger is only read when it can change an assignment: when the
columns changed, when the previous version inherited rows itself, or when it was split by
an older rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from mlrail.data.hashing import column_hashes

SPLITS = ("train", "eval", "test")  # codes 0, 1, 2: a larger code wins a conflict
RULE = 2  # 1: the whole row in file order (mlrail before the rule had a number)


def _mix(values: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 finalizer over hash ^ seed."""
    with np.errstate(over="ignore"):
        z = values ^ np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _name_salt(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def identity_hashes(table: pa.Table | pa.RecordBatch, columns: Iterable[str]) -> np.ndarray:
    """One 64-bit identity per row from ``columns`` (any order gives the same result)."""
    total = np.zeros(table.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in sorted(set(columns)):
            total += _mix(column_hashes(table.column(name)), _name_salt(name))
    return total


def assign(hashes: np.ndarray, ratios: dict[str, int], seed: int = 0) -> np.ndarray:
    """Split codes (indexes into SPLITS) of row identities; ratios are percentages."""
    bucket = _mix(hashes, seed) % np.uint64(100)
    train, evaluation = ratios["train"], ratios["eval"]
    return np.where(bucket < train, 0, np.where(bucket < train + evaluation, 1, 2)).astype(np.uint8)


def identity_columns(columns: list[str], key: list[str]) -> list[str]:
    return list(key) if key else list(columns)


@dataclass(frozen=True)
class Ledger:
    """The split of every row of a previous version, by its identity in ``columns``."""

    columns: list[str]
    hashes: np.ndarray  # sorted, unique
    codes: np.ndarray  # split code per hash

    @classmethod
    def build(cls, columns: list[str], parts: Iterable[tuple[int, pa.Table]]) -> Ledger:
        """From ``(split code, batch)`` pairs of the previous version's Examples."""
        hashes, codes = [np.empty(0, np.uint64)], [np.empty(0, np.uint8)]
        for code, batch in parts:
            hashes.append(identity_hashes(batch, columns))
            codes.append(np.full(batch.num_rows, code, np.uint8))
        hashes, codes = np.concatenate(hashes), np.concatenate(codes)
        # Sort by identity, the winning split last in each run of equal identities.
        order = np.lexsort((codes, hashes))
        hashes, codes = hashes[order], codes[order]
        last = np.append(hashes[1:] != hashes[:-1], True) if hashes.size else hashes.astype(bool)
        return cls(list(columns), hashes[last], codes[last])

    def lookup(self, table: pa.Table | pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
        """(found per row, the previous split code where found)."""
        hashes = identity_hashes(table, self.columns)
        if not self.hashes.size:
            return np.zeros(len(hashes), bool), np.zeros(len(hashes), np.uint8)
        position = np.minimum(np.searchsorted(self.hashes, hashes), self.hashes.size - 1)
        found = self.hashes[position] == hashes
        return found, self.codes[position]


def ledger_columns(
    previous: dict[str, Any], columns: list[str], key: list[str], params: dict[str, Any]
) -> list[str] | None:
    """The identity columns to match rows of the previous version by, or None when the
    hash alone gives every old row its old split (see the module docstring).
    ``previous``: the previous Examples' ``columns``, ``split`` properties and the
    ``ratios``, ``key`` and ``seed`` it was ingested with."""
    same_request = all(
        previous.get(name) == params[name] for name in ("ratios", "seed")
    ) and sorted(previous.get("key") or []) == sorted(key)
    if not same_request:
        return None  # a new split was asked for
    split = previous.get("split") or {}
    old_columns = previous.get("columns") or []
    changed = not key and set(old_columns) != set(columns)
    if split.get("rule") == RULE and not split.get("inherited") and not changed:
        return None
    common = [c for c in columns if c in set(old_columns)]
    if key:
        return list(key) if set(key) <= set(old_columns) else None
    return common or None
