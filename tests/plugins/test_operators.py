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


@pytest.mark.slow
def test_tfx_module_trains_through_the_operators(tmp_path, monkeypatch, taxi_file):
    """A TFX Trainer module file (run_fn) goes through the same operators as any model."""
    import json
    import textwrap

    import tensorflow as tf

    from mlrail_airflow.operators import (
        ComputeStatisticsOperator,
        InferSchemaOperator,
        IngestExamplesOperator,
        TrainModelOperator,
    )
    from tests.conftest import ROOT
    from tests.plugins.task_context import context

    settings = {
        "artifact_root": str(tmp_path / "artifacts"),
        "metadata_url": f"sqlite:///{tmp_path / 'metadata.db'}",
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLRAIL_DEFAULT", json.dumps({"conn_type": "generic", "extra": settings})
    )
    spec = tmp_path / "include" / "pipelines" / "taxi_tips.yaml"
    spec.parent.mkdir(parents=True)
    module = ROOT / "tests" / "include" / "training" / "modules" / "tfx_style_module.py"
    spec.write_text(
        textwrap.dedent(f"""
        pipeline: taxi_tips
        data: {{source: "{taxi_file}", label: big_tipper, features: {{exclude: [trip_id, tips]}}}}
        train:
          module: "{module}"
          hyperparameters: {{batch_size: 64, epochs: 1}}
          custom_config: {{units: 8}}
        """)
    )
    path = str(spec)
    examples = IngestExamplesOperator(task_id="ingest", spec_path=path).execute(context())
    statistics = ComputeStatisticsOperator(
        task_id="statistics", spec_path=path, examples=examples
    ).execute(context())
    schema = InferSchemaOperator(task_id="schema", spec_path=path, statistics=statistics).execute(
        context()
    )
    result = TrainModelOperator(
        task_id="train", spec_path=path, examples=examples, statistics=statistics, schema=schema
    ).execute(context())
    (stage,) = result["stages"]
    assert stage["tfx_run_fn"] and stage["train_steps"] > 1
    model = result["artifacts"]["model"]["uri"]
    serve = tf.saved_model.load(f"{model}/saved_model").signatures["serving_default"]
    assert set(serve.structured_input_signature[1]) == {"trip_miles", "trip_seconds", "fare"}
