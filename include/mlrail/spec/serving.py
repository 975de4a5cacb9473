"""The spec's ``serving:`` section: how the model server batches, limits and logs requests.

The batching fields carry TensorFlow Serving's names. The request log's bounds are what a
crash can lose (mlrail.serving.requestlog): at most ``flush_rows`` rows or
``flush_seconds`` of sampled requests per server process.

Every number has a range a production server could mean: a spec is a file anyone with
commit rights edits, and the server trusts it (issue 18: ``flush_seconds: .inf`` stopped
the request log's writer at its first row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlrail.spec.errors import SpecError, share, within

# Vertex AI's public endpoints refuse a request above 1.5 MB. Read as 1.5e6 bytes, the
# smaller of the two readings, so that a request the local server accepts fits Vertex too.
VERTEX_MAX_REQUEST_BYTES = 1_500_000

# (low, high, what): the message reads "expected <what> from <low> to <high>".
BOUNDS = {
    # What a crash may lose, and what one process buffers in memory.
    "flush_rows": (1, 1_000_000, "a number of rows"),
    # At most a file a second per process (small Parquet files are slow to read back),
    # and an hour at most between flushes: the log is read by hourly partitions.
    "flush_seconds": (1, 3600, "a number of seconds"),
    "max_batch_size": (1, 4096, "a number of instances"),
    # A batch waits this long for company: a second already delays every lone request by it.
    "batch_timeout_micros": (0, 1_000_000, "a number of microseconds"),
    # A body is read whole into memory before it is parsed; 1 KiB holds a row of any
    # ordinary model, 64 MiB is above every managed endpoint's cap.
    "max_request_bytes": (1024, 64 << 20, "a number of bytes"),
}
INTEGERS = ("flush_rows", "max_batch_size", "batch_timeout_micros", "max_request_bytes")


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
        for name, (low, high, what) in BOUNDS.items():
            within(name, getattr(self, name), low, high, what, integer=name in INTEGERS)
        if re.search(r"[\x00-\x1f\x7f]", self.log_root):  # a NUL breaks every path call
            raise SpecError("log_root", "a path with no control characters", self.log_root)


# A bucket name as Cloud Storage allows it, then an optional path.
GS_URL = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.*)?")


def check_log_root(log_root: str, resolved: str, roots: dict[str, str]) -> None:
    """Refuse a ``serving.log_root`` (``resolved`` against the project) outside every one
    of ``roots`` (name -> folder) unless it is a gs:// URL.

    Every model server of the pipeline writes there, as whoever runs it: a spec must not
    point it at ``/etc`` or, through ``..`` or a symbolic link, out of the folders mlrail
    owns. A ``file://`` URL is a local folder that would skip this check: refused too."""
    named = [f"{name} ({folder})" for name, folder in roots.items()]
    where = " or ".join([", ".join(named[:-1]), named[-1]] if len(named) > 1 else named)
    expected = f"a gs:// URL or a folder inside {where}"
    if "://" in resolved:
        if not GS_URL.fullmatch(resolved):
            raise SpecError("log_root", expected, log_root)
        if ".." in resolved.split("/"):
            raise SpecError("log_root", "a gs:// URL with no '..' segment", log_root)
        return
    try:
        path = Path(resolved).resolve()
    except (OSError, RuntimeError) as err:  # a name too long, a loop of links
        raise SpecError("log_root", f"{expected} ({err})", log_root) from None
    inside = [Path(folder).resolve() for folder in roots.values() if "://" not in folder]
    if not any(path.is_relative_to(folder) for folder in inside):
        raise SpecError("log_root", f"{expected}; it resolves to {path}", log_root)
