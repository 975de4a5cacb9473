"""Putting a model version in the serving folder (TF Serving's ``<model>/<version>/``) so
that no server ever loads part of it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mlrail.store.staging import staging_path


def copy_model_atomically(source: Path, target: Path, execution_id: int) -> bool:
    """Copy a SavedModel directory to ``target``; False if a complete copy is already there.

    The copy is built in a hidden sibling (mlrail.store.staging, tagged with the execution)
    and renamed into place, so a server watching the model folder (TF Serving polls
    ``<model>/<version>/``) never loads a partial version. Within the copy, saved_model.pb
    is written last because servers treat it as the sign that the model is complete.
    """
    if (target / "saved_model.pb").exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_path(target, execution_id)
    try:
        shutil.copytree(source, staging, ignore=shutil.ignore_patterns("saved_model.pb"))
        shutil.copy2(source / "saved_model.pb", staging / "saved_model.pb")
        if target.exists():  # an earlier attempt left a folder without saved_model.pb
            shutil.rmtree(target)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True
