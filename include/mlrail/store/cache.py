"""Cache keys: component name + code version + input fingerprints + normalized parameters."""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
from collections.abc import Iterable, Iterator, Mapping
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


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.AST, package: str) -> Iterator[str]:
    """Every module name an import statement in ``tree`` may load, at any depth (imports
    inside functions count: they run when the function does), except under ``if
    TYPE_CHECKING:``, which never runs. ``from a import b`` yields ``a`` and ``a.b``."""
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))


@functools.cache
def _parsed(source: str) -> ast.AST:
    # Keyed by the text itself: reading a file again is cheap, parsing it again is not.
    return ast.parse(source)


def _source_of(name: str) -> tuple[str, str, ast.AST] | None:
    """(origin path, source, syntax tree) of module ``name``; None if it is not a module
    with Python source (a name imported from a module, a namespace package)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    source = Path(spec.origin).read_text()
    return spec.origin, source, _parsed(source)


def module_closure(root: str) -> dict[str, str]:
    """Source of ``root`` and of every module of its top-level package that it imports,
    directly or through other modules, with the packages along the way (importing a
    module runs its packages' ``__init__``): ``{module name: source}``."""
    top = root.split(".")[0]
    sources: dict[str, str] = {}
    pending = [root]
    while pending:
        name = pending.pop()
        if name in sources or name.split(".")[0] != top:
            continue
        found = _source_of(name)
        if found is None:
            continue
        origin, source, tree = found
        sources[name] = source
        package = name if origin.endswith("__init__.py") else name.rpartition(".")[0]
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        pending.extend(parents)
        pending.extend(_imported_names(tree, package))
    return sources


def code_version(modules: Iterable[str] = (), files: Iterable[str | Path] = ()) -> str:
    """Hash of the source of ``modules`` (import names), of every module of their package
    they import (see ``module_closure``), and of ``files`` (paths, e.g. a model module).

    Derived from the imports, never listed by hand: a helper that a component uses
    through another module is part of its version, so editing it misses the cache."""
    digest = hashlib.sha256()
    sources: dict[str, str] = {}
    for root in modules:
        sources.update(module_closure(root))
    for name in sorted(sources):
        digest.update(f"module {name}\n{sources[name]}".encode())
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
