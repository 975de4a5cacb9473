"""``serve --model`` takes its settings from the spec's ``serving:`` section; flags win."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest
import yaml

from mlrail.serving.config import find_spec, spec_settings
from tests.include.serving.conftest import MODEL, ROOT, ServerProcess, instances, metric

BASE = f"/v1/models/{MODEL}"


def _project(root: Path, serving: dict, name: str = MODEL, model_name: str = "") -> Path:
    """A project at ``root`` whose spec is the demo's with ``serving`` (and its own name)."""
    spec = yaml.safe_load((ROOT / "include" / "pipelines" / "taxi_tips.yaml").read_text())
    spec.update(pipeline=name, serving=serving)
    spec["train"]["module"] = str(ROOT / "include" / "models" / "taxi_tips.py")
    if model_name:
        spec["model_name"] = model_name
    path = root / "include" / "pipelines" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    return path


def test_find_spec_picks_the_spec_naming_the_model(tmp_path):
    _project(tmp_path, {"max_batch_size": 3}, name="other")
    path = _project(tmp_path, {"max_batch_size": 5}, name="tips", model_name=MODEL)
    folder = path.parent
    spec = find_spec(MODEL, folder=folder)
    assert spec.path == str(path) and spec.serving.max_batch_size == 5
    assert find_spec("nobody", folder=folder) is None
    settings = spec_settings(spec, "/default/logs")
    assert settings["max_batch_size"] == 5 and settings["log_root"] == "/default/logs"
    with pytest.raises(ValueError, match="'other'"):
        find_spec(MODEL, str(folder / "other.yaml"))
    _project(tmp_path, {}, name="again", model_name=MODEL)
    with pytest.raises(ValueError, match="pass --spec"):
        find_spec(MODEL, folder=folder)


def _send(process: ServerProcess, rows: list[dict]) -> list[int]:
    async def send_all():
        async with httpx.AsyncClient(base_url=process.url, timeout=60) as client:
            answers = await asyncio.gather(
                *(client.post(f"{BASE}:predict", json={"instances": [r]}) for r in rows)
            )
        return [a.status_code for a in answers]

    return asyncio.run(send_all())


def _served(trained, spec: Path, *flags: str, env_logs: Path, rows: list[dict]) -> float:
    """Serve with ``spec`` and ``flags``, send ``rows`` concurrently, stop gracefully;
    return how many model calls they took."""
    process = ServerProcess(
        trained.settings, "--spec", str(spec), *flags, env={"MLRAIL_LOG_ROOT": str(env_logs)}
    )
    try:
        process.start()
        calls = metric(process, "mlrail_model_calls_total", model=MODEL, version="1")
        assert _send(process, rows) == [200] * len(rows)
        calls = metric(process, "mlrail_model_calls_total", model=MODEL, version="1") - calls
        assert process.stop() in (0, -signal.SIGTERM), process.output()
    finally:
        process.stop(signal.SIGKILL)
    return calls


@pytest.mark.slow
def test_the_spec_sets_batching_and_the_request_log_and_flags_override_it(trained, tmp_path):
    from mlrail.data.serving_logs import read_requests

    serving = {
        "max_batch_size": 1,
        "batch_timeout_micros": 50_000,
        "sample_rate": 0.0,
        "log_root": "served-logs",  # relative: against the spec's project
    }
    spec = _project(tmp_path / "project", serving)
    spec_logs, env_logs = tmp_path / "project" / "served-logs", tmp_path / "env-logs"
    rows = instances(trained, 12)

    # One row per model call: the spec's max_batch_size of 1 reached the batcher.
    assert _served(trained, spec, env_logs=env_logs, rows=rows) == len(rows)
    assert read_requests(spec_logs, MODEL).num_rows == 0  # the spec's sample_rate of 0
    assert read_requests(env_logs, MODEL).num_rows == 0  # serving.log_root, not the env's

    _served(trained, spec, "--sample-rate", "1", env_logs=env_logs, rows=rows)
    assert read_requests(spec_logs, MODEL).num_rows == len(rows)
    assert read_requests(env_logs, MODEL).num_rows == 0
