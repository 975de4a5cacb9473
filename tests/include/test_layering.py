"""The core stays importable without Airflow and without heavy ML libraries."""

import json
import subprocess
import sys

PROBE = """
import json, sys
import mlrail, mlrail.components.pipeline, mlrail.store.lineage, mlrail.cli
heavy = sorted(m for m in sys.modules if m.split('.')[0] in
               {'airflow', 'tensorflow', 'keras', 'apache_beam', 'great_expectations'})
print(json.dumps(heavy))
"""


def test_core_imports_neither_airflow_nor_heavy_libraries():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
