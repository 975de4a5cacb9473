"""YAML files of the spec (``<pipeline>.yaml``, ``<pipeline>.schema.yaml``) read with the
line of every field, so an error points at the line to edit, not only at the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlrail.spec.errors import SpecError, join


@dataclass(frozen=True)
class Document:
    """A parsed YAML file: its value and the line (1-based) of each field path in it
    (``train.module``, ``train.stages[0]``; ``""`` is the document itself)."""

    file: str
    value: Any
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, field_path: str) -> int | None:
        """The line of ``field_path``, or of the nearest enclosing field the file has (a
        missing field is reported where its section starts)."""
        path = field_path
        while path not in self.lines and path:
            cut = max(path.rfind("."), path.rfind("["))
            path = path[: max(cut, 0)]
        return self.lines.get(path)

    def error(self, err: SpecError) -> SpecError:
        """``err`` (a field path inside this document) naming this file and the line."""
        return err.in_file(self.file, self.line_of(err.field_path))


def _record(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = join(path, str(key.value))
            lines.setdefault(sub, key.start_mark.line + 1)
            _record(value, sub, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, f"{path}[{index}]", lines)


def read_document(path: str | Path, text: str | None = None) -> Document:
    """Parse the YAML file at ``path`` (or ``text``, read from it); a syntax error is a
    SpecError naming the file and the line."""
    text = Path(path).read_text() if text is None else text
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        value = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise SpecError(
            "<yaml>", f"valid YAML ({problem})", file=str(path), line=mark and mark.line + 1
        ) from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _record(node, "", lines)
    return Document(str(path), value, lines)
