"""Groups of cooperating local processes on 127.0.0.1, each with its own log.

A group lives in a ``with`` block: processes are started with a name, waited for as a
whole, and whatever is still running when the block ends is stopped; the log folder is
removed, on success and on failure alike. A process that exits badly ends the wait with
:class:`ProcessFailed`, whose message carries the end of that process's log (the folder
itself is gone by the time anyone reads the error).

Children started here should call :func:`exit_with_parent` first: a parent killed with
SIGKILL runs no cleanup, and a KerasTuner worker would otherwise wait up to an hour for
an oracle that is gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

TAIL_CHARS = 3000


class ProcessFailed(RuntimeError):
    """A process of a group exited badly (or too early, or ran out of time)."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now (another process may still
    take one before it is bound: callers see that as a start failure)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def exit_with_parent(interval: float = 2.0) -> None:
    """End this process when the process that started it is gone (re-parented)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(3)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class LocalProcesses:
    """Start, wait for and stop a group of local processes; see the module docstring."""

    def __init__(self, prefix: str = "mlrail-processes-"):
        self.logs = Path(tempfile.mkdtemp(prefix=prefix))
        self.processes: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> LocalProcesses:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.logs, ignore_errors=True)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        with (self.logs / f"{name}.log").open("w") as log:
            # A session of its own: stopping the group also reaches any child it spawned.
            self.processes[name] = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def tail(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-TAIL_CHARS:] if path.exists() else ""

    def _failure(self, name: str, what: str) -> ProcessFailed:
        return ProcessFailed(f"{name} {what}; its log ends with:\n{self.tail(name)}")

    def wait(self, names: list[str], *, watch: tuple[str, ...] = (), timeout: float) -> None:
        """Return when every process in ``names`` exited with 0. Raise as soon as one of
        them exits otherwise, or a ``watch``ed process (one the others depend on, such as
        a server) exits with anything but 0, or ``timeout`` seconds pass. A watched
        process may end cleanly first: a server can see its last client leave before that
        client's process is gone."""
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            for name in watch:
                code = self.processes[name].poll()
                if code not in (None, 0):
                    raise self._failure(name, f"exited with {code} while others needed it")
            for name in list(pending):
                code = self.processes[name].poll()
                if code == 0:
                    pending.remove(name)
                elif code is not None:
                    raise self._failure(name, f"exited with {code}")
            if pending and time.monotonic() > deadline:
                raise self._failure(pending[0], f"did not finish within {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self, grace: float = 10.0) -> None:
        """Terminate the processes still running; kill those that outlive ``grace``."""
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
