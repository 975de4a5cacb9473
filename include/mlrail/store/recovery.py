"""Cleaning up after work that was interrupted (a SIGKILL, a lost worker, a cleared task).

An execution whose owner is gone (mlrail.store.leases) is marked ``interrupted`` with the
reason and the time, and what it left is removed: its own artifact folder (staging
directories and outputs that were never registered) and what its component lists as
leftovers elsewhere (a push's copies in the serving folder). This happens when the next
run of that component starts, and for everything at once with ``python -m mlrail gc``.

Staging folders are also found by name (mlrail.store.staging: under the artifact root,
and under the folders a component says it builds copies in, such as a push's serving
folder), so leftovers of processes that died before leases existed are found too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlrail.store import leases
from mlrail.store.metadata import Execution
from mlrail.store.staging import PATTERN, staging_of

if TYPE_CHECKING:
    from mlrail.store.runner import Component, Env

log = logging.getLogger("mlrail")

@dataclass(frozen=True)
class Leftover:
    """Something an interrupted execution left behind, and why it is known to be dead."""

    path: str
    reason: str
    execution_id: int | None = None


def execution_folder(env: Env, execution: Execution) -> str:
    """Where the runner stages and commits the execution's outputs."""
    return env.artifacts.uri_for(
        execution.pipeline, execution.run_id, execution.component, execution.id
    )


def leftovers_of(env: Env, component: Component | None, execution: Execution) -> list[str]:
    """What an execution that never finished may have written."""
    paths = []
    folder = execution_folder(env, execution)
    if env.artifacts.fs.exists(folder):
        paths.append(folder)
    if component is not None and component.leftovers is not None:
        paths += component.leftovers(env, execution)
    return paths


def remove(env: Env, paths: Iterable[str]) -> None:
    for path in paths:
        try:
            if env.artifacts.fs.exists(path):
                env.artifacts.fs.rm(path, recursive=True)
        except Exception:  # one stuck path must not stop the rest from being cleaned
            log.exception("could not remove the leftover %s", path)


def recover(env: Env, component: Component | None, execution: Execution, reason: str) -> bool:
    """Mark ``execution`` interrupted and remove its leftovers; False if it was no longer
    running (another process recovered it, or it finished)."""
    if not env.metadata.interrupt(execution.id, reason):
        return False
    paths = leftovers_of(env, component, execution)
    log.warning(
        "execution %s (%s, %s/%s task %s) was interrupted: %s; removing %s",
        execution.id,
        execution.component,
        execution.dag_id,
        execution.run_id,
        execution.task_id,
        reason,
        paths or "nothing",
    )
    remove(env, paths)
    return True


def dead_executions(env: Env, component: str | None = None) -> list[tuple[Execution, str]]:
    """Running executions (of ``component``, or all) whose owner is gone, with the reason."""
    where = {"state": "running"}
    if component is not None:
        where["component"] = component
    found = []
    for execution in env.metadata.executions(**where):
        reason = leases.is_gone(execution)
        if reason:
            found.append((execution, reason))
    return found


def recover_component(env: Env, component: Component) -> int:
    """Recover every dead execution of ``component``; how many were recovered."""
    return sum(
        recover(env, component, execution, reason)
        for execution, reason in dead_executions(env, component.name)
    )


def _live_ids(env: Env) -> set[int]:
    return {e.id for e in env.metadata.executions(state="running") if not leases.is_gone(e)}


def stray_staging(env: Env, copy_roots: Iterable[str]) -> list[Leftover]:
    """Staging folders whose writer is no longer running (found by name, not by record):
    under the artifact root, and one level down in each of ``copy_roots`` (the folders
    components build copies in: ``<root>/<model>/.<version>.staging-e<execution>-...``)."""
    live = _live_ids(env)
    found = []
    if env.artifacts.is_local:
        for path in Path(env.artifacts.root).glob(f"**/{PATTERN}"):
            owner = path.parent.name
            if not (owner.isdigit() and int(owner) in live):
                found.append(Leftover(str(path), "staging folder of a writer that is gone"))
    for root in copy_roots:
        for path in Path(root).glob(f"*/{PATTERN}"):
            staged = staging_of(path)
            execution = staged and staged[1]
            if execution is None and live:
                continue  # an untagged copy: cannot tell whose; only safe when nothing runs
            if execution is None or execution not in live:
                found.append(Leftover(str(path), "copy of an execution that is gone"))
    return found


def collect(env: Env, components: Iterable[Component]) -> list[Leftover]:
    """Everything interrupted work left behind: dead running executions (with their
    folders), stray staging folders, and what components list for executions that are not
    running (a push's reserved but unpublished version folder)."""
    by_name = {c.name: c for c in components}
    found = []
    for execution, reason in dead_executions(env):
        paths = leftovers_of(env, by_name.get(execution.component), execution)
        found.append(
            Leftover(
                "", f"execution {execution.id} ({execution.component}): {reason}", execution.id
            )
        )
        found += [Leftover(path, reason, execution.id) for path in paths]
    live = _live_ids(env)
    copy_roots = set()
    for component in by_name.values():
        if component.staging_roots is not None:
            copy_roots.update(component.staging_roots(env, None))
        if component.leftovers is None and component.staging_roots is None:
            continue
        for execution in env.metadata.executions(component=component.name):
            if component.staging_roots is not None:
                copy_roots.update(component.staging_roots(env, execution))
            if component.leftovers is None:
                continue
            if execution.id in live or execution.state == "running":
                continue
            found += [
                Leftover(
                    path,
                    f"left by execution {execution.id}, which is {execution.state}",
                    execution.id,
                )
                for path in component.leftovers(env, execution)
            ]
    known = {f.path for f in found}
    found += [f for f in stray_staging(env, sorted(copy_roots)) if f.path not in known]
    return found


def clean(env: Env, leftovers: Iterable[Leftover]) -> None:
    """Interrupt the dead executions and remove the paths that ``collect`` found."""
    leftovers = list(leftovers)
    for item in leftovers:
        if not item.path and item.execution_id is not None:
            env.metadata.interrupt(item.execution_id, item.reason.partition(": ")[2])
    remove(env, [item.path for item in leftovers if item.path])
