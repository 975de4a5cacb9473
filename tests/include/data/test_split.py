import numpy as np
import pandas as pd
import pytest

from mlrail.components.ingest import assign_splits, select_columns

RATIOS = {"train": 80, "eval": 10, "test": 10}


def test_deterministic_and_close_to_ratios(taxi_frame):
    first = assign_splits(taxi_frame, RATIOS)
    assert (first == assign_splits(taxi_frame.copy(), RATIOS)).all()
    shares = pd.Series(first).value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.8, abs=0.03)
    assert shares["eval"] == pytest.approx(0.1, abs=0.03)


def test_appending_rows_moves_no_existing_row(taxi_frame):
    head = taxi_frame.iloc[:3000]
    grown = pd.concat([head, taxi_frame.iloc[3000:]], ignore_index=True)
    assert (assign_splits(head, RATIOS) == assign_splits(grown, RATIOS)[:3000]).all()


def test_order_does_not_matter(taxi_frame):
    shuffled = taxi_frame.sample(frac=1.0, random_state=3)
    by_id = dict(zip(taxi_frame["trip_id"], assign_splits(taxi_frame, RATIOS), strict=True))
    again = dict(zip(shuffled["trip_id"], assign_splits(shuffled, RATIOS), strict=True))
    assert by_id == again


def test_key_columns_keep_groups_together(taxi_frame):
    splits = assign_splits(taxi_frame, RATIOS, key=["company"])
    per_company = pd.DataFrame({"c": taxi_frame["company"], "s": splits}).dropna()
    assert (per_company.groupby("c")["s"].nunique() == 1).all()


def test_seed_changes_the_assignment(taxi_frame):
    assert (assign_splits(taxi_frame, RATIOS, seed=1) != assign_splits(taxi_frame, RATIOS)).any()


def test_unknown_key_column():
    with pytest.raises(ValueError, match="split.key names columns \\['nope'\\]"):
        assign_splits(pd.DataFrame({"a": [1]}), RATIOS, key=["nope"])


def test_select_columns_names_missing_ones():
    frame = pd.DataFrame({"a": [1], "label": [0]})
    assert select_columns(list(frame.columns), "f.csv", "label", [], []) == ["a", "label"]
    with pytest.raises(ValueError, match="f.csv: column\\(s\\) \\['lbl'\\]"):
        select_columns(list(frame.columns), "f.csv", "lbl", [], [])


def test_batches_and_types_do_not_change_the_assignment(taxi_frame):
    import pyarrow as pa

    from mlrail.components.ingest import split_of

    whole = split_of(pa.Table.from_pandas(taxi_frame), RATIOS)
    first, rest = taxi_frame.iloc[:1000], taxi_frame.iloc[1000:]
    # An integer column read as float in one batch (as CSV chunks or nulls cause) hashes alike.
    first = first.astype({"trip_seconds": "float64"})
    parts = [split_of(pa.Table.from_pandas(f, preserve_index=False), RATIOS) for f in (first, rest)]
    assert (np.concatenate(parts) == whole).all()
