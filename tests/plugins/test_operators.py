import pytest

from mlrail_airflow.operators.base import artifact_id


def test_artifact_id_from_upstream_result():
    upstream = {"artifacts": {"examples": {"id": 4, "type": "Examples", "uri": "/x"}}}
    assert artifact_id(upstream, "examples", "examples") == 4


@pytest.mark.parametrize("upstream", [None, {}, {"artifacts": {}}])
def test_missing_upstream_result_tells_what_to_clear(upstream):
    with pytest.raises(
        ValueError, match="the task that gives this task its examples must run first and succeed"
    ):
        artifact_id(upstream, "examples", "examples")


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


@pytest.fixture
def project(tmp_path, monkeypatch, taxi_frame):
    """A spec in a project of its own, the stores behind the mlrail_default connection."""
    from mlrail.data.datagen import write_dataset
    from tests.conftest import mlrail_connection, write_taxi_spec

    monkeypatch.setenv("AIRFLOW_CONN_MLRAIL_DEFAULT", mlrail_connection(tmp_path))
    return write_taxi_spec(tmp_path, write_dataset(taxi_frame, tmp_path / "data" / "trips.parquet"))


def _upstream(spec, until: str = "schema", **params) -> dict:
    """Run the data operators on ``spec`` up to ``until``; their results by argument name
    (``params``: DAG params of the ingest run, e.g. data_source)."""
    from mlrail_airflow.operators import (
        ComputeStatisticsOperator,
        InferSchemaOperator,
        IngestExamplesOperator,
    )
    from tests.plugins.task_context import context

    path = str(spec)
    results = {
        "examples": IngestExamplesOperator(task_id="ingest", spec_path=path).execute(
            context(**params)
        )
    }
    results["statistics"] = ComputeStatisticsOperator(
        task_id="statistics", spec_path=path, examples=results["examples"]
    ).execute(context())
    if until == "schema":
        results["schema"] = InferSchemaOperator(
            task_id="schema", spec_path=path, statistics=results["statistics"]
        ).execute(context())
    return results


def _fails_at_once(operator, **params):
    """Run ``operator`` as Airflow would; return the message of the failure Airflow sees,
    which must be final (AirflowFailException: no retry)."""
    from airflow.sdk.exceptions import AirflowFailException

    from tests.plugins.task_context import context

    with pytest.raises(AirflowFailException) as raised:
        operator.execute(context(**params))
    return str(raised.value)


@pytest.mark.slow
def test_a_spec_broken_after_the_dag_was_parsed_fails_without_retry(project):
    from mlrail_airflow.operators import IngestExamplesOperator

    operator = IngestExamplesOperator(task_id="ingest", spec_path=str(project))
    project.write_text(project.read_text() + "evaluation: {thresholds: {rmse: {max: 1}}}\n")
    message = _fails_at_once(operator)
    assert "SpecError" in message and "field 'evaluation.thresholds.rmse'" in message
    assert "a metric binary_classification produces: auc" in message


@pytest.mark.slow
def test_a_label_the_task_cannot_learn_fails_without_retry(project):
    from mlrail_airflow.operators import InferSchemaOperator

    project.write_text(
        project.read_text()
        .replace("pipeline: taxi_tips", "pipeline: taxi_tips\ntask: regression")
        .replace("label: big_tipper", "label: payment_type")
    )
    statistics = _upstream(project, until="statistics")["statistics"]
    message = _fails_at_once(
        InferSchemaOperator(task_id="schema", spec_path=str(project), statistics=statistics)
    )
    assert (
        "LabelError: label 'payment_type' holds strings; regression needs numbers: set "
        "task: multiclass_classification" in message
    )


