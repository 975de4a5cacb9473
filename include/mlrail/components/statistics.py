"""Statistics: per split, per feature; cached by the Examples' content (the dataset version).

A cache hit is decided from fingerprints in the metadata store alone, so statistics of a
dataset version that already has them are served without opening any data file.
"""

from __future__ import annotations

from mlrail.data.statistics import StatsConfig
from mlrail.data.statistics.engine import compute_split_statistics
from mlrail.store.files import STATISTICS, split_uri
from mlrail.store.runner import Component, ExecutorContext, ExecutorOutput


def compute_statistics(ctx: ExecutorContext) -> ExecutorOutput:
    examples = ctx.inputs["examples"]
    p = ctx.params
    config = StatsConfig(
        top_k=p["top_k"],
        vocabulary_size=p["vocabulary_size"],
        categorical_max_unique=p["categorical_max_unique"],
    )
    split_paths = {
        split: [split_uri(examples.uri, split)] for split in examples.properties["splits"]
    }
    ctx.env.artifacts.verify(examples.uri)
    # Features and the label: ids and excluded columns are in the Examples, not the model.
    props = examples.properties
    document = compute_split_statistics(
        split_paths,
        config,
        p["engine"],
        p["beam_above_bytes"],
        p["beam_runner"],
        p["beam_options"],
        columns=[*props["features"], props["label"]],
    )
    STATISTICS.write(ctx.outputs["statistics"], document, indent=None)
    rows = {name: s["rows"] for name, s in document["splits"].items()}
    return ExecutorOutput(
        properties={
            "statistics": {
                "rows": rows,
                "engine": document["engine"],
                "dataset_version": examples.properties.get("dataset_version"),
            }
        },
        result={"rows": rows, "engine": document["engine"]},
    )


COMPONENT = Component(
    name="statistics",
    executor=compute_statistics,
    outputs={"statistics": "DatasetStatistics"},
)
