"""Sandbox server processes: start, wait until loaded, stop; "stop is always called, even if
start failed".

Each model runs in its own ``mlrail.serving`` process (the production app, without a
request log) on a free 127.0.0.1 port, serving from a private serving root that holds only
that model. Processes start in a session of their own, so they outlive the Airflow task
that started them (the setup task) until the teardown task stops them. Three guards keep a
server from outliving its validation: teardown stops what setup recorded; setup first stops
whatever an earlier try of the same run recorded in the run's state file (a worker killed
before its teardown ran); and each server stops itself after ``max_minutes``. A server
still loading is in the run's ``spawned`` file from the moment it is started, so both
stops find it too.

A fourth guard stops the servers of a run whose worker was killed (SIGKILL, OOM) and that
nobody clears: the run's folder names the process that holds its servers (``owner.json``,
``host:pid:start time`` as mlrail.store.leases writes it, so a recycled pid is never
taken for it). The setup holds them while it starts them; an in-process pipeline for as
long as it runs; under Airflow the setup hands them off when it returns (nobody holds
them until the validation does) and the validation holds them while it measures. Servers
whose holder's process has exited are orphans: the next sandbox setup of any run, and
``python -m mlrail gc``, stop them. Servers nobody holds are never stopped by another run:
their teardown or their ``max_minutes`` does.

The servers load side by side (their TensorFlow start is most of a sandbox's set-up time);
each one's load time is measured from its own start.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlrail.errors import DeterministicError
from mlrail.serving.config import ServerConfig
from mlrail.serving.sandbox.folder import SPAWNED, STATE, schema_file
from mlrail.spec.sandbox import SandboxSpec
from mlrail.spec.serving import ServingSpec

CANDIDATE, BLESSED = "candidate", "blessed"
VERSION = 1  # each private serving root holds one version


class SandboxStartError(RuntimeError):
    """A server did not come up within its loading time after every try (may be the
    machine: retried by Airflow)."""


class ModelLoadError(DeterministicError):
    """A model that cannot be served: its server exited while loading it, every try."""


@dataclass(frozen=True)
class ModelToServe:
    role: str  # candidate | blessed
    model_artifact_id: int
    local_path: str  # the SavedModel directory
    schema: dict
    version: int | None = None  # the registry version (blessed); None for a candidate


@dataclass
class RunningServer:
    """What the setup task hands on (as JSON) to validation and teardown."""

    role: str
    url: str
    pid: int
    started: float  # the process's create time: a recycled pid is never taken for it
    model_artifact_id: int
    model_bytes: int
    load_seconds: float
    tries: int
    version: int | None = None
    log_path: str = ""


@dataclass
class Servers:
    root: str
    running: dict[str, RunningServer] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"root": self.root, "running": {r: asdict(s) for r, s in self.running.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> Servers:
        running = {r: RunningServer(**s) for r, s in data.get("running", {}).items()}
        return cls(data["root"], running)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _check_cpus(cpus: list[int]) -> None:
    available = os.sched_getaffinity(0)
    missing = sorted(set(cpus) - available)
    if missing:
        raise DeterministicError(
            f"sandbox.cpus asks for CPUs {missing}, which this machine does not offer "
            f"(available: {sorted(available)})"
        )


def _alive(pid: int, started: float) -> bool:
    import psutil

    _reap(pid)
    try:
        process = psutil.Process(pid)
        same = abs(process.create_time() - started) < 1e-3
        return same and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _stop_process(pid: int, started: float, grace: float = 20.0) -> None:
    """SIGTERM the server's process group (a server with workers has children), wait for
    a graceful stop, then SIGKILL."""
    if not _alive(pid, started):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid, started):
        time.sleep(0.1)
    if _alive(pid, started):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)  # our own child (in-process runs): no zombie left
    except (ChildProcessError, OSError):
        pass


class ServersGoneError(DeterministicError):
    """The recorded sandbox servers are not running: only a new setup brings them back."""


def check_running(servers: Servers) -> None:
    """Raise ServersGoneError naming each recorded server that is no longer running."""
    gone = [
        f"the {role} server (pid {s.pid}, {s.url})"
        for role, s in servers.running.items()
        if not _alive(s.pid, s.started)
    ]
    if gone:
        raise ServersGoneError(
            f"{' and '.join(gone)} is no longer running (stopped by a teardown, its "
            "max_minutes, or a crash): clear the sandbox_servers task with this one, so "
            "that the servers are started again"
        )


def stop_servers(servers: Servers) -> list[str]:
    """Stop every recorded server that is still running, and any process the sandbox
    folder records as started (a server that never finished loading), then remove the
    folder; the roles stopped."""
    stopped = []
    for role, server in servers.running.items():
        if _alive(server.pid, server.started):
            stopped.append(role)
        _stop_process(server.pid, server.started)
    for pid, started in _spawned(Path(servers.root)):
        _stop_process(pid, started)
    shutil.rmtree(servers.root, ignore_errors=True)
    return stopped


def _spawned(root: Path) -> list[tuple[int, float]]:
    try:
        lines = (root / SPAWNED).read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            pid, started = line.split()
            found.append((int(pid), float(started)))
        except ValueError:
            continue  # a line cut short by a kill
    return found


def stop_leftovers(root: Path) -> list[str]:
    """Stop what an earlier try recorded under ``root`` (its teardown never ran)."""
    try:
        servers = Servers.from_dict(json.loads((root / STATE).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        servers = Servers(str(root))  # none had loaded: the spawned file names them
    return stop_servers(servers)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _publish(model: ModelToServe, root: Path) -> Path:
    """A private serving root holding only this model, as version 1; the SavedModel is
    linked, not copied (committed artifacts never change)."""
    serving_root = root / model.role
    folder = serving_root / "sandbox" / str(VERSION)
    folder.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(Path(model.local_path).resolve(), folder, target_is_directory=True)
    schema_file(root, model.role).write_text(json.dumps(model.schema))
    return serving_root


def _spawn(config: ServerConfig, policy: SandboxSpec, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, **config.to_env()}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cpus = ",".join(str(cpu) for cpu in policy.cpus)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mlrail.serving.sandbox.launch", str(policy.workers), cpus],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown stops it and its workers
        )


LOAD_FAILED = '"event": "load_failed"'  # the server's log line for a version it cannot load


def _load_error(log_path: Path, offset: int) -> str | None:
    """The server's own words for a model it could not load, from its log since ``offset``."""
    with open(log_path, "rb") as log:
        log.seek(offset)
        for line in log.read().decode(errors="replace").splitlines():
            if LOAD_FAILED in line:
                try:
                    return json.loads(line).get("error") or line
                except ValueError:
                    return line
    return None


