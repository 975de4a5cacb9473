"""YAML files of the spec (``<pipeline>.yaml``, ``<pipeline>.schema.yaml``) read with the
line of every field, so an error points at the line to edit, not only at the field."""

from __future__ import annotations

import re
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


class _Loader(yaml.SafeLoader):
    """PyYAML reads YAML 1.1, where ``1e-3`` and ``1.0e12`` are strings (a float needs a dot
    and a signed exponent): ``learning_rate: 1e-3`` would be refused as "not a number", or
    reach a model as text through ``hyperparameters``. Read them as YAML 1.2 and JSON do."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _record(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = join(path, str(key.value))
            if sub in lines and key.tag != "tag:yaml.org,2002:merge":
                # YAML keeps the last value silently: a second `workers:` further down
                # would win unseen, and errors would point at the first.
                line = key.start_mark.line + 1
                raise SpecError(sub, f"the field once (also on line {lines[sub]})", line=line)
            lines[sub] = key.start_mark.line + 1
            _record(value, sub, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, f"{path}[{index}]", lines)


def read_document(path: str | Path, text: str | None = None) -> Document:
    """Parse the YAML file at ``path`` (or ``text``, read from it); a syntax error is a
    SpecError naming the file and the line."""
    text = Path(path).read_text() if text is None else text
    loader = _Loader(text)
    lines: dict[str, int] = {}
    try:
        node = loader.get_single_node()
        if node is not None:  # before construction, which folds `<<` merges into the keys
            _record(node, "", lines)
        value = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err)
        raise SpecError(
            "<yaml>", f"valid YAML ({problem})", file=str(path), line=mark and mark.line + 1
        ) from None
    except SpecError as err:
        raise err.in_file(path, err.line) from None
    except ValueError as err:  # Python refuses an integer of more than 4300 digits
        raise SpecError("<yaml>", f"valid YAML ({err})", file=str(path)) from None
    finally:
        loader.dispose()
    return Document(str(path), value, lines)
