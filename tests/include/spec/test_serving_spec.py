"""The spec's ``serving:`` section: defaults, values, and errors naming file, line and field."""

import dataclasses
import os

import pytest

from mlrail.spec import SandboxSpec, ServingSpec, SpecError, load_spec
from mlrail.spec.machine import check_sandbox_machine
from mlrail.store.settings import Settings
from tests.conftest import ROOT, TEST_SANDBOX, sandbox_yaml
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
        ("{flush_rows: 0}", "serving.flush_rows", "a number of rows from 1 to 1000000, got 0"),
        ("{flush_rows: many}", "serving.flush_rows", "an integer, got 'many'"),
        ("{flush_seconds: 0}", "serving.flush_seconds", "a number of seconds from 1 to 3600"),
        ("{max_batch_size: -1}", "serving.max_batch_size", "instances from 1 to 4096, got -1"),
        ("{batch_timeout_micros: -5}", "serving.batch_timeout_micros", "from 0 to 1000000"),
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


# --- every serving: and sandbox: value bounded (issue 18: 18 of 43 probed values loaded) -----
#
# Each case puts one value on line 7 of the spec, under its section on line 5, so the line
# in the message is the field's own: (section, the field's YAML, field, what is expected).
BOUNDED = [
    ("serving", "flush_seconds: .inf", "flush_seconds", "seconds from 1 to 3600, got inf"),
    ("serving", "flush_seconds: 1.0e-9", "flush_seconds", "seconds from 1 to 3600, got 1e-09"),
    ("serving", "flush_rows: 10000000000", "flush_rows", "rows from 1 to 1000000"),
    ("serving", "max_request_bytes: 10000000000", "max_request_bytes", "bytes from 1024 to"),
    ("serving", "max_request_bytes: 1e10", "max_request_bytes", "an integer, got 10000000000.0"),
    ("serving", "max_request_bytes: 10", "max_request_bytes", "bytes from 1024 to 67108864"),
    ("serving", "max_batch_size: 1000000", "max_batch_size", "instances from 1 to 4096"),
    ("serving", "batch_timeout_micros: 1000000000000", "batch_timeout_micros", "0 to 1000000"),
    # Where four levels up lands depends on how deep the test's folder is (an xdist worker
    # adds one); ten levels up is the file system's root from any of them.
    ("serving", "log_root: ../../../../etc/mlrail", "log_root", "; it resolves to /"),
    ("serving", "log_root: " + "../" * 10 + "etc/mlrail", "log_root", "resolves to /etc/mlrail"),
    ("serving", "log_root: /etc/mlrail", "log_root", "a gs:// URL or a folder inside"),
    ("serving", "log_root: file:///etc/mlrail", "log_root", "a gs:// URL or a folder inside"),
    ("serving", 'log_root: "logs\\0x"', "log_root", "no control characters"),
    ("serving", "log_root: gs://bucket/../other", "log_root", "no '..' segment"),
    ("sandbox", "concurrency: [100000]", "concurrency[0]", "at most 256 clients at once"),
    ("sandbox", "concurrency: [1, 8, 1]", "concurrency[2]", "distinct levels, got 1"),
    ("sandbox", "concurrency: [1, 2, 3, 4, 5, 6, 7, 8, 9]", "concurrency", "at most 8 levels"),
    ("sandbox", "max_latency_ratio: .inf", "max_latency_ratio", "a ratio from 1.0 to 100"),
    ("sandbox", "max_p99_ratio: .inf", "max_p99_ratio", "one of the known fields"),  # renamed
    ("sandbox", "rounds: 1000000", "rounds", "rounds from 1 to 1000, got 1000000"),
    ("sandbox", "requests_per_round: 100000000", "requests_per_round", "from 1 to 100000"),
    ("sandbox", "warmup_requests: 100000000", "warmup_requests", "from 0 to 10000"),
    ("sandbox", "p99_budget_ms: .inf", "p99_budget_ms", "milliseconds from 1 to 60000"),
    ("sandbox", "memory_limit_mb: 1", "memory_limit_mb", "MB from 256 to 1048576, got 1"),
    ("sandbox", "memory_limit_mb: 100000000000", "memory_limit_mb", "MB from 256 to 1048576"),
    ("sandbox", "cpus: [0, 0]", "cpus[1]", "distinct CPU numbers, got 0"),
    ("sandbox", "cpus: [100000]", "cpus[0]", "a CPU number from 0 to 8191"),
    ("sandbox", "workers: 500", "workers", "server processes from 1 to 64, got 500"),
    ("sandbox", "workers: 5\n  cpus: [0]", "workers", "at most 4 server processes per CPU"),
    ("sandbox", "max_loading_seconds: .inf", "max_loading_seconds", "seconds from 1 to 3600"),
    ("sandbox", "max_loading_seconds: 1.0e-9", "max_loading_seconds", "seconds from 1 to"),
    ("sandbox", "max_loading_seconds: 600", "max_loading_seconds", "max_minutes (5) allows"),
    ("sandbox", "load_tries: 1000000", "load_tries", "tries from 1 to 10, got 1000000"),
    ("sandbox", "parity_rows: 100000000", "parity_rows", "rows from 1 to 10000"),
    ("sandbox", "parity_tolerance: .inf", "parity_tolerance", "up to 0.1, got inf"),
    ("sandbox", "replay_window_hours: 1e12", "replay_window_hours", "at most 744"),
    ("sandbox", "max_minutes: 1e-9", "max_minutes", "minutes from 1 to 1440, got 1e-09"),
    ("sandbox", "max_minutes: .inf", "max_minutes", "minutes from 1 to 1440, got inf"),
]


