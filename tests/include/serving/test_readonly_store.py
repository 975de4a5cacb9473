"""The model server reads the metadata store and never writes it: started on a fresh
home, it creates nothing there, and serves what the serving folder holds."""

from __future__ import annotations

import shutil
import signal

import pytest

from tests.include.serving.conftest import MODEL, ServerProcess, get, instances, post

pytestmark = pytest.mark.slow
BASE = f"/v1/models/{MODEL}"


def test_a_server_on_a_fresh_home_leaves_it_untouched_and_serves(trained, tmp_path):
    home, serving = tmp_path / "home", tmp_path / "serving"
    home.mkdir()
    shutil.copytree(trained.model_folder / "1", serving / MODEL / "1")
    process = ServerProcess(
        trained.settings,
        "--no-request-log",
        env={
            "MLRAIL_HOME": str(home),
            "MLRAIL_METADATA_URL": "",  # the default: <home>/metadata.db, which is not there
            "MLRAIL_ARTIFACT_ROOT": "",
            "MLRAIL_SERVING_ROOT": str(serving),
        },
    )
    try:
        process.start()
        answer = post(process, f"{BASE}:predict", {"instances": instances(trained, 2)})
        assert answer.status_code == 200, answer.text
        assert get(process, BASE).json()["model_version_status"][0]["state"] == "AVAILABLE"
        assert get(process, f"{BASE}/labels/blessed").status_code == 404  # no registry here
    finally:
        process.stop(signal.SIGTERM)
        process.stop(signal.SIGKILL)
    assert list(home.iterdir()) == [], process.output()
