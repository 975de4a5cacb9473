"""Statistics: per split, per feature; cached by the Examples' content (the dataset version)."""

from __future__ import annotations

import json

import pandas as pd

from mlrail.runner import Component, ExecutorContext, ExecutorOutput
from mlrail.statistics import table_statistics


def compute_statistics(ctx: ExecutorContext) -> ExecutorOutput:
    examples = ctx.inputs["examples"]
    splits = {}
    with ctx.env.artifacts.read(examples.uri) as local:
        for split in examples.properties["splits"]:
            frame = pd.read_parquet(local / split / "data.parquet")
            splits[split] = table_statistics(
                frame,
                top_k=ctx.params["top_k"],
                vocabulary_size=ctx.params["vocabulary_size"],
                categorical_max_unique=ctx.params["categorical_max_unique"],
            )
    document = {"splits": splits, "rows": sum(s["rows"] for s in splits.values())}
    (ctx.outputs["statistics"] / "statistics.json").write_text(json.dumps(document))
    rows = {name: s["rows"] for name, s in splits.items()}
    return ExecutorOutput(
        properties={
            "statistics": {
                "rows": rows,
                "dataset_version": examples.properties.get("dataset_version"),
            }
        },
        result={"rows": rows},
    )


COMPONENT = Component(
    name="statistics",
    executor=compute_statistics,
    outputs={"statistics": "DatasetStatistics"},
    code_modules=("mlrail.statistics",),
)
