"""The pipeline model: every DAG kind a spec may declare, as a graph of stages
(mlrail.pipeline.model), found in this package's modules rather than listed."""

from __future__ import annotations

import functools
from typing import Any

from mlrail.pipeline.discovery import defined_in
from mlrail.pipeline.model import Graph, Kind


@functools.cache
def all_kinds() -> tuple[Kind, ...]:
    """Every DAG kind defined in this package's modules, by name."""
    found = defined_in(__name__, __path__, Kind)
    return tuple(found[name] for name in sorted(found))


def graphs(spec: Any, kinds: tuple[Kind, ...] | None = None) -> list[Graph]:
    """The graph of every DAG kind ``spec`` declares (of ``kinds``; default: all)."""
    return [kind.graph(spec) for kind in kinds or all_kinds() if kind.applies(spec)]


def stage_order() -> tuple[str, ...]:
    """Components in the order the DAGs run them, every kind's in turn: how pages list a
    run's stages."""
    return tuple(dict.fromkeys(c for kind in all_kinds() for c in kind.components()))
