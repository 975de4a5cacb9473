"""A sandbox asking for more than the worker it runs on holds fails before any server
starts, naming the spec's file, line and field (the spec loads where the DAG is parsed,
which cannot judge the worker's CPUs)."""

from __future__ import annotations

import pytest

from mlrail.components.sandbox import start_sandbox
from mlrail.spec import SpecError, load_spec
from mlrail.store.runner import RunInfo


def test_a_cpu_the_worker_lacks_fails_the_setup_naming_the_spec_line(env, tmp_path):
    spec_file = tmp_path / "include" / "pipelines" / "p.yaml"
    spec_file.parent.mkdir(parents=True)
    spec_file.write_text(
        "pipeline: p\n"
        "data: {source: data.csv, label: y}\n"
        "sandbox:\n"
        "  cpus: [8000]\n"
    )
    spec = load_spec(spec_file)  # loads: only the worker can tell which CPUs it has
    with pytest.raises(SpecError) as refused:
        start_sandbox(env, spec, RunInfo("p", run_id="r"), model_id=1)
    message = str(refused.value)
    assert message.startswith(f"{spec_file}:4: field 'sandbox.cpus[0]': expected a CPU"), message
