"""Cache keys: component name + code version + input fingerprints + normalized parameters."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def normalize(value: Any) -> Any:
    """Canonical JSON-able form: sorted mappings, lists for tuples, 2.0 -> 2, paths as str."""
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"parameter value {value!r} of type {type(value).__name__} is not JSON-able")


def code_version(modules: Iterable[str] = (), files: Iterable[str | Path] = ()) -> str:
    """Hash of the source of ``modules`` (import names) and ``files`` (paths)."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        source = inspect.getsource(importlib.import_module(name))
        digest.update(f"module {name}\n{source}".encode())
    for path in sorted(str(f) for f in files):
        digest.update(f"file {Path(path).name}\n".encode() + Path(path).read_bytes())
    return digest.hexdigest()[:16]


def cache_key(
    component: str,
    component_code_version: str,
    input_fingerprints: Mapping[str, str],
    parameters: Mapping[str, Any],
) -> str:
    """Key under which a completed execution can be reused."""
    payload = json.dumps(
        {
            "component": component,
            "code_version": component_code_version,
            "inputs": normalize(dict(input_fingerprints)),
            "parameters": normalize(dict(parameters)),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()
