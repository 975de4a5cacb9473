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


def within(
    field_path: str, value: Any, low: float, high: float, what: str, *, integer: bool = False
) -> None:
    """Refuse ``value`` unless it is a number (an integer when ``integer``; never a bool)
    from ``low`` to ``high``: the message reads ``expected <what> from <low> to <high>``.

    Both bounds are finite, so this refuses NaN (every comparison with it is false) and the
    infinities too: a spec's number is always meant, never "no limit"."""
    kinds = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise SpecError(field_path, f"{what} from {_plain(low)} to {_plain(high)}", value)


def _plain(number: float) -> str:
    """1000000 as 1000000, not 1e+06; 0.5 as 0.5."""
    return str(int(number)) if float(number).is_integer() else repr(number)


def distinct(field_path: str, values: list, what: str) -> None:
    """Refuse a list that names one value twice (``field[i]`` is the second time)."""
    seen = set()
    for i, value in enumerate(values):
        if value in seen:
            raise SpecError(f"{field_path}[{i}]", f"distinct {what}", value)
        seen.add(value)
