"""The requests a sandbox replays, and the load generator that sends them.

Requests are production's own when the request log holds enough distinct ones from the
last window (the raw features each logged row carries), else rows of the test split: one
instance per request, as online clients send them. A handful of logged requests (a few curl
calls, a prober's bodies) must not become the thousands a sandbox sends, so the log is
replayed only above the spec's ``min_logged_requests`` distinct requests, and each distinct
request once per cycle: sending one body many times cannot weigh it more.

Candidate and blessed get the same requests in each round at each concurrency level, in
short alternating turns (candidate first in even rounds, blessed first in odd ones), so
that a drift of the machine's speed hits both models alike.
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


def distinct_logged(log_root: str, model: str, schema: dict, since: datetime) -> list[dict]:
    """The distinct requests (their schema features) logged since ``since``, newest first.

    The server logs a request only once it has answered it 200 (``Server.log_rows`` runs
    after the prediction; a refused or failed request raises before it), so every logged
    row is an answered request: the log has no status column to filter on."""
    from mlrail.data.serving_logs import read_requests

    logged = read_requests(log_root, model, since=since)
    if not logged.num_rows:
        return []
    rows = instances(logged.sort_by([("ts", "descending")]), schema)
    seen: dict[str, dict] = {}
    for row in rows:
        seen.setdefault(json.dumps(row, sort_keys=True, default=str), row)
    return list(seen.values())


def traffic(
    test_split: pa.Table,
    schema: dict,
    limit: int,
    log_root: str | None = None,
    model: str | None = None,
    window_hours: float = 24.0,
    now: datetime | None = None,
    min_logged: int = 200,
) -> Traffic:
    """Up to ``limit`` single-instance request bodies: the newest distinct logged requests
    of the last window when there are at least ``min_logged`` of them, else rows of
    ``test_split``; ``detail`` says which and why."""
    why = "no request log"
    if log_root and model:
        since = (now or datetime.now(UTC)) - timedelta(hours=window_hours)
        logged = distinct_logged(log_root, model, schema, since)
        window = f"in the last {window_hours:g} h"
        if len(logged) >= min_logged:
            rows = logged[:limit]
            detail = (
                f"{len(logged)} distinct logged requests {window} (at least {min_logged} "
                f"needed): replaying the newest {len(rows)}"
            )
            return Traffic([body([r]) for r in rows], "request log", detail)
        why = f"{len(logged)} distinct logged requests {window}, below the minimum of {min_logged}"
    rows = instances(test_split.slice(0, limit), schema)
    if not rows:
        raise ValueError("the test split has no rows to replay")
    detail = f"{why}: replaying {len(rows)} test-split rows"
    return Traffic([body([r]) for r in rows], "test split", detail)


@dataclass
class Sample:
    """One batch of requests to one model at one concurrency level (a round's batch keeps
    its turns: the verdict pairs them turn by turn)."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    turns: list[Sample] = field(default_factory=list)

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


def send_all(
    client: Client, bodies: list[bytes], concurrency: int, count: int, start: int = 0
) -> Sample:
    """Send ``count`` requests (cycling through ``bodies`` from index ``start``) from
    ``concurrency`` threads, each waiting for its answer before sending the next; every
    request's latency."""
    sample, lock, next_index = Sample(), threading.Lock(), iter(range(start, start + count))

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


# Requests per turn within a round. A busy machine's speed changes within a second: turns of
# a whole round each (0.8 s at concurrency 1) gave two copies of one model per-round p90
# ratios from 0.2 to 5.4 beside other work; short turns in the order ABBA put both models
# in the same tenth of a second, so that the round's ratio keeps only the models' difference.
TURN = 50


def one_round(
    clients: dict[str, Client], bodies: list[bytes], level: int, per_round: int, index: int
) -> dict[str, Sample]:
    """``per_round`` requests to each role at ``level``, in turns of TURN requests taken in
    the order A B B A A B ... (``alternate`` picks A by ``index``); the same requests, in
    the same order, to each role. Each role's Sample keeps its turns: turn t of one role
    and turn t of the other ran back to back on the same requests, a pair."""
    roles = alternate(list(clients), index)
    samples = {role: Sample() for role in roles}
    for turn, begin in enumerate(range(0, per_round, TURN)):
        count = min(TURN, per_round - begin)
        for role in roles if turn % 2 == 0 else roles[::-1]:
            part = send_all(clients[role], bodies, level, count, begin)
            samples[role].latencies_ms += part.latencies_ms
            samples[role].errors += part.errors
            samples[role].seconds += part.seconds
            samples[role].turns.append(part)
    return samples


def replay(
    urls: dict[str, str],
    bodies: list[bytes],
    levels: list[int],
    rounds: int,
    per_round: int,
    first_round: int = 0,
) -> dict[int, list[dict[str, Sample]]]:
    """Per concurrency level, per round, each role's Sample (``one_round``; rounds are
    numbered from ``first_round``, so that a later batch continues the turns)."""
    clients = {role: Client(url) for role, url in urls.items()}
    results: dict[int, list[dict[str, Sample]]] = {}
    for level in levels:
        results[level] = [
            one_round(clients, bodies, level, per_round, r)
            for r in range(first_round, first_round + rounds)
        ]
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
