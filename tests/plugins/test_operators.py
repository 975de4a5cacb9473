import pytest

from mlrail_airflow.operators.base import artifact_id


def test_artifact_id_from_upstream_result():
    upstream = {"artifacts": {"examples": {"id": 4, "type": "Examples", "uri": "/x"}}}
    assert artifact_id(upstream, "examples", "ingest") == 4


@pytest.mark.parametrize("upstream", [None, {}, {"artifacts": {}}])
def test_missing_upstream_result_tells_what_to_clear(upstream):
    with pytest.raises(ValueError, match="the ingest task must run first and succeed"):
        artifact_id(upstream, "examples", "ingest")


def test_operator_declares_its_upstream_results_as_templated_inputs():
    from mlrail_airflow.operators import TrainModelOperator

    assert TrainModelOperator.template_fields == (
        "examples",
        "statistics",
        "schema",
        "hyperparameters",
    )
    with pytest.raises(TypeError, match="needs the upstream result\\(s\\) \\['schema'\\]"):
        TrainModelOperator(task_id="train", spec_path="s.yaml", examples={}, statistics={})