def _wait_until_loaded(
    process: subprocess.Popen, url: str, seconds: float, log_path: Path, offset: int
) -> str | None:
    """None once the server answers ready; else why it did not. A server that cannot load
    its model stays up (it would serve other versions), so its log says so."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with code {process.returncode} while loading"
        if _ready(url):
            return None
        error = _load_error(log_path, offset)
        if error is not None:
            return f"could not load the model: {error}"
        time.sleep(0.2)
    return f"not ready after {seconds:.0f} s (sandbox.max_loading_seconds)"


def start_server(
    model: ModelToServe, root: Path, policy: SandboxSpec, serving: ServingSpec
) -> RunningServer:
    """Start one server (batching and body limit as production's ``serving:`` section) and
    wait until its model answers, trying ``policy.load_tries`` times; a server that did
    not come up is stopped before the next try."""
    import psutil

    serving_root = _publish(model, root)
    log_path = root / f"{model.role}.log"
    failures = []
    for attempt in range(1, policy.load_tries + 1):
        port = free_port()
        config = ServerConfig(
            model="sandbox",
            serving_root=str(serving_root),
            port=port,
            log_root=None,  # the sandbox's requests are not production's
            max_batch_size=serving.max_batch_size,
            batch_timeout_micros=serving.batch_timeout_micros,
            max_body_bytes=serving.max_request_bytes,
            schema_file=str(schema_file(root, model.role)),
            max_lifetime_seconds=policy.max_minutes * 60,
        )
        began = time.monotonic()
        offset = log_path.stat().st_size if log_path.exists() else 0
        process = _spawn(config, policy, log_path)
        url = f"http://127.0.0.1:{port}"
        started = psutil.Process(process.pid).create_time()
        with open(root / SPAWNED, "a") as spawned:
            spawned.write(f"{process.pid} {started!r}\n")
        failure = _wait_until_loaded(process, url, policy.max_loading_seconds, log_path, offset)
        if failure is None:
            return RunningServer(
                role=model.role,
                url=url,
                pid=process.pid,
                started=started,
                model_artifact_id=model.model_artifact_id,
                model_bytes=directory_bytes(Path(model.local_path)),
                load_seconds=round(time.monotonic() - began, 3),
                tries=attempt,
                version=model.version,
                log_path=str(log_path),
            )
        _stop_process(process.pid, started)
        failures.append(f"try {attempt}: {failure}")
        if failure.startswith("could not load"):
            break  # the model itself is broken: another try loads it no better
    tail = log_path.read_text(errors="replace")[-2000:]
    message = f"the {model.role} model's server did not come up ({'; '.join(failures)})"
    if all(f.split(": ", 1)[1].startswith(("exited", "could not load")) for f in failures):
        raise ModelLoadError(f"{message}. Its log ends:\n{tail}")
    raise SandboxStartError(f"{message}. Its log ends:\n{tail}")


def start_servers(
    models: list[ModelToServe],
    root: Path,
    policy: SandboxSpec,
    serving: ServingSpec,
    run: str = "",
) -> Servers:
    """Start a server per model, side by side, held by this process (after stopping any
    run's orphans and an earlier try's leftovers under ``root``); if any fails, stop them
    all, then raise the first model's error. ``run`` names the run in orphan reports."""
    from concurrent.futures import ThreadPoolExecutor

    from mlrail.serving.sandbox.orphans import claim, locked, stop_orphans

    _check_cpus(policy.cpus)
    stop_orphans()
    with locked(root.parent):
        stop_leftovers(root)
        root.mkdir(parents=True)
        claim(root, run or root.name)
    servers = Servers(str(root))
    try:
        with ThreadPoolExecutor(len(models)) as pool:
            starting = [pool.submit(start_server, m, root, policy, serving) for m in models]
            for model, future in zip(models, starting, strict=True):
                servers.running[model.role] = future.result()
        (root / STATE).write_text(json.dumps(servers.to_dict()))
    except BaseException:
        stop_servers(servers)
        raise
    return servers


@contextmanager
def running(
    models: list[ModelToServe], root: Path, policy: SandboxSpec, serving: ServingSpec
) -> Iterator[Servers]:
    """The servers for the length of a ``with`` block (tests, benchmarks)."""
    servers = start_servers(models, root, policy, serving)
    try:
        yield servers
    finally:
        stop_servers(servers)


def rss_bytes(server: RunningServer) -> tuple[int, int]:
    """The server's resident memory now and at its peak (the kernel's high-water mark,
    which covers loading), summed over its worker processes; (0, 0) once it is gone."""
    import psutil

    try:
        parent = psutil.Process(server.pid)
        processes = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    now = peak = 0
    for process in processes:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        now += int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
        peak += int(fields.get("VmHWM", "0 kB").split()[0]) * 1024
    return now, peak
