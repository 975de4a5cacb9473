"""Dataset fingerprints: which files a data source resolves to, and whether they changed.

A fingerprint covers every file the source pattern matches: its path, size, and its
modification time (local) or object generation / checksum (object stores). With
``content_hash=True`` the bytes are hashed too, which catches an edit that keeps size and
mtime, at the cost of reading the data. A new fingerprint is a new dataset version.

The Dataset record keeps a bounded summary of the files (their count, total bytes, a
digest over the whole listing and the first ``LISTED_FILES`` of them), never the whole
listing: a source of 37,000 files once stored a 6.4 MB row in the metadata.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fsspec

LISTED_FILES = 20
# Object-store metadata that changes whenever the object's bytes change.
_VERSION_KEYS = (
    "generation",
    "md5Hash",
    "crc32c",
    "ETag",
    "etag",
    "mtime",
    "LastModified",
    "created",
)


@dataclass(frozen=True)
class FileState:
    path: str
    size: int
    version: str
    content_sha256: str | None = None


@dataclass(frozen=True)
class DatasetFingerprint:
    source: str
    files: tuple[FileState, ...]
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        payload = json.dumps(
            [[f.path, f.size, f.version, f.content_sha256] for f in self.files], sort_keys=True
        )
        object.__setattr__(self, "fingerprint", hashlib.sha256(payload.encode()).hexdigest())

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def describe(self) -> dict[str, Any]:
        """The Dataset record's properties: a summary whose size does not grow with the
        number of files (``files`` holds the first ``LISTED_FILES``; ``listing_sha256``
        covers every path and size, in order)."""
        listing = hashlib.sha256()
        for f in self.files:
            listing.update(f"{f.path}\t{f.size}\n".encode())
        return {
            "source": self.source,
            "file_count": len(self.files),
            "total_bytes": self.total_bytes,
            "listing_sha256": listing.hexdigest(),
            "files": [f.__dict__ for f in self.files[:LISTED_FILES]],
            "files_truncated": len(self.files) > LISTED_FILES,
        }


def _file_version(info: dict[str, Any]) -> str:
    for key in _VERSION_KEYS:
        if info.get(key) is not None:
            value = info[key]
            return f"{key}={value.isoformat() if hasattr(value, 'isoformat') else value}"
    raise ValueError(f"cannot tell versions of {info.get('name')} apart: no mtime or generation")


def _sha256(fs: fsspec.AbstractFileSystem, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def resolve_files(source: str) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    """The files a source (path, directory or glob; local or any fsspec URL) refers to."""
    fs, path = fsspec.core.url_to_fs(source)
    if fs.isdir(path):
        matches = [p for p in fs.find(path) if not p.rsplit("/", 1)[-1].startswith((".", "_"))]
    else:
        matches = fs.glob(path) if any(ch in path for ch in "*?[") else [path]
    matches = sorted(p for p in matches if fs.isfile(p))
    if not matches:
        raise FileNotFoundError(f"data source {source!r} matches no files")
    return fs, matches


def fingerprint_dataset(
    source: str, content_hash: bool = False, check: Callable[[str], None] | None = None
) -> DatasetFingerprint:
    """Fingerprint every file matched by ``source``; ``check(path)`` is called with each
    file's local path first (mlrail.data.dataset: a file a symlink takes out of the
    allowed data roots is refused before anything is read)."""
    fs, paths = resolve_files(source)
    if check is not None and is_local(fs):
        for path in paths:
            check(path)
    states = []
    for path in paths:
        info = fs.info(path)
        states.append(
            FileState(
                path=fs.unstrip_protocol(path),
                size=int(info["size"]),
                version=_file_version(info),
                content_sha256=_sha256(fs, path) if content_hash else None,
            )
        )
    return DatasetFingerprint(source=source, files=tuple(states))
