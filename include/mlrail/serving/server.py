"""Running the app under uvicorn, in one or several worker processes.

Workers are separate processes started by import string, so the config travels to them
through ``MLRAIL_SERVE_*`` environment variables and each builds its own app (its own
loaded models, batchers and request log files: workers never contend).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlrail.serving.config import ServerConfig


def _configure_logging() -> None:
    # JSON lines on stderr: the access log and lifecycle events are already JSON strings.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def _newest_schema(config: ServerConfig) -> dict | None:
    from mlrail.serving.repository import Registry, committed_versions

    versions = committed_versions(Path(config.serving_root) / config.model)
    registry = Registry(config.metadata_url, config.artifact_root, config.schema_file)
    try:
        return registry.schema(config.model, versions[-1]) if versions else None
    finally:
        registry.close()


def open_logs(config: ServerConfig):
    """This process's request and feedback logs (mlrail.serving.requestlog), or
    ``(None, None)`` without a log root.

    Request columns and the label's type and classes come from the schema of the newest
    completely pushed version; without one, features are typed as they come and labels
    are strings."""
    if not config.log_root:
        return None, None
    from mlrail.serving.requestlog import FeedbackLog, RequestLog

    schema = _newest_schema(config)
    bounds = (config.flush_rows, config.flush_seconds)
    requests = RequestLog(
        config.log_root, config.model, None, config.sample_rate, *bounds, columns=schema
    )
    label = (schema or {}).get("label") or {}
    feedback = FeedbackLog(
        config.log_root,
        config.model,
        requests.instance_id,
        *bounds,
        label_type=label.get("type", "string"),
        classes=label.get("classes"),  # a classification label's domain; none: regression
    )
    return requests, feedback


def app_from_env():
    """The app of one worker, from the config ``serve`` put in the environment."""
    from mlrail.serving.app import create_app

    _configure_logging()
    config = ServerConfig.from_serve_env()
    request_log, feedback_log = open_logs(config)
    return create_app(config, request_log=request_log, feedback_log=feedback_log)


@contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, a fresh PROMETHEUS_MULTIPROC_DIR for this run (mlrail.serving.
    metrics), removed on exit: files left by an earlier run would be counted again."""
    if workers == 1:
        yield
        return
    # Importing prometheus_client here is harmless: workers are fresh (spawned) processes
    # that import it again, with the variable set.
    from mlrail.serving.metrics import MULTIPROC_DIR

    folder = tempfile.mkdtemp(prefix="mlrail-metrics-")
    previous = os.environ.get(MULTIPROC_DIR)
    os.environ[MULTIPROC_DIR] = folder  # set before any worker imports prometheus_client
    logging.getLogger(__name__).info(json.dumps({"event": "metrics_folder", "path": folder}))
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if previous is None:
            os.environ.pop(MULTIPROC_DIR, None)
        else:
            os.environ[MULTIPROC_DIR] = previous


def _stop_after(seconds: float) -> None:
    """SIGTERM this process after ``seconds``: a sandbox server whose teardown never came
    (its Airflow worker was killed) still goes away, gracefully."""

    def stop() -> None:
        logging.getLogger(__name__).info(json.dumps({"event": "lifetime_over", "after": seconds}))
        os.kill(os.getpid(), signal.SIGTERM)

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()


def serve(config: ServerConfig, workers: int = 1) -> None:
    """Serve until stopped (SIGINT or SIGTERM stop gracefully: lifespan shutdown runs), or
    until ``config.max_lifetime_seconds`` have passed."""
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    os.environ.update(config.to_env())
    _configure_logging()
    if config.max_lifetime_seconds:
        _stop_after(config.max_lifetime_seconds)
    with _shared_metrics(workers):
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
