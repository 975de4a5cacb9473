"""Where a writer builds a folder before it appears whole: a hidden sibling, renamed into
place when complete. One naming rule for every writer (the artifact store's outputs, a
push's copies in the serving folder), so cleanup finds what a dead writer left by name.

    .<name>.staging-<random>                 an artifact output being written
    .<name>.staging-e<execution>-<random>    a copy made by execution <execution>

The execution id lets cleanup tell a dead execution's copy from a live one's.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

PATTERN = ".*.staging-*"  # a glob that finds every staging folder in a folder
_NAME = re.compile(r"^\.(?P<name>.+)\.staging-(?:e(?P<execution>\d+)-)?[0-9a-f]+$")


def staging_path(final: Path, execution_id: int | None = None) -> Path:
    """A fresh staging sibling of ``final``, tagged with the writing execution if given."""
    tag = "" if execution_id is None else f"e{execution_id}-"
    return final.with_name(f".{final.name}.staging-{tag}{uuid.uuid4().hex[:8]}")


def staging_of(path: Path) -> tuple[str, int | None] | None:
    """For a staging folder: the name it will have and the execution writing it (None if
    untagged); None for any other path."""
    match = _NAME.match(path.name)
    if match is None:
        return None
    execution = match["execution"]
    return match["name"], None if execution is None else int(execution)


def staged_by(folder: Path, execution_id: int) -> list[Path]:
    """The staging folders in ``folder`` that execution ``execution_id`` was writing."""
    return [p for p in folder.glob(PATTERN) if (staging_of(p) or ("", None))[1] == execution_id]
