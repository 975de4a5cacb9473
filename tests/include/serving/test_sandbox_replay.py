"""What the sandbox replays: logged production requests only when the window holds enough
distinct answered ones (``sandbox.min_logged_requests``), else the test split; the detail
says which and why. Real request-log files, written by the server's own RequestLog."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from mlrail.serving.requestlog import RequestLog
from mlrail.serving.sandbox.replay import traffic

SCHEMA = {
    "features": [
        {"name": "trip_miles", "type": "float"},
        {"name": "trip_seconds", "type": "int"},
        {"name": "payment_type", "type": "string"},
    ]
}
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TEST_SPLIT = pa.table(
    {
        "trip_miles": [float(i) for i in range(50)],
        "trip_seconds": list(range(50)),
        "payment_type": ["Card"] * 50,
        "tips": [0.0] * 50,
    }
)


def write_log(root, distinct: int, copies: int, ts: datetime = NOW) -> None:
    """``distinct`` different requests, each logged ``copies`` times (as a prober sending
    the same bodies again and again would be)."""
    log = RequestLog(root, "taxi", None, 1.0, 100_000, 3600.0, seed=7, columns=SCHEMA)
    rows = [
        {
            "request_id": f"r{i}-{c}",
            "ts": ts - timedelta(minutes=1),
            "features": {"trip_miles": 100.0 + i, "trip_seconds": 7, "payment_type": "Cash"},
            "prediction": {"score": 0.5},
            "latency_ms": 1.0,
        }
        for i in range(distinct)
        for c in range(copies)
    ]
    log.append(rows)
    log.close()


def replayed(root, **kwargs):
    return traffic(TEST_SPLIT, SCHEMA, 40, str(root), "taxi", 24.0, NOW, **kwargs)


def test_a_handful_of_logged_requests_is_not_replayed(tmp_path):
    write_log(tmp_path, distinct=7, copies=100)  # 700 rows, 7 distinct requests
    got = replayed(tmp_path, min_logged=20)
    assert got.source == "test split"
    assert got.detail == (
        "7 distinct logged requests in the last 24 h, below the minimum of 20: "
        "replaying 40 test-split rows"
    )
    sent = [json.loads(b)["instances"][0] for b in got.bodies]
    assert [row["trip_miles"] for row in sent] == [float(i) for i in range(40)]


def test_enough_distinct_logged_requests_are_replayed_each_once(tmp_path):
    write_log(tmp_path, distinct=30, copies=5)
    got = replayed(tmp_path, min_logged=20)
    assert got.source == "request log"
    assert got.detail == (
        "30 distinct logged requests in the last 24 h (at least 20 needed): replaying the "
        "newest 30"
    )
    sent = [json.loads(b)["instances"][0] for b in got.bodies]
    assert sorted(row["trip_miles"] for row in sent) == [100.0 + i for i in range(30)]
    assert sent[0] == {"trip_miles": 100.0, "trip_seconds": 7, "payment_type": "Cash"}


def test_requests_logged_before_the_window_do_not_count(tmp_path):
    write_log(tmp_path, distinct=30, copies=1, ts=NOW - timedelta(hours=30))
    got = replayed(tmp_path, min_logged=20)
    assert got.source == "test split"
    assert got.detail.startswith("0 distinct logged requests in the last 24 h, below")


def test_without_a_request_log_the_test_split_is_replayed_saying_so():
    got = traffic(TEST_SPLIT, SCHEMA, 10)
    assert got.source == "test split"
    assert got.detail == "no request log: replaying 10 test-split rows"
