"""Great Expectations in validation: generated suite, user suites, Data Docs."""

import dataclasses
import json

import pytest

from mlrail.components.pipeline import (
    BlockingAnomaliesError,
    compute_statistics,
    infer_schema,
    ingest_examples,
    validate_data,
)
from mlrail.data.expectations import load_user_suites, suite_from_schema
from mlrail.store.runner import RunInfo
from tests.conftest import spec_for

pytestmark = pytest.mark.slow


def _prepare(env, spec):
    run = RunInfo(spec.pipeline, run_id="r")
    examples = ingest_examples(env, spec, run).outputs["examples"].id
    stats = compute_statistics(env, spec, run, examples).outputs["statistics"].id
    schema = infer_schema(env, spec, run, stats).outputs["schema"].id
    return run, examples, stats, schema


def _with_suites(spec, directory):
    return dataclasses.replace(
        spec, expectations=dataclasses.replace(spec.expectations, directory=str(directory))
    )


def test_failing_user_expectation_fails_with_its_name(env, tmp_path, taxi_file):
    suites = tmp_path / "expectations"
    suites.mkdir()
    (suites / "fares.json").write_text(
        json.dumps(
            {
                "name": "fares_are_small",
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "fare", "min_value": 0, "max_value": 10},
                    }
                ],
            }
        )
    )
    spec = _with_suites(spec_for(taxi_file), suites)
    with pytest.raises(BlockingAnomaliesError) as info:
        validate_data(env, spec, *_prepare(env, spec))
    message = str(info.value)
    assert "expectation expect_column_values_to_be_between" in message
    assert "suite 'fares_are_small'" in message and "on 'fare' failed" in message
    (execution,) = env.metadata.executions(component="validate")
    anomalies = env.metadata.io_of(execution.id, "output")["anomalies"]
    document = env.artifacts.read_json(anomalies.uri, "anomalies.json")
    assert document["great_expectations"]["fares_are_small"]["train"]["success"] is False
    assert document["great_expectations"]["mlrail_schema"]["train"]["success"] is True
    with env.artifacts.read(anomalies.uri) as local:
        assert "fares_are_small" in (local / "gx_docs" / "index.html").read_text()


def test_passing_suites_and_generated_warnings(env, tmp_path, taxi_file):
    spec = _with_suites(spec_for(taxi_file), tmp_path / "none")
    result = validate_data(env, spec, *_prepare(env, spec))
    assert result.result["blocking"] == 0
    assert not [m for m in result.result["messages"] if "expectation" in m]


def test_generated_suite_mirrors_the_schema():
    schema = {
        "label": {"name": "y"},
        "features": [
            {"name": "fare", "role": "numeric", "nullable": False, "min": 1.0, "max": 9.0},
            {"name": "pay", "role": "categorical", "nullable": True, "domain": ["Cash"]},
        ],
    }
    suite = suite_from_schema(
        schema, {"max_out_of_range_share": 0.01, "max_unseen_category_share": 0.05}
    )
    types = [(e["type"], e["kwargs"].get("column")) for e in suite.expectations]
    assert types == [
        ("expect_column_to_exist", "fare"),
        ("expect_column_values_to_not_be_null", "fare"),
        ("expect_column_values_to_be_between", "fare"),
        ("expect_column_to_exist", "pay"),
        ("expect_column_values_to_be_in_set", "pay"),
        ("expect_column_values_to_not_be_null", "y"),
    ]
    assert not suite.blocking


def test_malformed_user_suite_names_the_file(tmp_path):
    (tmp_path / "bad.json").write_text('{"expectations": [{"kwargs": {}}]}')
    with pytest.raises(ValueError, match="bad.json: not a GX expectation suite"):
        load_user_suites(tmp_path)


def test_schema_file_beside_the_spec_overrides_the_inferred_schema(env, tmp_path, taxi_file):
    spec_dir = tmp_path / "include" / "pipelines"
    spec_dir.mkdir(parents=True)
    (spec_dir / "taxi_tips.schema.yaml").write_text("features:\n  fare: {min: 0.0, max: 5000.0}\n")
    spec = dataclasses.replace(spec_for(taxi_file), path=str(spec_dir / "taxi_tips.yaml"))
    run, examples, stats, schema_id = _prepare(env, spec)
    schema = env.artifacts.read_json(env.metadata.get_artifact(schema_id).uri, "schema.json")
    fare = {f["name"]: f for f in schema["features"]}["fare"]
    assert (fare["min"], fare["max"]) == (0.0, 5000.0)
    assert schema["overrides"] == str(spec_dir / "taxi_tips.schema.yaml")
    # Editing the file is a new parameter: the schema is inferred again, not served cached.
    (spec_dir / "taxi_tips.schema.yaml").write_text("features:\n  fare: {max: 9000.0}\n")
    again = infer_schema(env, spec, run, stats)
    assert not again.cached
