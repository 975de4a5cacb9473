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
        ValueError,
        match="airflow_settings.yaml: airflow.connections\\[0\\].conn_extra.artifact_root: "
        "environment variable MLRAIL_HOME is not set",
    ):
        read_settings(ROOT / "airflow_settings.yaml")


def test_one_expansion_rule_for_settings_and_specs(monkeypatch, tmp_path):
    """The settings file and pipeline specs expand ${VAR} by the same rule: an empty
    variable takes the default, as in a shell, and $${ is a literal."""
    monkeypatch.setenv("EMPTY", "")
    path = tmp_path / "s.yaml"
    path.write_text(
        "airflow:\n  variables:\n"
        "    - {variable_name: a, variable_value: '${EMPTY:-fallback}'}\n"
        "    - {variable_name: b, variable_value: 'cost $${X}'}\n"
    )
    values = [v["variable_value"] for v in read_settings(path)["variables"]]
    assert values == ["fallback", "cost ${X}"]


def test_unknown_section_is_refused(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("airflow:\n  conections: []\n")
    with pytest.raises(ValueError, match="unknown section\\(s\\) airflow.\\['conections'\\]"):
        read_settings(path)


def test_the_connection_names_every_root(monkeypatch, tmp_path):
    """Each root in the mlrail_default connection's extra, the request-log root too,
    replaces the environment's; a root it leaves out comes from the environment."""
    import json

    from mlrail_airflow.hooks.mlrail import MlrailHook

    monkeypatch.setenv("MLRAIL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLRAIL_LOG_ROOT", str(tmp_path / "env-logs"))
    extra = {"artifact_root": "gs://acme/artifacts", "log_root": "gs://acme/logs"}
    conn = {"conn_type": "generic", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_MLRAIL_DEFAULT", json.dumps(conn))
    settings = MlrailHook().get_settings()
    assert (settings.artifact_root, settings.log_root) == ("gs://acme/artifacts", "gs://acme/logs")
    assert settings.serving_root == str(tmp_path / "home" / "serving")
    del extra["log_root"]
    monkeypatch.setenv("AIRFLOW_CONN_MLRAIL_DEFAULT", json.dumps(conn))
    assert MlrailHook().get_settings().log_root == str(tmp_path / "env-logs")
