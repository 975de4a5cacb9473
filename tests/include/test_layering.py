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


def test_the_spec_depends_on_no_other_concern_at_import():
    """Every concern reads the spec (and the metric catalogue in it); the spec imports no
    other concern when it is imported, so no import order holds a cycle together."""
    import ast
    from pathlib import Path

    import mlrail.spec

    imported = {}
    for path in Path(mlrail.spec.__file__).parent.glob("*.py"):
        for node in ast.parse(path.read_text()).body:  # module level only
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlrail"):
                imported.setdefault(node.module.split(".")[1], []).append(path.name)
    assert set(imported) <= {"spec", "errors"}, imported
