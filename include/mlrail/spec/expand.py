"""``${VAR}`` in configuration values: one rule for pipeline specs and airflow_settings.yaml.

* ``${VAR}`` is the value of environment variable ``VAR``; an unset variable is an error
  naming where it was used (a silent empty string once made a data source the project
  root);
* ``${VAR:-default}`` is ``default`` when ``VAR`` is unset or empty, as in a shell;
* ``$${`` is a literal ``${``.

Only string values are expanded, never keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class UnsetVariable(KeyError):
    """``${VAR}`` without a default names a variable that is not set."""

    def __init__(self, where: str, variable: str):
        self.where, self.variable = where, variable
        super().__init__(variable)

    def __str__(self) -> str:
        return (
            f"{self.where}: environment variable {self.variable} is not set "
            f"(set it, or give a default: ${{{self.variable}:-default}})"
        )


def expand_text(text: str, where: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every ``${VAR}`` replaced (see the module docstring)."""
    environ = os.environ if environ is None else environ

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if default is not None:
            return value or default
        if value is None:
            raise UnsetVariable(where, name)
        return value

    return _VAR.sub(substitute, text)


def expand(value: Any, where: str = "", environ: Mapping[str, str] | None = None) -> Any:
    """Expand every string inside ``value`` (mappings and lists walked); ``where`` is the
    dotted path of ``value``, so an error names the field (``data.source``,
    ``train.stages[0].module``)."""
    if isinstance(value, str):
        return expand_text(value, where or "<top level>", environ)
    if isinstance(value, list):
        return [expand(v, f"{where}[{i}]", environ) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {
            k: expand(v, f"{where}.{k}" if where else str(k), environ) for k, v in value.items()
        }
    return value
