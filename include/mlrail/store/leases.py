"""Leases on running executions: who computes a cache key, and whether they still live.

A ``running`` execution carries its owner (``host:pid:process start``, or ``remote:...``
for a Vertex AI job) and a lease that the owner's heartbeat renews. The database allows
one running execution per cache key (``tables.running_key_index``), so a second run that
needs the same result waits for the first instead of computing it again, and takes over
only when the owner is gone:

* on the same host, the owner is gone as soon as its process is (a SIGKILL is detected
  at once, not after the lease runs out);
* elsewhere, when its lease has expired without a heartbeat;
* an earlier try of the same Airflow task is always over: Airflow runs one try at a time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import psutil

log = logging.getLogger("mlrail")


def lease_seconds() -> float:
    """How long a lease holds without a heartbeat (``MLRAIL_LEASE_SECONDS``, default 60)."""
    return float(os.environ.get("MLRAIL_LEASE_SECONDS", "60"))


def _process_started(pid: int) -> int | None:
    try:
        return int(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def this_owner() -> str:
    """This process, in a form that survives pid reuse: ``host:pid:start time``."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_started(pid)}"


def remote_owner(what: str) -> str:
    return f"remote:{what}"


class Holder(Protocol):
    """What deciding on a running execution needs (mlrail.store.metadata.Execution)."""

    owner: str | None
    lease_expires_at: datetime | None
    dag_id: str | None
    run_id: str | None
    task_id: str | None
    try_number: int | None


Task = tuple[str | None, str | None, str | None]  # dag_id, run_id, task_id


def owner_gone(
    holder: Holder,
    now: datetime,
    host: str,
    started_of: Callable[[int], int | None],
    task: Task = (None, None, None),
    try_number: int | None = None,
) -> str | None:
    """Why the holder's owner is gone (a sentence), or None while it may still be working.

    ``started_of(pid)`` gives a local process's start time or None: it is the only I/O,
    passed in so the decision is tested on literal values.
    """
    same_task = (holder.dag_id, holder.run_id, holder.task_id) == task
    if task[2] is not None and same_task and (holder.try_number or 0) < (try_number or 0):
        return f"superseded by try {try_number} of the same task"
    if not holder.owner:
        return "no owner recorded (an execution from before leases)"
    owner_host, _, rest = holder.owner.partition(":")
    if owner_host == host and rest:
        pid, _, started = rest.partition(":")
        if str(started_of(int(pid))) != started:
            return f"its process {pid} on {host} has exited"
        return None
    expires = holder.lease_expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    if expires is None or expires < now:
        return f"its lease expired at {expires.isoformat() if expires else 'an unknown time'}"
    return None


def is_gone(
    holder: Holder, task: Task = (None, None, None), try_number: int | None = None
) -> str | None:
    """``owner_gone`` for this host, now."""
    return owner_gone(
        holder, datetime.now(UTC), socket.gethostname(), _process_started, task, try_number
    )


def expiry(seconds: float | None = None) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=lease_seconds() if seconds is None else seconds)


class Heartbeat:
    """Renews an execution's lease from a daemon thread while the block runs."""

    def __init__(self, renew: Callable[[], None], seconds: float | None = None):
        self.renew = renew
        self.interval = (lease_seconds() if seconds is None else seconds) / 4
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlrail-lease", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.renew()
            except Exception:  # a missed beat is survivable; the next one may work
                log.warning("could not renew the execution lease", exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
