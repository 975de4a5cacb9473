"""The requests a sandbox replays, and the load generator that sends them.

Requests are production's own when the request log has any from the last window (the raw
features each logged row carries), else rows of the test split: one instance per request,
as online clients send them. Candidate and blessed get the same requests in alternating
rounds (candidate first in even rounds, blessed first in odd ones) at each concurrency
level, so that a drift of the machine's speed hits both models alike.
"""

from __future__ import annotations

import http.client
import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Traffic:
    """Request bodies and where they came from (for the verdict's sentence)."""

    bodies: list[bytes]
    source: str  # "request log" | "test split"
    detail: str


def _json_value(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def instances(table: pa.Table, schema: dict) -> list[dict]:
    """The schema's raw features of each row, JSON-ready (NaN and missing as null)."""
    names = [f["name"] for f in schema["features"] if f["name"] in table.column_names]
    rows = table.select(names).to_pylist()
    return [{k: _json_value(v) for k, v in row.items()} for row in rows]


def body(rows: list[dict]) -> bytes:
    return json.dumps({"instances": rows}).encode()


def traffic(
    test_split: pa.Table,
    schema: dict,
    limit: int,
    log_root: str | None = None,
    model: str | None = None,
    window_hours: float = 24.0,
    now: datetime | None = None,
) -> Traffic:
    """Up to ``limit`` single-instance request bodies: logged requests of the last window
    when there are any, else rows of ``test_split``."""
    if log_root and model:
        from mlrail.serving.requestlog import read_requests

        since = (now or datetime.now(UTC)) - timedelta(hours=window_hours)
        logged = read_requests(log_root, model, since=since)
        if logged.num_rows:
            logged = logged.sort_by([("ts", "descending")]).slice(0, limit)
            rows = instances(logged, schema)
            detail = f"{len(rows)} requests logged since {since:%Y-%m-%d %H:%M} UTC"
            return Traffic([body([r]) for r in rows], "request log", detail)
    rows = instances(test_split.slice(0, limit), schema)
    if not rows:
        raise ValueError("the test split has no rows to replay")
    detail = f"{len(rows)} test-split rows (no request logged in the last {window_hours:g} h)"
    return Traffic([body([r]) for r in rows], "test split", detail)


@dataclass
class Sample:
    """One batch of requests to one model at one concurrency level."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else math.inf


class Client:
    """Keep-alive HTTP connections to one server, one per sending thread."""

    def __init__(self, url: str, path: str = "/v1/models/sandbox:predict"):
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, path
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self._local.connection = connection
        return connection

    def send(self, payload: bytes, path: str | None = None) -> tuple[int, bytes]:
        """POST ``payload``; a kept-alive connection the server closed in between is
        opened again once, as HTTP clients do."""
        for attempt in (1, 2):
            reused = getattr(self._local, "connection", None) is not None
            connection = self._connection()
            try:
                connection.request(
                    "POST", path or self.path, payload, {"Content-Type": "application/json"}
                )
                answer = connection.getresponse()
                status, content = answer.status, answer.read()
                if answer.will_close:
                    self._drop(connection)
                return status, content
            except (OSError, http.client.HTTPException):
                self._drop(connection)
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        self._local.connection = None

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


def send_all(client: Client, bodies: list[bytes], concurrency: int, count: int) -> Sample:
    """Send ``count`` requests (cycling through ``bodies``) from ``concurrency`` threads,
    each waiting for its answer before sending the next; every request's latency."""
    sample, lock, next_index = Sample(), threading.Lock(), iter(range(count))

    def worker() -> None:
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            began = time.perf_counter()
            try:
                status, answer = client.send(bodies[i % len(bodies)])
                error = None if status == 200 else f"HTTP {status}: {answer[:200]!r}"
            except (OSError, http.client.HTTPException) as err:
                error = f"{type(err).__name__}: {err}"
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                if error is None:
                    sample.latencies_ms.append(elapsed)
                else:
                    sample.errors.append(error)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sample.seconds = time.perf_counter() - began
    return sample


def alternate(roles: list[str], round_index: int) -> list[str]:
    """Who goes first in a round: the order flips every round."""
    return roles if round_index % 2 == 0 else roles[::-1]


def replay(
    urls: dict[str, str], bodies: list[bytes], levels: list[int], rounds: int, per_round: int
) -> dict[int, list[dict[str, Sample]]]:
    """Per concurrency level, per round, each role's Sample; roles alternate in each round."""
    clients = {role: Client(url) for role, url in urls.items()}
    results: dict[int, list[dict[str, Sample]]] = {}
    for level in levels:
        results[level] = []
        for r in range(rounds):
            samples = {}
            for role in alternate(list(urls), r):
                samples[role] = send_all(clients[role], bodies, level, per_round)
            results[level].append(samples)
    return results


def first_request_ms(url: str, payload: bytes) -> tuple[float, str | None]:
    """The latency of the first request after loading, and its error if it failed."""
    client = Client(url)
    began = time.perf_counter()
    try:
        status, answer = client.send(payload)
        error = None if status == 200 else f"HTTP {status}: {answer[:200]!r}"
    except (OSError, http.client.HTTPException) as err:
        error = f"{type(err).__name__}: {err}"
    finally:
        client.close()
    return (time.perf_counter() - began) * 1000, error
