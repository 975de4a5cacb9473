"""Found, not listed: what a package's modules define of one kind (the components of
mlrail.components, the DAG kinds of this package), so no list of the pipeline's parts has
to mirror the code. Imports nothing of the pipeline model: mlrail.components uses it too."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any


def defined_in(package: str, path: list[str], kind: type) -> dict[str, Any]:
    """Every instance of ``kind`` that the modules of ``package`` (at ``path``) define at
    module level, by its ``name``."""
    found = {}
    for info in pkgutil.iter_modules(path):
        module = importlib.import_module(f"{package}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, kind):
                found[value.name] = value
    return found
