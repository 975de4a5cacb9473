"""A run's sandbox folder: where it is and the files in it, in one place for the code that
starts servers (servers.py), the orphan sweep (orphans.py) and the tests.

Every run's folder sits under one machine-wide base, so that the next sandbox setup of any
run (or ``python -m mlrail gc``) can find servers a killed worker left.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

STATE = "servers.json"  # the running servers, written once every one answers
OWNER = "owner.json"  # the process that holds the run's servers now, and the run
SPAWNED = "spawned"  # a line "<pid> <create time>" per process started, loaded or not
LOCK = ".lock"  # beside the runs' folders: a claim and an orphan sweep never interleave


def schema_file(root: Path, role: str) -> Path:
    """The schema a server of ``role`` (candidate, blessed) checks requests against."""
    return root / f"{role}-schema.json"


def sandbox_base() -> Path:
    """Where every run's sandbox folder is: what an orphan sweep looks through."""
    return Path(tempfile.gettempdir()) / "mlrail-sandbox"


def sandbox_root(dag_id: str, run_id: str, store: str) -> Path:
    """The run's sandbox folder: the same for every try of the run, so a later try finds
    what an earlier one left. ``store`` is the metadata store's URL: two projects (or two
    test sessions) on one machine may both have a ``taxi_tips_training/r1``, and one's new
    try must not stop the other's servers as if they were its own earlier try's."""
    digest = hashlib.sha256(f"{store}\n{dag_id}/{run_id}".encode()).hexdigest()[:16]
    return sandbox_base() / digest
