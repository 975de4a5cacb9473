import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlrail.data.ingest import select_features
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

RATIOS = {"train": 80, "eval": 10, "test": 10}


def assign_splits(frame, ratios=RATIOS, key=None, seed=0):
    """Split name per row by the hash alone, as ingest assigns a row no version had."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    codes = assign(identity_hashes(table, identity_columns(table.schema.names, key)), ratios, seed)
    return np.asarray(SPLITS)[codes]


def test_deterministic_and_close_to_ratios(taxi_frame):
    first = assign_splits(taxi_frame)
    assert (first == assign_splits(taxi_frame.copy())).all()
    shares = pd.Series(first).value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.8, abs=0.03)
    assert shares["eval"] == pytest.approx(0.1, abs=0.03)


def test_appending_rows_moves_no_existing_row(taxi_frame):
    head = taxi_frame.iloc[:3000]
    assert (assign_splits(head) == assign_splits(taxi_frame)[:3000]).all()


def test_row_order_and_column_order_do_not_matter(taxi_frame):
    shuffled = taxi_frame.sample(frac=1.0, random_state=3)
    reordered = shuffled[list(reversed(shuffled.columns))]
    by_id = dict(zip(taxi_frame["trip_id"], assign_splits(taxi_frame), strict=True))
    again = dict(zip(reordered["trip_id"], assign_splits(reordered), strict=True))
    assert by_id == again


def test_column_names_are_part_of_the_identity():
    """Two columns that swap their values are a different row, not the same one."""
    a = pd.DataFrame({"x": np.arange(1, 2001), "y": np.arange(1, 2001) * 7})
    b = pd.DataFrame({"x": a["y"], "y": a["x"]})
    table_a, table_b = (pa.Table.from_pandas(f) for f in (a, b))
    assert (identity_hashes(table_a, ["x", "y"]) != identity_hashes(table_b, ["x", "y"])).all()


def test_key_columns_keep_groups_together(taxi_frame):
    splits = assign_splits(taxi_frame, key=["company"])
    per_company = pd.DataFrame({"c": taxi_frame["company"], "s": splits}).dropna()
    assert (per_company.groupby("c")["s"].nunique() == 1).all()


def test_seed_changes_the_assignment(taxi_frame):
    assert (assign_splits(taxi_frame, seed=1) != assign_splits(taxi_frame)).any()


def test_select_features_names_missing_columns_and_the_field():
    names = ["a", "b", "label"]
    assert select_features(names, "f.csv", "label", [], ["b"], []) == ["a"]
    with pytest.raises(
        DataError, match="f.csv: column\\(s\\) \\['lbl'\\] named in the pipeline spec"
    ):
        select_features(names, "f.csv", "lbl", [], [], [])
    with pytest.raises(DataError, match="\\['id'\\] named in the pipeline spec \\(split.key\\)"):
        select_features(names, "f.csv", "label", [], [], ["id"])


def test_batches_and_types_do_not_change_the_assignment(taxi_frame):
    whole = assign_splits(taxi_frame)
    first, rest = taxi_frame.iloc[:1000], taxi_frame.iloc[1000:]
    # An integer column read as float in one batch (as CSV chunks or nulls cause) hashes alike.
    first = first.astype({"trip_seconds": "float64"})
    parts = [assign_splits(f) for f in (first, rest)]
    assert (np.concatenate(parts) == whole).all()


def test_ledger_keeps_old_splits_and_resolves_merged_rows_towards_test():
    old = pa.table({"a": [1, 1, 2, 3], "gone": ["x", "y", "z", "w"]})
    ledger = Ledger.build(["a"], [(0, old.slice(0, 1)), (2, old.slice(1, 1)), (1, old.slice(2, 2))])
    found, codes = ledger.lookup(pa.table({"a": [1, 2, 3, 4]}))
    assert found.tolist() == [True, True, True, False]
    # a=1 was in train and in test (told apart by "gone" only): it stays out of training.
    assert codes[:3].tolist() == [2, 1, 1]


def test_ledger_is_read_only_when_it_can_change_an_assignment():
    asked = {"ratios": RATIOS, "key": [], "seed": 0}
    current = {**asked, "columns": ["a", "b"], "split": {"rule": RULE, "inherited": False}}
    assert ledger_columns(current, ["b", "a"], [], asked) is None  # reordered: same hash
    assert ledger_columns(current, ["a", "b", "c"], [], asked) == ["a", "b"]  # added
    assert ledger_columns(current, ["a"], [], asked) == ["a"]  # removed
    inherited = {**current, "split": {"rule": RULE, "inherited": True}}
    assert ledger_columns(inherited, ["a", "b"], [], asked) == ["a", "b"]
    older_rule = {**asked, "columns": ["a", "b"]}  # Examples from before the rule's number
    assert ledger_columns(older_rule, ["a", "b"], [], asked) == ["a", "b"]
    # A new seed, key or percentages asks for a new split.
    assert ledger_columns(inherited, ["a", "b"], [], {**asked, "seed": 1}) is None
    assert ledger_columns(older_rule, ["a", "b"], ["a"], {**asked, "key": ["a"]}) is None
    # With a key the other columns do not matter; only an older rule is inherited.
    keyed = {**current, "key": ["a"]}
    assert ledger_columns(keyed, ["a", "c"], ["a"], {**asked, "key": ["a"]}) is None
    keyed_old = {**older_rule, "key": ["a"]}
    assert ledger_columns(keyed_old, ["a", "c"], ["a"], {**asked, "key": ["a"]}) == ["a"]
