"""The versions of one model in the serving root, loaded and kept current.

A version is served only when it was completely pushed: its folder is named by a number
and holds ``saved_model.pb``. Push builds each copy in a hidden sibling, writes
saved_model.pb last and renames the folder into place (mlrail.components.push), so a
folder without it is a push under way or one that died, and is never loaded. A version
that has it and still fails to load (copied by hand, saved_model.pb before the variables)
is retried with backoff and shown with its error in the status route until it loads.

A poller thread rescans the folder every ``poll_seconds``: a new version is loaded in the
background and only then made visible (one dict swap), so requests never wait for a load
and requests already holding the old version finish on it. The registry's aliases are
re-read on the same beat.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mlrail.serving.model import LoadedVersion

log = logging.getLogger(__name__)
MARKER = "saved_model.pb"
MAX_BACKOFF_SECONDS = 60.0


def committed_versions(folder: Path) -> list[int]:
    """Version numbers under ``folder`` that were completely pushed, ascending."""
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        if child.name.isdigit() and (child / MARKER).is_file():
            found.append(int(child.name))
    return sorted(found)


class Registry:
    """What the server reads from the metadata store: aliases and each version's schema.

    The store is opened read-only and never created or migrated: the server is a reader of
    what pipelines record (DESIGN.md), and a server started before any pipeline ran must
    not leave an empty store behind. Without a store (a fresh home, or a Vertex container
    holding only the SavedModel) there are no aliases and the schema comes from the
    signature; the store is looked for again on each poll, so one created later (the first
    pipeline run) is picked up without a restart. A ``schema_file`` is the schema of every
    version (the sandbox serves a candidate before it is registered).
    """

    def __init__(
        self, metadata_url: str | None, artifact_root: str | None, schema_file: str | None = None
    ):
        self._env, self._schema = None, None
        self._url, self._artifact_root = metadata_url, artifact_root or ""
        if schema_file:
            self._schema = json.loads(Path(schema_file).read_text())
        self._open()

    def _open(self):
        """The stores, opened read-only; None while the metadata store does not exist."""
        if self._env is None and self._url:
            from mlrail.store.artifacts import ArtifactStore
            from mlrail.store.metadata import MetadataStore
            from mlrail.store.runner import Env
            from mlrail.store.settings import Settings

            try:
                store = MetadataStore(self._url, read_only=True)
            except LookupError:  # no pipeline has recorded anything there yet
                return None
            settings = Settings(self._artifact_root, self._url, "")
            self._env = Env(settings, ArtifactStore(self._artifact_root), store)
            log.info(json.dumps({"event": "registry_opened", "read_only": True}))
        return self._env

    def aliases(self, model: str) -> dict[str, int]:
        env = self._open()
        if env is None:
            return {}
        from mlrail.store.registry import ModelRegistry

        return ModelRegistry(env.metadata).aliases(model)

    def schema(self, model: str, version: int) -> dict | None:
        """The schema the version was trained with (the training execution's input)."""
        if self._schema is not None:
            return self._schema
        env = self._open()
        if env is None:
            return None
        from mlrail.store.lineage import trained_schema
        from mlrail.store.registry import ModelRegistry

        try:
            entry = ModelRegistry(env.metadata).get(model, version, reserved=True)
        except LookupError:
            return None  # copied into the serving root by hand: the signature will do
        return trained_schema(env, entry.model_artifact_id)

    def close(self) -> None:
        if self._env is not None:
            self._env.metadata.close()


@dataclass(frozen=True)
class LoadFailure:
    """A committed version that failed to load, and when it is tried again."""

    error: str
    attempts: int
    retry_at: float  # time.monotonic()

    def message(self) -> str:
        left = max(0.0, self.retry_at - time.monotonic())
        return f"{self.error[:500]} (attempt {self.attempts}; next try in {left:.0f} s)"


def _backoff(poll_seconds: float, attempts: int) -> float:
    # Doubling from the poll interval up to a minute: a version whose saved_model.pb was
    # copied before its variables (a hand copy, an rsync) loads a poll or two later, and a
    # truly broken one costs a load attempt a minute, not one per poll.
    return min(poll_seconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)


class ModelRepository:
    """Loaded versions of one model; ``versions``, ``aliases`` and ``failed`` are swapped,
    never edited."""

    def __init__(
        self,
        model: str,
        serving_root: str,
        registry: Registry,
        poll_seconds: float = 2.0,
    ):
        self.model, self.folder = model, Path(serving_root) / model
        self.registry, self.poll_seconds = registry, poll_seconds
        self.versions: dict[int, LoadedVersion] = {}
        self.aliases: dict[str, int] = {}
        self.failed: dict[int, LoadFailure] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Load what was pushed since the last scan (and retry, with backoff, what failed
        to load), drop what was removed, re-read aliases."""
        on_disk = committed_versions(self.folder)
        current, failed = dict(self.versions), dict(self.failed)
        now = time.monotonic()
        for version in on_disk:
            if version in current or (version in failed and now < failed[version].retry_at):
                continue
            loaded = self._load(version, failed)
            if loaded is not None:
                current[version] = loaded
        for version in set(current) - set(on_disk):
            del current[version]
        for version in set(failed) - set(on_disk):
            del failed[version]
        if len(current) > len(self.versions):
            # A loaded TensorFlow model is some 400,000 Python objects; left to the
            # collector, a burst of new connections set off full collections that stalled
            # the server ~190 ms (the p99 at 32 clients). Frozen, collections skip them.
            gc.collect()
            gc.freeze()
        self.versions, self.failed = current, failed
        try:
            self.aliases = self.registry.aliases(self.model)
        except Exception as err:  # the database may blink; keep the last aliases known
            log.warning(json.dumps({"event": "aliases_unavailable", "error": str(err)}))

    def _load(self, version: int, failed: dict[int, LoadFailure]) -> LoadedVersion | None:
        try:
            schema = self.registry.schema(self.model, version)
            loaded = LoadedVersion.load(self.model, version, self.folder / str(version), schema)
        except Exception as err:  # a broken version must not stop the others serving
            attempts = failed[version].attempts + 1 if version in failed else 1
            retry_at = time.monotonic() + _backoff(self.poll_seconds, attempts)
            failed[version] = LoadFailure(f"{type(err).__name__}: {err}", attempts, retry_at)
            log.error(
                json.dumps(
                    {
                        "event": "load_failed",
                        "version": version,
                        "attempt": attempts,
                        "error": str(err)[:2000],
                    }
                )
            )
            return None
        failed.pop(version, None)
        log.info(json.dumps({"event": "loaded", "model": self.model, "version": version}))
        return loaded

    def start(self) -> None:
        """Load what is there now, then keep polling in a daemon thread."""
        self.refresh()
        self._thread = threading.Thread(target=self._poll, name="mlrail-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:
                log.exception("polling the serving root failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.registry.close()
