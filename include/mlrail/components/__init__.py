"""Pipeline components: each module holds one executor and its ``Component`` definition."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from mlrail.pipeline.discovery import defined_in

if TYPE_CHECKING:
    from mlrail.store.runner import Component


def all_components() -> list[Component]:
    """Every Component defined in this package's modules (found, not listed)."""
    from mlrail.store.runner import Component

    found = defined_in(__name__, __path__, Component)
    return sorted(found.values(), key=lambda c: c.name)


@functools.cache
def component_named(name: str) -> Component | None:
    """The Component called ``name`` (None if there is none)."""
    return next((c for c in all_components() if c.name == name), None)
