"""The training DAG renders exactly as it did before the pipeline model (issue 19): the
same tasks, edges, knobs, setup/teardown, params and extra links, for the example spec and
for one with every optional part on. The expected structure was produced by
tests/dags/dag_structure.py from the DAG factory of that time, not written by hand."""

import json
from pathlib import Path

from mlrail_airflow.dag_factory import pipeline_dags
from tests.dags.dag_structure import rendered

BEFORE = json.loads((Path(__file__).parent / "training_dag.json").read_text())


def test_the_training_dag_renders_as_before():
    now = rendered(pipeline_dags)
    assert now.keys() == BEFORE.keys()
    for variant, dags in BEFORE.items():
        assert now[variant] == dags, variant