@pytest.mark.slow
def test_a_feature_of_the_wrong_type_fails_before_tensorflow_without_retry(
    project, tmp_path, taxi_frame
):
    """The schema says fare is a number; a new version of the data has it as text."""
    from mlrail.data.datagen import write_dataset
    from mlrail_airflow.operators import TrainModelOperator

    upstream = _upstream(project)
    text = write_dataset(
        taxi_frame.assign(fare=taxi_frame["fare"].map("${:.2f}".format)),
        tmp_path / "data" / "text_fares.parquet",
    )
    changed = _upstream(project, data_source=str(text))
    train = TrainModelOperator(
        task_id="train",
        spec_path=str(project),
        examples=changed["examples"],
        statistics=upstream["statistics"],
        schema=upstream["schema"],
    )
    message = _fails_at_once(train)
    assert (
        "DataError" in message and "feature 'fare' holds strings, the schema says float" in message
    )


@pytest.mark.slow
def test_a_missing_model_module_fails_without_retry(project):
    from mlrail_airflow.operators import TrainModelOperator

    upstream = _upstream(project)
    project.write_text(project.read_text().replace("train: {", "train: {module: models/gone.py, "))
    message = _fails_at_once(
        TrainModelOperator(task_id="train", spec_path=str(project), **upstream)
    )
    assert "field 'train.module': expected the path of an existing model module file" in message


@pytest.mark.slow
def test_blocking_anomalies_fail_without_retry(project, tmp_path, taxi_frame):
    from mlrail.data.datagen import write_dataset
    from mlrail_airflow.operators import ValidateDataOperator

    upstream = _upstream(project)
    bad = write_dataset(
        taxi_frame.assign(payment_type="Bitcoin"), tmp_path / "data" / "bad.parquet"
    )
    changed = _upstream(project, data_source=str(bad))
    validate = ValidateDataOperator(
        task_id="validate",
        spec_path=str(project),
        examples=changed["examples"],
        statistics=changed["statistics"],
        schema=upstream["schema"],
    )
    message = _fails_at_once(validate)
    assert "BlockingAnomaliesError" in message and "'payment_type' values" in message


def test_a_data_source_outside_the_data_roots_fails_without_retry(project):
    """The trigger form's data_source is whatever the person triggering typed: /etc is
    refused before anything is listed, and the failure is final."""
    from mlrail_airflow.operators import IngestExamplesOperator

    ingest = IngestExamplesOperator(task_id="ingest", spec_path=str(project))
    message = _fails_at_once(ingest, data_source="/etc")
    data = project.parents[2] / "data"
    assert message.startswith(
        f"SourceNotAllowed: data source '/etc' is outside the allowed data roots ['{data}']"
    )


def test_the_connection_names_the_data_roots(project, monkeypatch, tmp_path, taxi_frame):
    """data_roots in the mlrail_default connection's extra replace the defaults; a value
    that is not a list of paths fails at once, naming the connection."""
    import json
    import os

    from mlrail.data.datagen import write_dataset
    from mlrail_airflow.operators import IngestExamplesOperator
    from tests.plugins.task_context import context

    lake = tmp_path / "lake"
    outside_default = write_dataset(taxi_frame, lake / "trips.parquet")
    conn = json.loads(os.environ["AIRFLOW_CONN_MLRAIL_DEFAULT"])
    ingest = IngestExamplesOperator(task_id="ingest", spec_path=str(project))
    assert "outside the allowed data roots" in _fails_at_once(
        ingest, data_source=str(outside_default)
    )
    conn["extra"]["data_roots"] = [str(lake)]
    monkeypatch.setenv("AIRFLOW_CONN_MLRAIL_DEFAULT", json.dumps(conn))
    result = ingest.execute(context(data_source=str(outside_default)))
    assert result["rows"]["train"] > 0
    conn["extra"]["data_roots"] = {"path": str(lake)}
    monkeypatch.setenv("AIRFLOW_CONN_MLRAIL_DEFAULT", json.dumps(conn))
    message = _fails_at_once(ingest, data_source=str(outside_default))
    assert message.startswith(
        "ValueError: connection mlrail_default: extra data_roots: expected a list of paths"
    )
