"""Great Expectations in validation: generated suite, user suites, Data Docs."""

import dataclasses
import json

import pytest

from mlrail.components.pipeline import (
    BlockingAnomaliesError,
    infer_schema,
    validate_data,
)
from mlrail.data.expectations import load_user_suites, suite_from_schema
from tests.conftest import spec_for

pytestmark = pytest.mark.slow


def _with_suites(spec, directory):
    return dataclasses.replace(
        spec, expectations=dataclasses.replace(spec.expectations, directory=str(directory))
    )


def test_failing_user_expectation_fails_with_its_name(env, prepare, tmp_path, taxi_file):
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
    data = prepare(spec)
    with pytest.raises(BlockingAnomaliesError) as info:
        validate_data(env, spec, data.run, *data.ids)
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


def test_passing_user_suite_and_generated_warnings(env, prepare, tmp_path, taxi_file, taxi_frame):
    """Fares three times higher in 5 % of the rows: outside the schema's range, so the
    suite generated from the schema fails, as a warning; the project's own suite (fares in
    [0, 1000]) passes; nothing blocks."""
    from mlrail.data.datagen import write_dataset
    from tests.conftest import ROOT

    suites = ROOT / "include" / "expectations" / "taxi_tips"
    good = prepare(_with_suites(spec_for(taxi_file), suites), run_id="good")
    high = taxi_frame["fare"].where(taxi_frame.index % 20 != 0, taxi_frame["fare"] * 3 + 100)
    shifted = write_dataset(taxi_frame.assign(fare=high), tmp_path / "shifted.parquet")
    spec = _with_suites(spec_for(shifted), suites)
    data = prepare(spec, run_id="shifted")
    examples, statistics, _ = data.ids
    result = validate_data(env, spec, data.run, examples, statistics, good.schema.id)
    assert result.result["blocking"] == 0
    generated = [m for m in result.result["messages"] if "suite 'mlrail_schema'" in m]
    assert generated and all(m.startswith("[warning]") for m in generated)
    assert any("expect_column_values_to_be_between" in m and "'fare'" in m for m in generated)
    document = env.artifacts.read_json(result.outputs["anomalies"].uri, "anomalies.json")
    gx = document["great_expectations"]
    assert all(outcome["success"] for outcome in gx["taxi_trip_sanity"].values())
    assert not all(outcome["success"] for outcome in gx["mlrail_schema"].values())


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


def test_schema_file_beside_the_spec_overrides_the_inferred_schema(
    env, prepare, tmp_path, taxi_file
):
    spec_dir = tmp_path / "include" / "pipelines"
    spec_dir.mkdir(parents=True)
    (spec_dir / "taxi_tips.schema.yaml").write_text("features:\n  fare: {min: 0.0, max: 5000.0}\n")
    spec = dataclasses.replace(spec_for(taxi_file), path=str(spec_dir / "taxi_tips.yaml"))
    data = prepare(spec)
    run, stats, schema_id = data.run, data.statistics.id, data.schema.id
    schema = env.artifacts.read_json(env.metadata.get_artifact(schema_id).uri, "schema.json")
    fare = {f["name"]: f for f in schema["features"]}["fare"]
    assert (fare["min"], fare["max"]) == (0.0, 5000.0)
    assert schema["overrides"] == str(spec_dir / "taxi_tips.schema.yaml")
    # Editing the file is a new parameter: the schema is inferred again, not served cached.
    (spec_dir / "taxi_tips.schema.yaml").write_text("features:\n  fare: {max: 9000.0}\n")
    again = infer_schema(env, spec, run, stats)
    assert not again.cached
