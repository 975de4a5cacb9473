"""Ingest (ExampleGen): read the data source and split it deterministically.

Each row goes to train, eval or test by a hash of its split key (the whole row unless
``split.key`` names columns), so the assignment depends on nothing but the row itself:
re-running gives the same splits and appending rows never moves an existing row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlrail.dataset import read_table
from mlrail.runner import Component, ExecutorContext, ExecutorOutput

SPLITS = ("train", "eval", "test")


def _mix(values: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 finalizer over hash ^ seed: a seed change reshuffles every row."""
    with np.errstate(over="ignore"):
        z = values ^ np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def assign_splits(
    frame: pd.DataFrame, ratios: dict[str, int], key: list[str] | None = None, seed: int = 0
) -> np.ndarray:
    """Split name per row from a seeded hash of the key columns; ratios are percentages."""
    missing = sorted(set(key or []) - set(frame.columns))
    if missing:
        raise ValueError(f"split.key names columns {missing} that the data does not have")
    hashed = pd.util.hash_pandas_object(frame[key] if key else frame, index=False).to_numpy()
    bucket = _mix(hashed, seed) % np.uint64(100)
    train, evaluation = ratios["train"], ratios["eval"]
    return np.where(bucket < train, "train", np.where(bucket < train + evaluation, "eval", "test"))


def select_columns(
    frame: pd.DataFrame, source: str, label: str, include: list[str], exclude: list[str]
) -> list[str]:
    """Columns kept in the Examples: the label plus the requested features."""
    wanted = [label, *include, *exclude]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{source}: column(s) {missing} named in the pipeline spec are not in the data; "
            f"the data has {list(frame.columns)}"
        )
    features = include or [c for c in frame.columns if c not in exclude and c != label]
    return [*features, label]


def ingest(ctx: ExecutorContext) -> ExecutorOutput:
    dataset = ctx.inputs["dataset"]
    p = ctx.params
    frame = read_table(dataset.uri, p["format"])
    columns = select_columns(frame, dataset.uri, p["label"], p["include"], p["exclude"])
    if frame[p["label"]].isna().any():
        rows = np.flatnonzero(frame[p["label"]].isna().to_numpy())[:5].tolist()
        raise ValueError(
            f"{dataset.uri}: label column {p['label']!r} is empty in "
            f"{int(frame[p['label']].isna().sum())} row(s) (first at rows {rows}); "
            "drop or label those rows"
        )
    splits = assign_splits(frame, p["ratios"], p["key"], p["seed"])
    counts = {}
    out = ctx.outputs["examples"]
    for name in SPLITS:
        part = frame.loc[splits == name, columns].reset_index(drop=True)
        (out / name).mkdir()
        part.to_parquet(out / name / "data.parquet", index=False)
        counts[name] = len(part)
    properties = {
        "splits": counts,
        "columns": columns,
        "label": p["label"],
        "dataset_version": dataset.properties.get("version"),
        "dataset_id": dataset.id,
    }
    return ExecutorOutput(
        properties={"examples": properties},
        result={"rows": counts, "dataset_version": dataset.properties.get("version")},
    )


COMPONENT = Component(
    name="ingest",
    executor=ingest,
    outputs={"examples": "Examples"},
    code_modules=("mlrail.dataset",),
)
