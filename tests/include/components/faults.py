"""Faults injected into a worker process of a test, never into the code under test."""

from __future__ import annotations

import os
import shutil
import signal


def die_when_copying_saved_model() -> None:
    """SIGKILL this process when it copies a ``saved_model.pb``: the last file of a push's
    copy (mlrail.components.push), so the copy is left partial, as when a worker dies."""
    copy2 = shutil.copy2

    def copy(source, target, *args, **kwargs):
        if str(source).endswith("saved_model.pb"):
            os.kill(os.getpid(), signal.SIGKILL)
        return copy2(source, target, *args, **kwargs)

    shutil.copy2 = copy
