"""Push: register a blessed model version and lay it out for TF Serving, atomically."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import Component, ExecutorContext, ExecutorOutput

BLESSED = "blessed"


def copy_model_atomically(source: Path, target: Path) -> bool:
    """Copy a SavedModel directory to ``target``; False if a complete copy is already there.

    The copy is built in a hidden sibling and renamed into place, so a server watching the
    model folder (TF Serving polls ``<model>/<version>/``) never loads a partial version.
    Within the copy, saved_model.pb is written last because servers treat it as the sign
    that the model is complete.
    """
    if (target / "saved_model.pb").exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.staging-{uuid.uuid4().hex[:8]}")
    try:
        shutil.copytree(source, staging, ignore=shutil.ignore_patterns("saved_model.pb"))
        shutil.copy2(source / "saved_model.pb", staging / "saved_model.pb")
        if target.exists():  # an earlier attempt left a folder without saved_model.pb
            shutil.rmtree(target)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def push(ctx: ExecutorContext) -> ExecutorOutput:
    artifacts, p = ctx.env.artifacts, ctx.params
    blessing = artifacts.read_json(ctx.inputs["blessing"].uri, "blessing.json")
    if not blessing["blessed"]:
        reason = f"not pushed: the model was not blessed. {blessing['sentence']}"
        return ExecutorOutput(
            result={"pushed": False, "reason": reason}, skipped=frozenset({"pushed_model"})
        )
    registry = ModelRegistry(ctx.env.metadata)
    model = ctx.inputs["model"]
    version = registry.register(p["model_name"], model.id, ctx.execution_id)
    serving_dir = Path(p["serving_root"]) / p["model_name"] / str(version.version)
    with artifacts.read(model.uri) as local:
        copied = copy_model_atomically(local / "saved_model", serving_dir)
    moved = registry.move_alias(
        p["model_name"],
        BLESSED,
        version.version,
        reason=blessing["sentence"],
        actor=ctx.run.actor,
        run_id=ctx.run.run_id,
        execution_id=ctx.execution_id,
    )
    record = {
        "model": p["model_name"],
        "version": version.version,
        "serving_path": str(serving_dir),
        "model_artifact_id": model.id,
    }
    (ctx.outputs["pushed_model"] / "push.json").write_text(json.dumps(record, indent=2))
    return ExecutorOutput(
        properties={"pushed_model": record},
        result={
            "pushed": True,
            "model": p["model_name"],
            "version": version.version,
            "serving_path": str(serving_dir),
            "copied": copied,
            "alias_moved": moved,
            "reason": blessing["sentence"],
        },
    )


COMPONENT = Component(
    name="push", executor=push, outputs={"pushed_model": "PushedModel"}, cacheable=False
)
