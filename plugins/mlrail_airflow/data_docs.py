"""The Great Expectations Data Docs of a DAG run, as the /mlrail pages serve them."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from fastapi import HTTPException

if TYPE_CHECKING:
    from mlrail.store.runner import Env


def data_docs_file(environment: Env, dag_run: str, relative: PurePosixPath) -> bytes:
    """One file of the Data Docs in the anomalies artifact of the run's last validation."""
    from mlrail.store.artifacts import UncommittedArtifactError

    validations = [
        e
        for e in environment.metadata.executions_in_context("dag_run", dag_run)
        if e.component == "validate" and e.state in ("complete", "cached")
    ]
    if not validations:
        raise HTTPException(404, f"no completed validation in {dag_run}")
    anomalies = environment.metadata.io_of(validations[-1].id, "output").get("anomalies")
    if anomalies is None:
        raise HTTPException(404, f"the validation of {dag_run} stored no Data Docs")
    try:
        files = environment.artifacts.commit_info(anomalies.uri).files
    except UncommittedArtifactError:
        raise HTTPException(
            404, f"the Data Docs of {dag_run} are gone (their artifact was deleted)"
        ) from None
    target = f"gx_docs/{relative}"
    if target not in files:
        raise HTTPException(404, f"{relative} is not in the Data Docs of {dag_run}")
    return environment.artifacts.fs.cat_file(f"{anomalies.uri}/{target}")
