"""Orphaned sandbox servers: found by their holder's death, never by their name.

A run's sandbox folder records which process holds its servers (``owner.json``, written by
``claim``). When that process has exited without handing them off (a SIGKILLed worker, an
OOM kill), nobody will stop them before their ``max_minutes``: they are orphans, and the
next sandbox setup of any run, or ``python -m mlrail gc``, stops them. A folder that names
no holder (handed off to the validation, or from before holders were recorded) is never
an orphan: its teardown or its servers' ``max_minutes`` stops it.

Claims and sweeps take one lock beside the runs' folders, so a sweep never reads a dead
holder and then stops the servers that a new try of the same run has just claimed.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mlrail.serving.sandbox.folder import LOCK, OWNER, STATE, sandbox_base
from mlrail.serving.sandbox.servers import (
    Servers,
    _alive,
    _spawned,
    check_running,
    stop_leftovers,
)
from mlrail.store import leases

log = logging.getLogger("mlrail")


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the sandbox lock of ``folder`` (the folder of the runs' sandbox folders).
    Not re-entrant: a holder never takes it twice."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def claim(root: Path, run: str) -> None:
    """Make this process the holder of the servers under ``root`` (call under ``locked``)."""
    _write(root, {"owner": leases.this_owner(), "run": run})


def _write(root: Path, record: dict) -> None:
    staging = root / f".{OWNER}.{os.getpid()}"
    staging.write_text(json.dumps(record))
    os.replace(staging, root / OWNER)  # a reader never sees half a record


def hand_off(root: Path) -> None:
    """Nobody holds the servers under ``root`` until the next ``held`` (the Airflow setup
    task returns, and its servers must outlive it); the run's name stays for reports."""
    if root.is_dir():
        _write(root, {"run": _record(root).get("run", root.name)})


@contextmanager
def held(servers: Servers) -> Iterator[None]:
    """Check the recorded servers still run (ServersGoneError otherwise) and hold them for
    the block: if this process is killed meanwhile, they are orphans. Leaving the block
    (even by an exception) gives them back to whoever held them before, or to nobody."""
    root = Path(servers.root)
    with locked(root.parent):
        check_running(servers)
        before = _record(root)
        if root.is_dir():
            claim(root, before.get("run", root.name))
    try:
        yield
    finally:
        owner = before.get("owner")
        if owner != leases.this_owner():
            with locked(root.parent):
                if owner is None or leases.is_gone(_Holder(owner)):
                    hand_off(root)
                elif root.is_dir():
                    _write(root, before)


@dataclass(frozen=True)
class _Holder:
    """What leases.is_gone reads, for a holder that has no lease: on this host, its
    process is alive or not."""

    owner: str
    lease_expires_at: datetime | None = None
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    try_number: int | None = None


@dataclass(frozen=True)
class Orphan:
    """A run's sandbox folder whose holder is gone, and the processes still running."""

    root: str
    run: str
    pids: tuple[int, ...]
    reason: str

    def describe(self) -> str:
        running = f"pids {', '.join(map(str, self.pids))}" if self.pids else "no process left"
        return f"sandbox servers of run {self.run} ({running}, {self.root}): {self.reason}"


def _record(root: Path) -> dict:
    """The run's holder record: ``owner`` (absent once handed off) and ``run``."""
    try:
        data = json.loads((root / OWNER).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _gone(root: Path) -> tuple[dict, str] | None:
    """The holder's record and why it is gone; None while it lives or none is named."""
    data = _record(root)
    owner = data.get("owner")
    if not isinstance(owner, str) or not owner.startswith(f"{socket.gethostname()}:"):
        # No holder, or one on another host sharing this folder: its processes are not
        # this host's to judge.
        return None
    reason = leases.is_gone(_Holder(owner))
    return (data, f"held by a process that is gone ({reason})") if reason else None


def _processes(root: Path) -> tuple[int, ...]:
    pids = list(_spawned(root))
    try:
        state = Servers.from_dict(json.loads((root / STATE).read_text()))
        pids += [(s.pid, s.started) for s in state.running.values()]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return tuple(sorted({pid for pid, started in pids if _alive(pid, started)}))


def find_orphans(base: Path | None = None) -> list[Orphan]:
    """The runs' sandbox folders under ``base`` (default: sandbox_base) whose holder is gone."""
    base = base or sandbox_base()
    if not base.is_dir():
        return []
    found = []
    for root in sorted(p for p in base.iterdir() if p.is_dir()):
        gone = _gone(root)
        if gone is not None:
            data, reason = gone
            found.append(Orphan(str(root), data.get("run", root.name), _processes(root), reason))
    return found


def stop_orphans(base: Path | None = None) -> list[Orphan]:
    """Stop the servers of every orphaned sandbox folder under ``base`` and remove the
    folder; what was stopped (the processes found running just before)."""
    base = base or sandbox_base()
    if not base.is_dir():
        return []
    with locked(base):
        orphans = find_orphans(base)  # read again under the lock: a new try may hold it
        for orphan in orphans:
            log.warning("stopping orphaned %s", orphan.describe())
            stop_leftovers(Path(orphan.root))
    return orphans
