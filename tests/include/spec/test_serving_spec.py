"""The spec's ``serving:`` section: defaults, values, and errors naming file, line and field."""

import pytest

from mlrail.spec import ServingSpec, SpecError, load_spec
from mlrail.store.settings import Settings
from tests.include.spec.test_spec import GOOD, _spec


def test_defaults_without_a_serving_section(tmp_path):
    spec = load_spec(_spec(tmp_path, GOOD))
    assert spec.serving == ServingSpec()
    assert spec.serving.sample_rate == 1.0 and spec.serving.max_request_bytes == 1_500_000
    assert spec.log_root("/elsewhere/logs") == "/elsewhere/logs"


def test_values_load_and_log_root_resolves_against_the_project(tmp_path):
    body = GOOD + (
        "serving:\n  sample_rate: 0.25\n  flush_rows: 500\n  flush_seconds: 5\n"
        "  log_root: logs\n  max_batch_size: 16\n  batch_timeout_micros: 0\n"
    )
    spec = load_spec(_spec(tmp_path, body))
    assert spec.serving.sample_rate == 0.25 and spec.serving.flush_rows == 500
    assert spec.serving.flush_seconds == 5.0 and spec.serving.batch_timeout_micros == 0
    assert spec.log_root("/unused") == str(tmp_path / "logs")


def test_settings_log_root_from_env(tmp_path, monkeypatch):
    monkeypatch.delenv("MLRAIL_LOG_ROOT", raising=False)
    monkeypatch.setenv("MLRAIL_HOME", str(tmp_path))
    assert Settings.from_env().log_root == str(tmp_path / "logs")
    monkeypatch.setenv("MLRAIL_LOG_ROOT", "gs://bucket/logs")
    assert Settings.from_env().log_root == "gs://bucket/logs"


@pytest.mark.parametrize(
    "section, field, expected",
    [
        ("{sample_rate: 1.5}", "serving.sample_rate", "a share between 0 and 1, got 1.5"),
        ("{sample_rate: half}", "serving.sample_rate", "a number, got 'half'"),
        ("{flush_rows: 0}", "serving.flush_rows", "a positive integer, got 0"),
        ("{flush_rows: many}", "serving.flush_rows", "an integer, got 'many'"),
        ("{flush_seconds: 0}", "serving.flush_seconds", "a positive number of seconds"),
        ("{max_batch_size: -1}", "serving.max_batch_size", "a positive integer"),
        ("{batch_timeout_micros: -5}", "serving.batch_timeout_micros", "zero or a positive"),
        ("{max_request_bytes: true}", "serving.max_request_bytes", "an integer, got True"),
        ("{flush_row: 10}", "serving.flush_row", "one of the known fields: sample_rate"),
        ("[1]", "serving", "a mapping"),
    ],
)
def test_bad_serving_values_name_file_line_and_field(tmp_path, section, field, expected):
    path = _spec(tmp_path, GOOD + f"serving: {section}\n")
    with pytest.raises(SpecError) as refused:
        load_spec(path)
    message = str(refused.value)
    assert message.startswith(f"{path}:5: field '{field}': expected "), message
    assert expected in message
