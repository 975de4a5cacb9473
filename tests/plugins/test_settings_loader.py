import pytest

from mlrail_airflow.settings_loader import read_settings
from tests.conftest import ROOT


def test_project_settings_expand_mlrail_home(monkeypatch):
    monkeypatch.setenv("MLRAIL_HOME", "/srv/mlrail")
    monkeypatch.setenv("MLRAIL_GCP_PROJECT", "acme")
    monkeypatch.delenv("MLRAIL_GCP_REGION", raising=False)
    settings = read_settings(ROOT / "airflow_settings.yaml")
    conn, vertex = settings["connections"]
    assert conn["conn_id"] == "mlrail_default"
    assert conn["conn_extra"]["metadata_url"] == "sqlite:////srv/mlrail/metadata.db"
    # ${VAR:-default}: the value when set, the default when not.
    assert vertex["conn_id"] == "mlrail_vertex"
    assert vertex["conn_extra"]["project"] == "acme"
    assert vertex["conn_extra"]["location"] == "us-central1"
    assert [p["pool_name"] for p in settings["pools"]] == ["training", "gpu"]


def test_unset_variable_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv("MLRAIL_HOME", raising=False)
    with pytest.raises(
        KeyError,
        match="airflow.connections\\[0\\].conn_extra.artifact_root: "
        "environment variable MLRAIL_HOME is not set",
    ):
        read_settings(ROOT / "airflow_settings.yaml")


def test_unknown_section_is_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("airflow:\n  conections: []\n")
    with pytest.raises(ValueError, match="unknown section\\(s\\) airflow.\\['conections'\\]"):
        read_settings(path)