@pytest.mark.parametrize(
    "section, value, field, expected", BOUNDED, ids=[f"{s}.{v}" for s, v, _, _ in BOUNDED]
)
def test_out_of_range_values_fail_at_load_naming_file_line_and_field(
    tmp_path, section, value, field, expected
):
    # max_minutes: 5 only matters to the loading-time case; it is in range for the others.
    others = "  max_minutes: 5\n" if section == "sandbox" and "max_minutes" not in value else ""
    path = _spec(tmp_path, GOOD + f"{section}:\n  # probed:\n  {value}\n" + others)
    with pytest.raises(SpecError) as refused:
        load_spec(path)
    message = str(refused.value)
    assert message.startswith(f"{path}:7: field '{section}.{field}': expected "), message
    assert expected in message, message


def test_a_cpu_this_machine_lacks_fails_where_the_sandbox_starts(tmp_path):
    """A spec loads where the DAG is parsed, which may not be the worker that runs the
    sandbox (mlrail.spec.machine): the CPUs are judged by the machine the sandbox starts
    on, with the spec's file, line and field."""
    available = sorted(os.sched_getaffinity(0))
    missing = available[-1] + 1
    path = _spec(tmp_path, GOOD + f"sandbox:\n  # pinned:\n  cpus: [{available[0]}, {missing}]\n")
    spec = load_spec(path)
    with pytest.raises(SpecError) as refused:
        check_sandbox_machine(spec)
    assert str(refused.value).startswith(
        f"{path}:7: field 'sandbox.cpus[1]': expected a CPU this machine offers ("
    )
    assert str(refused.value).endswith(f"), got {missing}")


@pytest.mark.parametrize(
    "section, available, field, expected",
    [
        ("cpus: [99]", [0, 1], "cpus[0]", "a CPU this machine offers (0-1), got 99"),
        ("cpus: [1, 3]", [0, 1, 2, 4, 5], "cpus[1]", "offers (0-2, 4-5), got 3"),
        ("workers: 9", [0, 1], "workers", "8 for the 2 CPUs on this machine, got 9"),
    ],
)
def test_the_machine_check_names_file_line_and_field(tmp_path, section, available, field, expected):
    path = _spec(tmp_path, GOOD + f"sandbox:\n  # this machine:\n  {section}\n")
    with pytest.raises(SpecError) as refused:
        check_sandbox_machine(load_spec(path), available)
    message = str(refused.value)
    assert message.startswith(f"{path}:7: field 'sandbox.{field}': expected "), message
    assert message.endswith(expected), message


def test_a_machine_that_holds_the_sandbox_passes(tmp_path):
    spec = load_spec(_spec(tmp_path, GOOD + "sandbox: {cpus: [0, 1], workers: 8}\n"))
    check_sandbox_machine(spec, [0, 1, 2])  # 4 processes per pinned CPU
    unpinned = dataclasses.replace(spec, sandbox=SandboxSpec(workers=4), path="")
    check_sandbox_machine(unpinned, [0])


def test_the_repositorys_specs_and_the_tests_sandbox_load(tmp_path):
    """The bounds refuse what no production server means, nothing in use: every spec in
    include/pipelines, and the tests' short sandbox as a spec's section."""
    loaded = [
        load_spec(path).pipeline
        for path in sorted((ROOT / "include" / "pipelines").glob("*.yaml"))
        if not path.name.endswith(".schema.yaml")
    ]
    assert "taxi_tips" in loaded
    spec = load_spec(_spec(tmp_path, GOOD + sandbox_yaml()))
    assert spec.sandbox == SandboxSpec(**TEST_SANDBOX) and spec.serving == ServingSpec()
