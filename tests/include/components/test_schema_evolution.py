"""A new dataset version is checked against the schema a model was trained with."""

from __future__ import annotations

import pytest

from mlrail.components.pipeline import BlockingAnomaliesError, validate_data
from mlrail.data.datagen import write_dataset
from mlrail.data.validation import schema_changes
from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import Component, ExecutorOutput, RunInfo, run_component
from tests.conftest import spec_for

FARE = {"name": "fare", "type": "float", "role": "numeric", "min": 0.0, "max": 90.0}
COMPANY = {"name": "company", "type": "string", "role": "categorical", "domain": ["A"]}
LABEL = {"name": "tipped", "type": "int", "task": "binary", "classes": ["0", "1"]}


def _schema(*features, label=LABEL):
    return {"features": list(features), "label": label}


@pytest.mark.parametrize(
    ("current", "kind", "words"),
    [
        (_schema(dict(FARE, type="string", role="categorical"), COMPANY), "type_change",
         ["'fare' is string (categorical)", "has float (numeric)"]),
        (_schema(COMPANY), "vanished_column", ["'fare' (float, numeric) is gone"]),
        (_schema(FARE, COMPANY, label=dict(LABEL, name="tip", type="float", task="regression")),
         "label_change", ["'tip' (float, regression)", "predicts 'tipped' (int, binary)"]),
    ],
)  # fmt: skip
def test_changes_a_trained_model_cannot_take(current, kind, words):
    (change,) = schema_changes(_schema(FARE, COMPANY), current, "the blessed model v3")
    assert change.kind == kind and change.severity == "blocking"
    assert all(w in change.message for w in words) and "the blessed model v3" in change.message


def test_new_columns_and_int_float_changes_are_compatible():
    wider = _schema(dict(FARE, type="int"), COMPANY, {**COMPANY, "name": "payment"})
    assert schema_changes(_schema(FARE, COMPANY), wider, "v1") == []


@pytest.fixture
def fares_as_text(taxi_frame, taxi_file):
    """The next export of the same source writes fares as "$12.50"."""

    def rewrite():
        text = taxi_frame.assign(fare=taxi_frame.fare.map(lambda f: f"${f:.2f}"))
        write_dataset(text, taxi_file)

    return rewrite


def test_a_numeric_column_arriving_as_text_blocks_before_training(
    env, prepare, taxi_file, fares_as_text
):
    spec = spec_for(taxi_file)
    prepare(spec, run_id="monday")
    fares_as_text()
    tuesday = prepare(spec, run_id="tuesday")
    with pytest.raises(BlockingAnomaliesError) as blocked:
        validate_data(env, spec, tuesday.run, *tuesday.ids)
    message = str(blocked.value)
    assert "column 'fare' is string (categorical) in this dataset version" in message
    assert "the schema of run monday has float (numeric)" in message


def _train(ctx):
    (ctx.outputs["model"] / "saved_model.pb").write_text("graph")
    return ExecutorOutput()


def test_the_blessed_models_schema_is_the_reference(env, prepare, taxi_file, fares_as_text):
    spec = spec_for(taxi_file)
    monday = prepare(spec, run_id="monday")
    train = Component("train", _train, {"model": "Model"})
    model = run_component(env, train, {"schema": monday.schema}, {}, monday.run)
    registry = ModelRegistry(env.metadata)
    registry.register(spec.model_name, model.outputs["model"].id, None)
    registry.publish(spec.model_name, 1, "blessed", "first", "tester", None)
    fares_as_text()
    prepare(spec, run_id="tuesday")  # a schema newer than the model's, already with text
    wednesday = prepare(spec, run_id="wednesday")
    with pytest.raises(BlockingAnomaliesError, match="the blessed model v1 has float"):
        validate_data(env, spec, RunInfo(spec.pipeline, run_id="wednesday"), *wednesday.ids)


def test_a_change_made_on_purpose_can_be_accepted(env, prepare, taxi_file, fares_as_text):
    import dataclasses

    spec = spec_for(taxi_file)
    prepare(spec, run_id="monday")
    fares_as_text()
    accepting = dataclasses.replace(
        spec,
        validation=dataclasses.replace(spec.validation, schema_change="warning"),
        # The taxi suite checks fares are numbers in range: not the check under test.
        expectations=dataclasses.replace(spec.expectations, enabled=False),
    )
    tuesday = prepare(accepting, run_id="tuesday")
    result = validate_data(env, accepting, tuesday.run, *tuesday.ids)
    assert any("[warning] column 'fare' is string" in m for m in result.result["messages"])
