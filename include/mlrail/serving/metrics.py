"""Prometheus metrics (prometheus_client): requests, errors and latency per model version.

Each server gets its own registry, so two apps in one process (tests, a sandbox) never
share or double-register counters. With several workers, ``serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before they start: prometheus_client then
keeps every value in a per-process file there, and a scrape, answered by whichever worker
accepts it, sums the files of all workers (MultiProcessCollector) instead of showing that
worker's share only.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServerMetrics:
    """The server's metrics; ``multiprocess`` defaults to whether the folder is set."""

    def __init__(self, multiprocess: bool | None = None):
        self.multiprocess = MULTIPROC_DIR in os.environ if multiprocess is None else multiprocess
        # In multiprocess mode the values live in files; registering them too would count
        # this worker twice at a scrape.
        self.registry = CollectorRegistry(auto_describe=True)
        own = None if self.multiprocess else self.registry
        version = ("model", "version")
        self.requests = Counter(
            "mlrail_requests", "Requests answered.", (*version, "code"), registry=own
        )
        self.errors = Counter(
            "mlrail_request_errors", "Requests answered with an error.", version, registry=own
        )
        self.latency = Histogram(
            "mlrail_request_latency_seconds",
            "Time to answer a request.",
            version,
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.rows = Counter("mlrail_predicted_rows", "Instances predicted.", version, registry=own)
        self.model_calls = Counter(
            "mlrail_model_calls", "Model calls (one per batch).", version, registry=own
        )
        self.log_rows_dropped = Counter(
            "mlrail_log_rows_dropped",
            "Rows the request or feedback log could not write (reasons are in the server log).",
            ("model", "log"),
            registry=own,
        )

    def record(self, model: str, version: str, code: int, seconds: float) -> None:
        self.requests.labels(model, version, str(code)).inc()
        if code >= 400:
            self.errors.labels(model, version).inc()
        self.latency.labels(model, version).observe(seconds)

    def render(self) -> bytes:
        """The text exposition format: every worker's values in multiprocess mode."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
