"""/metrics across worker processes: a scrape, whichever worker answers it, counts them all."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import pytest

from tests.include.serving.conftest import MODEL, ServerProcess, instances, metric

pytestmark = pytest.mark.slow
BASE = f"/v1/models/{MODEL}"


def _metrics_folder(process: ServerProcess) -> Path:
    """The PROMETHEUS_MULTIPROC_DIR ``serve`` made, from its lifecycle log."""
    for line in process.output().splitlines():
        if line.startswith("{") and '"metrics_folder"' in line:
            return Path(json.loads(line)["path"])
    raise AssertionError(f"serve logged no metrics folder:\n{process.output()}")


def test_two_workers_count_every_request_in_one_scrape(trained):
    count = 40
    rows = instances(trained, count)
    process = ServerProcess(trained.settings, "--workers", "2", "--no-request-log")
    try:
        process.start()
        folder = _metrics_folder(process)
        assert folder.is_dir()

        async def send_all():
            # One connection per request, so both workers accept some of them.
            async def one(row):
                async with httpx.AsyncClient(base_url=process.url, timeout=60) as client:
                    return await client.post(f"{BASE}:predict", json={"instances": [row]})

            return await asyncio.gather(*(one(r) for r in rows))

        answers = asyncio.run(send_all())
        assert [a.status_code for a in answers] == [200] * count
        labels = {"model": MODEL, "version": "1"}
        # Each scrape is a new connection too: every worker that answers one sums all files.
        scraped = [metric(process, "mlrail_requests_total", **labels, code="200") for _ in range(8)]
        assert scraped == [count] * 8
        assert metric(process, "mlrail_predicted_rows_total", **labels) == count
        assert metric(process, "mlrail_request_latency_seconds_count", **labels) == count
        assert process.stop() == 0, process.output()
        assert not folder.exists(), "serve left its metrics folder behind"
    finally:
        process.stop(signal.SIGKILL)
