"""The spec's ``serving:`` section: how the model server batches, limits and logs requests.

The batching fields carry TensorFlow Serving's names. The request log's bounds are what a
crash can lose (mlrail.serving.requestlog): at most ``flush_rows`` rows or
``flush_seconds`` of sampled requests per server process.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlrail.spec.errors import SpecError, not_negative, positive, share

# Vertex AI's public endpoints refuse a request above 1.5 MB. Read as 1.5e6 bytes, the
# smaller of the two readings, so that a request the local server accepts fits Vertex too.
VERTEX_MAX_REQUEST_BYTES = 1_500_000


@dataclass(frozen=True)
class ServingSpec:
    sample_rate: float = 1.0  # share of requests written to the request log
    flush_rows: int = 1000  # a log file is written when this many rows are buffered ...
    flush_seconds: float = 60.0  # ... or when the oldest buffered row is this old
    log_root: str = ""  # empty: the settings' log root (MLRAIL_LOG_ROOT, <home>/logs)
    max_batch_size: int = 64  # instances merged into one model call
    batch_timeout_micros: int = 2000  # how long a batch waits to fill; 0: never waits
    max_request_bytes: int = VERTEX_MAX_REQUEST_BYTES  # larger bodies are refused (413)

    def __post_init__(self) -> None:
        share("sample_rate", self.sample_rate)
        positive("flush_rows", self.flush_rows)
        if not self.flush_seconds > 0:
            raise SpecError("flush_seconds", "a positive number of seconds", self.flush_seconds)
        positive("max_batch_size", self.max_batch_size)
        not_negative("batch_timeout_micros", self.batch_timeout_micros)
        positive("max_request_bytes", self.max_request_bytes)
