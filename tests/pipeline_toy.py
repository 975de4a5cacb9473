"""A toy pipeline declared outside mlrail: one stage of its own (a row-count check with a
verdict, through a real Component) in a DAG kind of its own, after the standard ingest.
Nothing in mlrail's DAG factory, pages or summaries knows it."""

from __future__ import annotations

from mlrail.pipeline import steps
from mlrail.pipeline.model import Declared, Kind, Param, Stage, Step
from mlrail.store.runner import Component, ExecutorOutput, run_component
from mlrail.verdict import FAILED, PASSED, Check, Verdict

MIN_ROWS = 100


def _count(ctx) -> ExecutorOutput:
    rows = ctx.inputs["examples"].properties["splits"]["train"]
    check = Check(
        "train_rows",
        PASSED if rows >= MIN_ROWS else FAILED,
        f"{rows} train rows (at least {MIN_ROWS})",
        "rows",
        "train",
        rows,
        MIN_ROWS,
    )
    verdict = Verdict("toy_rows", (check,), ("Enough rows", "Too few rows"))
    return ExecutorOutput(result={"rows": rows, "verdict": verdict.summary()})


ROW_CHECK = Component("row_check", _count, {}, cacheable=False)


def _row_check(env, spec, run, inputs, force, conf):
    examples = env.metadata.get_artifact(inputs["examples"])
    return run_component(env, ROW_CHECK, {"examples": examples}, {}, run, force=force)


CHECK_ROWS = Step("check_rows", _row_check, {"examples": "examples"}, components=("row_check",))

TOY = Kind(
    name="toy",
    dag=lambda spec: {
        "dag_id": f"{spec.pipeline}_toy",
        "params": (Param("force", False, "boolean", "recompute"),),
        "tags": ("toy",),
    },
    declared=(
        Declared(Stage("ingest", steps.INGEST)),
        Declared(Stage("check_rows", CHECK_ROWS, {"examples": "ingest"})),
    ),
)
