"""Artifact store on fsspec: run-scoped URIs, atomic commit, readers refuse partial artifacts.

An artifact is a directory. It is written into a staging location, then committed:

* local filesystem: the staging directory is a sibling of the final one and is renamed in
  one step, so the final path either does not exist or is complete;
* object stores (gs://, s3://, memory://): files are uploaded to the final prefix.

In both cases a completion marker (``_MLRAIL_COMMITTED``) is written last, listing every
file with its size and the artifact's content fingerprint. Readers check the marker,
because on object stores a prefix can be visible while its upload is still under way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import fsspec

from mlrail.store.staging import staging_path

MARKER = "_MLRAIL_COMMITTED"


class UncommittedArtifactError(RuntimeError):
    """Raised when a reader asks for an artifact whose commit marker is missing or wrong."""


@dataclass(frozen=True)
class CommitInfo:
    uri: str
    fingerprint: str
    files: dict[str, int]


@dataclass
class StagedArtifact:
    """What ``ArtifactStore.write`` yields: fill ``path``; ``info`` is set once committed."""

    uri: str
    path: Path
    info: CommitInfo | None = None
    discard: bool = False  # set by the writer when this output is deliberately not produced


def _hash_tree(fs, root: str) -> tuple[str, dict[str, int]]:
    """Content fingerprint and file sizes of every file under ``root`` on ``fs``."""
    outer = hashlib.sha256()
    sizes: dict[str, int] = {}
    prefix = fs._strip_protocol(root).rstrip("/") + "/"
    for path in sorted(fs.find(root)):
        rel = path[len(prefix) :]
        inner = hashlib.sha256()
        with fs.open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                inner.update(block)
        sizes[rel] = fs.size(path)
        outer.update(f"{rel}\0{inner.hexdigest()}\n".encode())
    return outer.hexdigest(), sizes


def _marker(fingerprint: str, files: dict[str, int]) -> str:
    record = {
        "fingerprint": fingerprint,
        "files": files,
        "committed_at": datetime.now(UTC).isoformat(),
    }
    return json.dumps(record, sort_keys=True)


class ArtifactStore:
    """Reads and writes artifacts under one root URL (a local folder or any fsspec URL)."""

    def __init__(self, root: str):
        self.root = root.rstrip("/")
        self.fs, root_path = fsspec.core.url_to_fs(self.root)
        self.is_local = isinstance(self.fs, fsspec.implementations.local.LocalFileSystem)
        if self.is_local:
            self.root = str(Path(root_path).resolve())
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def uri_for(self, *parts: str | int) -> str:
        """Run-scoped URI: ``<root>/<pipeline>/<run>/<component>/<execution>/<output>``."""
        safe = [str(p).replace("/", "_").replace(":", "_") for p in parts]
        return "/".join([self.root, *safe])

    @contextmanager
    def write(self, uri: str) -> Iterator[StagedArtifact]:
        """Yield a local staging directory; commit it to ``uri`` if the block succeeds.

        On any exception the staging directory is removed and nothing appears at ``uri``.
        """
        if self.exists(uri):
            raise FileExistsError(f"artifact {uri} is already committed; artifacts are immutable")
        if self.is_local:
            final = Path(uri)
            final.parent.mkdir(parents=True, exist_ok=True)
            staging = staging_path(final)
            staging.mkdir()
        else:
            staging = Path(tempfile.mkdtemp(prefix="mlrail-staging-"))
        staged = StagedArtifact(uri=uri, path=staging)
        try:
            yield staged
            if not staged.discard:
                staged.info = self._commit(staging, uri)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _commit(self, staging: Path, uri: str) -> CommitInfo:
        fingerprint, files = _hash_tree(fsspec.filesystem("file"), str(staging))
        marker = _marker(fingerprint, files)
        if self.is_local:
            final = Path(uri)
            if final.exists():
                # A previous attempt died between rename and marker: it never committed.
                shutil.rmtree(final)
            os.rename(staging, final)
            self._write_marker(final, marker)
        else:
            self.fs.put(str(staging) + "/", uri, recursive=True)
            self.fs.pipe(f"{uri}/{MARKER}", marker.encode())
        return CommitInfo(uri=uri, fingerprint=fingerprint, files=files)

    def seal(self, uri: str) -> CommitInfo:
        """Commit an artifact that a remote job wrote in place at ``uri`` (a Vertex AI job
        writes its model straight to Cloud Storage): hash what is there, write the marker."""
        if self.exists(uri):
            raise FileExistsError(f"artifact {uri} is already committed; artifacts are immutable")
        fingerprint, files = _hash_tree(self.fs, uri)
        if not files:
            raise UncommittedArtifactError(f"nothing was written to {uri}: no artifact to commit")
        self.fs.pipe(f"{uri}/{MARKER}", _marker(fingerprint, files).encode())
        return CommitInfo(uri=uri, fingerprint=fingerprint, files=files)

    def discard(self, uri: str) -> None:
        """Delete whatever an unfinished (never committed) writer left at ``uri``."""
        if self.exists(uri):
            raise FileExistsError(f"artifact {uri} is committed; committed artifacts stay")
        if self.fs.exists(uri):
            self.fs.rm(uri, recursive=True)

    @staticmethod
    def _write_marker(final: Path, marker: str) -> None:
        tmp = final / f".{MARKER}.tmp"
        tmp.write_text(marker)
        os.replace(tmp, final / MARKER)

    def exists(self, uri: str) -> bool:
        """True when the artifact at ``uri`` is committed."""
        return self.fs.exists(f"{uri}/{MARKER}")

    def commit_info(self, uri: str) -> CommitInfo:
        """Return the commit record of ``uri`` or raise UncommittedArtifactError."""
        try:
            raw = self.fs.cat_file(f"{uri}/{MARKER}")
        except FileNotFoundError:
            raise UncommittedArtifactError(
                f"artifact {uri} has no commit marker: it was never completed (a task died while "
                "writing it) or was deleted. Re-run the task that produces it."
            ) from None
        record = json.loads(raw)
        return CommitInfo(uri=uri, fingerprint=record["fingerprint"], files=record["files"])

    def verify(self, uri: str) -> CommitInfo:
        """Check that every file listed in the marker is present with its committed size."""
        info = self.commit_info(uri)
        for rel, size in info.files.items():
            path = f"{uri}/{rel}"
            if not self.fs.exists(path) or self.fs.size(path) != size:
                raise UncommittedArtifactError(
                    f"artifact {uri} is damaged: {rel} is missing or not {size} bytes as committed"
                )
        return info

    @contextmanager
    def read(self, uri: str) -> Iterator[Path]:
        """Yield a local directory holding the committed artifact at ``uri``."""
        info = self.verify(uri)
        if self.is_local:
            yield Path(uri)
            return
        local = Path(tempfile.mkdtemp(prefix="mlrail-read-"))
        try:
            # File by file from the marker's list: recursive get() nests or not depending
            # on the filesystem and the trailing slash, and the list is what was committed.
            for rel in info.files:
                (local / rel).parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(f"{uri}/{rel}", str(local / rel))
            yield local
        finally:
            shutil.rmtree(local, ignore_errors=True)

    def read_json(self, uri: str, name: str) -> dict:
        """Read one JSON file from a committed artifact."""
        self.commit_info(uri)
        return json.loads(self.fs.cat_file(f"{uri}/{name}"))
