"""Running the app under uvicorn, in one or several worker processes.

Workers are separate processes started by import string, so the config travels to them
through ``MLRAIL_SERVE_*`` environment variables and each builds its own app (its own
loaded models, batchers and request log files: workers never contend).
"""

from __future__ import annotations

import logging
import os
import sys

from mlrail.serving.config import ServerConfig


def _configure_logging() -> None:
    # JSON lines on stderr: the access log and lifecycle events are already JSON strings.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def open_request_log(config: ServerConfig):
    """This process's request log (mlrail.serving.requestlog), or None without a log root.

    Columns are typed by the schema of the newest completely pushed version."""
    if not config.log_root:
        return None
    from pathlib import Path

    from mlrail.serving.repository import Registry, committed_versions
    from mlrail.serving.requestlog import RequestLog

    versions = committed_versions(Path(config.serving_root) / config.model)
    registry = Registry(config.metadata_url, config.artifact_root)
    try:
        schema = registry.schema(config.model, versions[-1]) if versions else None
    finally:
        registry.close()
    return RequestLog(
        config.log_root,
        config.model,
        None,
        config.sample_rate,
        config.flush_rows,
        config.flush_seconds,
        columns=schema,
    )


def app_from_env():
    """The app of one worker, from the config ``serve`` put in the environment."""
    from mlrail.serving.app import create_app

    _configure_logging()
    config = ServerConfig.from_serve_env()
    return create_app(config, request_log=open_request_log(config))


def serve(config: ServerConfig, workers: int = 1) -> None:
    """Serve until stopped (SIGINT or SIGTERM stop gracefully: lifespan shutdown runs)."""
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    os.environ.update(config.to_env())
    _configure_logging()
    uvicorn.run(
        "mlrail.serving.server:app_from_env",
        factory=True,
        host=config.host,
        port=config.port,
        workers=workers,
        access_log=False,  # the app writes its own structured access log
        log_config=None,
        timeout_graceful_shutdown=30,
    )
