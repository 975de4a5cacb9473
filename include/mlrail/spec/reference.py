"""The spec's reference, derived from the spec's code: every field of every section with
its type, its default and one line of meaning, read from the dataclasses in this package
(the meaning is the field's comment: on its line, else the first sentence of the comment
just above it). ``python -m mlrail spec-reference`` prints it; docs/spec.md is its output,
kept equal to the code by a test, so the reference cannot drift from the spec.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

from mlrail.spec.pipeline import PipelineSpec

HIDDEN = {"path", "digest"}  # set by the loader, not written in a spec
_FIELD = re.compile(r"^    (\w+):")


@dataclasses.dataclass(frozen=True)
class Entry:
    path: str  # e.g. train.strategy; evaluation.thresholds.<metric>.min
    type: str
    default: str
    meaning: str


def _comments(cls: type) -> dict[str, str]:
    """Each field's comment in the class source: the one on its line, else the first
    sentence of the block just above it."""
    found, above = {}, []
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("#").strip())
            continue
        match = _FIELD.match(line)
        if match:
            trailing = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            block = " ".join(above)
            # The block's first sentence: up to a period that a capital letter follows.
            found[match[1]] = trailing or re.split(r"(?<=\.)\s+(?=[A-Z])", block, maxsplit=1)[0]
        above = []
    return found


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return "required"
    if dataclasses.is_dataclass(value):
        return "(its fields below)"
    return "empty" if value in ("", [], {}) else repr(value)


def _nested(annotation: str, known: dict[str, type]) -> tuple[type, str] | None:
    """A spec dataclass inside a field's type, and how its fields are addressed:
    ``Section`` -> ``.``, ``list[Stage]`` -> ``[].``, ``dict[str, Threshold]`` ->
    ``.<key>.``."""
    for name, cls in known.items():
        if annotation == name:
            return cls, "."
        if annotation == f"list[{name}]":
            return cls, "[]."
        if annotation == f"dict[str, {name}]":
            return cls, ".<metric>."
    return None


def _spec_classes() -> dict[str, type]:
    import mlrail.spec.pipeline as pipeline
    import mlrail.spec.sandbox as sandbox
    import mlrail.spec.serving as serving

    return {
        name: value
        for module in (pipeline, serving, sandbox)
        for name, value in vars(module).items()
        if dataclasses.is_dataclass(value) and value.__module__ == module.__name__
    }


def entries(cls: type = PipelineSpec, prefix: str = "") -> list[Entry]:
    """Every field reachable from ``cls``, depth first, in declaration order."""
    known, comments, found = _spec_classes(), _comments(cls), []
    for field in dataclasses.fields(cls):
        if field.name in HIDDEN:
            continue
        path = f"{prefix}{field.name}"
        annotation = str(field.type)
        found.append(Entry(path, annotation, _default(field), comments.get(field.name, "")))
        inner = _nested(annotation, known)
        if inner is not None:
            found += entries(inner[0], path + inner[1])
    return found


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|")


def reference_markdown(choices: dict[str, list[str]] | None = None) -> str:
    """docs/spec.md: one table of every field. ``choices``: the values a field takes from
    a registry outside the spec (``train.strategy``: mlrail.training.strategies), listed
    after its meaning (mlrail.cli passes them)."""
    choices = choices or {}
    lines = [
        "# Pipeline spec reference",
        "",
        "Every field of a pipeline spec (`include/pipelines/<name>.yaml`), its type, its",
        "default and what it means. Generated from the spec's dataclasses",
        "(`include/mlrail/spec`) by `python -m mlrail spec-reference > docs/spec.md`;",
        "`tests/include/spec/test_reference.py` fails when this file and the code differ.",
        "Only `pipeline`, `data.source` and `data.label` are required; a wrong value fails",
        "when the spec loads, naming the file, the line and the field.",
        "",
        "| field | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for e in entries():
        meaning = e.meaning
        if e.path in choices:
            meaning += f" (one of: {', '.join(choices[e.path])})"
        cells = (f"`{e.path}`", f"`{_cell(e.type)}`", _cell(e.default), _cell(meaning))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
