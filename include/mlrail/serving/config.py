"""Every setting of the model server in one validated dataclass, from arguments, the
pipeline spec's ``serving:`` section or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlrail.spec.serving import ServingSpec


@dataclass(frozen=True)
class ServerConfig:
    """What one server process serves and how.

    ``max_batch_size`` and ``batch_timeout_micros`` are named as TF Serving's batching
    parameters: a model call takes at most ``max_batch_size`` rows and waits at most
    ``batch_timeout_micros`` for more after the first request arrives.
    """

    model: str
    serving_root: str
    metadata_url: str | None = None
    artifact_root: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    max_batch_size: int = ServingSpec.max_batch_size
    batch_timeout_micros: int = ServingSpec.batch_timeout_micros
    max_body_bytes: int = ServingSpec.max_request_bytes
    # A body not whole by then is answered 408 and its connection closed: a client that
    # sends half a body must not hold a connection (and its buffers) for minutes.
    body_timeout_seconds: float = 15.0
    poll_seconds: float = 2.0
    health_route: str = "/health"
    predict_route: str = "/predict"
    log_root: str | None = None  # None: no request log
    sample_rate: float = ServingSpec.sample_rate
    flush_rows: int = ServingSpec.flush_rows
    flush_seconds: float = ServingSpec.flush_seconds
    # The schema every version is checked against, instead of the registry's: the sandbox
    # serves a candidate that is not registered yet.
    schema_file: str | None = None
    max_lifetime_seconds: float | None = None  # stop gracefully after this long (sandbox)

    def __post_init__(self):
        checks = {
            "model": bool(self.model) and "/" not in self.model,
            "port": 0 <= self.port <= 65535,
            "max_batch_size": self.max_batch_size >= 1,
            "batch_timeout_micros": self.batch_timeout_micros >= 0,
            "max_body_bytes": self.max_body_bytes >= 1,
            "body_timeout_seconds": self.body_timeout_seconds > 0,
            "poll_seconds": self.poll_seconds > 0,
            "sample_rate": 0 <= self.sample_rate <= 1,
            "health_route": self.health_route.startswith("/"),
            "predict_route": self.predict_route.startswith("/"),
            "max_lifetime_seconds": self.max_lifetime_seconds is None
            or self.max_lifetime_seconds > 0,
        }
        for field, ok in checks.items():
            if not ok:
                raise ValueError(f"serving config: invalid {field} {getattr(self, field)!r}")

    @classmethod
    def from_env(cls, model: str, serving_root: str, **given) -> ServerConfig:
        """Arguments given win; then Vertex AI's ``AIP_*`` variables and
        ``MLRAIL_BODY_TIMEOUT_SECONDS``; then the defaults."""
        env = {
            "port": os.environ.get("AIP_HTTP_PORT"),
            "health_route": os.environ.get("AIP_HEALTH_ROUTE"),
            "predict_route": os.environ.get("AIP_PREDICT_ROUTE"),
            "body_timeout_seconds": os.environ.get("MLRAIL_BODY_TIMEOUT_SECONDS"),
        }
        values = {k: v for k, v in env.items() if v}
        if "port" in values:
            values["port"] = int(values["port"])
        if "body_timeout_seconds" in values:
            values["body_timeout_seconds"] = float(values["body_timeout_seconds"])
        values.update({k: v for k, v in given.items() if v is not None})
        return cls(model=model, serving_root=serving_root, **values)

    def to_env(self) -> dict[str, str]:
        """The config as environment variables, so each uvicorn worker process (started by
        import string) rebuilds the same config (``from_serve_env``)."""
        return {f"MLRAIL_SERVE_{k.upper()}": str(v) for k, v in vars(self).items() if v is not None}

    @classmethod
    def from_serve_env(cls) -> ServerConfig:
        prefix, values = "MLRAIL_SERVE_", {}
        for field, kind in cls.__annotations__.items():
            raw = os.environ.get(prefix + field.upper())
            if raw is None:
                continue
            kind = str(kind).replace(" | None", "")
            values[field] = int(raw) if kind == "int" else float(raw) if kind == "float" else raw
        return cls(**values)


# The project's specs, beside the package (include/pipelines), as the DAG files find them.
PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def find_spec(model: str, path: str | None = None, folder: Path = PIPELINES):
    """The pipeline spec (mlrail.spec.PipelineSpec) whose model is ``model``: the one at
    ``path``, else the only one in ``folder``; None when no spec there names it (a
    container holding only the SavedModel serves with the defaults).

    Raises ValueError when ``path`` is another model's, when two specs name it, or when none
    does but some failed to load (the broken one may be it: fix it or pass ``path``)."""
    from mlrail.spec import SpecError, load_spec

    if path:
        spec = load_spec(path)
        if spec.model_name != model:
            raise ValueError(
                f"--spec {path} is the spec of model {spec.model_name!r}, not {model!r}"
            )
        return spec
    found, broken = [], []
    for candidate in sorted(folder.glob("*.yaml")):
        if candidate.name.endswith(".schema.yaml"):  # schema overrides, not specs
            continue
        try:
            spec = load_spec(candidate)
        except SpecError as err:
            broken.append(f"{candidate.name}: {err}")
            continue
        if spec.model_name == model:
            found.append(spec)
    if len(found) > 1:
        names = [Path(s.path).name for s in found]
        raise ValueError(f"specs {names} in {folder} all name model {model!r}: pass --spec")
    if not found and broken:
        raise ValueError(
            f"no spec in {folder} names model {model!r}, and some did not load (pass --spec): "
            + "; ".join(broken)
        )
    return found[0] if found else None


def spec_settings(spec, default_log_root: str) -> dict:
    """The ServerConfig fields a spec's ``serving:`` section sets (the defaults without a
    spec); ``default_log_root`` is the settings' log root."""
    serving = spec.serving if spec is not None else ServingSpec()
    return {
        "sample_rate": serving.sample_rate,
        "flush_rows": serving.flush_rows,
        "flush_seconds": serving.flush_seconds,
        "log_root": spec.log_root(default_log_root) if spec is not None else default_log_root,
        "max_batch_size": serving.max_batch_size,
        "batch_timeout_micros": serving.batch_timeout_micros,
        "max_body_bytes": serving.max_request_bytes,
    }
