"""Ingest (ExampleGen): the data source's current version -> Examples (train, eval, test).

The split rule and why no row ever moves between versions: mlrail.data.split. The
``previous`` input, when present, is the Examples of the source's previous version: its
rows keep their splits (its ledger is read only when that can change an assignment).
"""

from __future__ import annotations

from mlrail.data.ingest import PreviousVersion, SplitRequest, write_examples
from mlrail.store.runner import Component, ExecutorContext, ExecutorOutput


def ingest(ctx: ExecutorContext) -> ExecutorOutput:
    dataset, p = ctx.inputs["dataset"], ctx.params
    request = SplitRequest(ratios=p["ratios"], key=p["key"], seed=p["seed"])
    previous = None
    if "previous" in ctx.inputs:
        examples, asked = ctx.inputs["previous"], p["previous_split"]
        previous = PreviousVersion(
            uri=examples.uri,
            columns=examples.properties.get("columns", []),
            split=examples.properties.get("split", {}),
            request=SplitRequest(asked["ratios"], asked["key"] or [], asked["seed"]),
        )
    properties = write_examples(
        dataset.uri,
        p["format"],
        ctx.outputs["examples"],
        p["label"],
        p["include"],
        p["exclude"],
        request,
        previous,
    )
    properties.update(
        dataset_version=dataset.properties.get("version"),
        dataset_id=dataset.id,
    )
    result = {"rows": properties["splits"], "dataset_version": dataset.properties.get("version")}
    if properties["split"]["inherited_rows"]:
        result["inherited_split_rows"] = properties["split"]["inherited_rows"]
    return ExecutorOutput(properties={"examples": properties}, result=result)


def _describe(result: dict) -> list[str]:
    rows = ", ".join(f"{split} {n}" for split, n in result.get("rows", {}).items())
    return [f"dataset version {result.get('dataset_version')}: {rows} rows"]


COMPONENT = Component(
    name="ingest", executor=ingest, outputs={"examples": "Examples"}, describe=_describe
)
