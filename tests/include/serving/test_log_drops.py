"""Rows a log cannot write are counted in the server's metrics (no model needed)."""

from __future__ import annotations

import time

from mlrail.serving.app import Server
from mlrail.serving.config import ServerConfig
from mlrail.serving.requestlog import FeedbackLog, RequestLog


def test_rows_a_log_drops_are_counted_in_mlrail_log_rows_dropped_total(tmp_path):
    config = ServerConfig(model="taxi", serving_root=str(tmp_path / "serving"))
    requests = RequestLog(tmp_path / "logs", "taxi", None, 1.0, 2, 3600.0)
    feedback = FeedbackLog(tmp_path / "logs", "taxi", requests.instance_id, 2, 3600.0)
    server = Server(config, requests, feedback)
    try:
        good = {"request_id": "a", "payment_type": "Cash", "score": 0.5}
        # Parquet cannot encode a lone surrogate: the row is dropped when written.
        requests.append([good, {**good, "request_id": "b", "payment_type": "\ud800"}])
        deadline = time.monotonic() + 30
        while requests.dropped_rows == 0:
            assert time.monotonic() < deadline, "the row was never written nor dropped"
            time.sleep(0.01)
        text = server.metrics.render().decode()
        assert 'mlrail_log_rows_dropped_total{log="requests",model="taxi"} 1.0' in text
    finally:
        server.close()
