"""The one place that decides which loaded version answers a request.

Today: the version or alias (registry label) asked for, else the latest loaded version,
always on the ``stable`` arm. Traffic strategies (canary, blue-green, shadow, bandit) from
the endpoint record replace ``choose``'s default branch; nothing else in the request path
knows how a version was picked.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlrail.serving.model import LoadedVersion
from mlrail.serving.payload import InputError, clip
from mlrail.serving.repository import ModelRepository

STABLE = "stable"


@dataclass(frozen=True)
class Route:
    version: LoadedVersion
    arm: str


class Router:
    def __init__(self, repository: ModelRepository):
        self.repository = repository

    def resolve(
        self, model: str, version: str | None = None, label: str | None = None
    ) -> LoadedVersion:
        """The loaded version named by ``version`` or ``label``, else the latest; InputError
        (404) names the model, label or version that is not there."""
        repo = self.repository
        if model != repo.model:
            raise InputError(
                f"model {clip(model)!r} is not served here (this server serves {repo.model!r})",
                404,
            )
        loaded = repo.versions  # one snapshot: a swap during this request changes nothing
        if label is not None:
            aliases = repo.aliases
            if label not in aliases:
                raise InputError(
                    f"label {clip(label)!r} of model {model!r} is not set; "
                    f"labels: {sorted(aliases)}",
                    404,
                )
            number = aliases[label]
        elif version is not None:
            # isdigit alone admits "²" and digits int() refuses past 4300 of them.
            if not (version.isascii() and version.isdigit()) or len(version) > 18:
                raise InputError(f"version {version[:40]!r} of model {model!r} is not a number")
            number = int(version)
        elif loaded:
            return loaded[max(loaded)]
        else:
            raise InputError(f"model {model!r} has no version loaded yet", 503)
        if number not in loaded:
            where = f" (label {label!r})" if label is not None else ""
            raise InputError(
                f"version {number}{where} of model {model!r} is not available; "
                f"serving versions {sorted(loaded)}",
                404,
            )
        return loaded[number]

    def choose(
        self,
        model: str,
        version: str | None = None,
        label: str | None = None,
        request_id: str | None = None,
    ) -> Route:
        """Which version and arm answer this request (``request_id`` is for sticky
        strategies; the default ignores it)."""
        return Route(self.resolve(model, version, label), STABLE)
