"""SpecError and the checks every section of the spec uses to raise it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from mlrail.errors import DeterministicError


class SpecError(DeterministicError, ValueError):
    """A pipeline spec is invalid; the message names the file, the field and the expectation.

    Sections raise it with the field's path inside the section (``numeric``,
    ``stages[0].batch_size`` ...); the loader adds where the section sits, so the message
    names the whole path (``data.features.numeric``) and, from the YAML, its line
    (``taxi_tips.yaml:12: field 'train.module': ...``)."""

    def __init__(
        self,
        field_path: str,
        expected: str,
        got: Any = dataclasses.MISSING,
        file=None,
        line: int | None = None,
    ):
        self.field_path, self.expected, self.got = field_path, expected, got
        self.file, self.line = file, line
        super().__init__(self._message())

    def _message(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        got = "" if self.got is dataclasses.MISSING else f", got {self.got!r}"
        return f"{where}field '{self.field_path or '<top level>'}': expected {self.expected}{got}"

    def in_file(self, file: str | Path, line: int | None = None) -> SpecError:
        return SpecError(self.field_path, self.expected, self.got, str(file), line)

    def under(self, prefix: str) -> SpecError:
        """The same error for a section that sits at ``prefix``."""
        return SpecError(
            join(prefix, self.field_path), self.expected, self.got, self.file, self.line
        )


def join(prefix: str, field_path: str) -> str:
    if not prefix:
        return field_path
    if not field_path:
        return prefix
    return prefix + ("" if field_path.startswith("[") else ".") + field_path


def one_of(field_path: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise SpecError(field_path, f"one of {', '.join(map(str, allowed))}", value)


def positive(field_path: str, value: int) -> None:
    if value <= 0:
        raise SpecError(field_path, "a positive integer", value)


def not_negative(field_path: str, value: int) -> None:
    if value < 0:
        raise SpecError(field_path, "zero or a positive integer", value)


def share(field_path: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise SpecError(field_path, "a share between 0 and 1", value)
