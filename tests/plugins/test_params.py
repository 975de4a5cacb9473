"""Every DAG's trigger form, checked the way Airflow 3's UI and API server check it.

The UI's rules, reproduced from airflow-core/src/airflow/ui/src/ (Airflow 3.3; the same
code is compiled into airflow/ui/dist/assets/index-*.js of the installed Airflow):

- components/FlexibleForm/isParamRequired.tsx: a param is required when its schema has a
  ``type`` and that type is not a list that includes "null";
- components/FlexibleForm/FlexibleForm.tsx (``recheckSection``): while a required param's
  value is null, undefined or "", its section shows an error and Trigger stays disabled;
- components/FlexibleForm/FieldString.tsx: emptying a text field stores null;
- components/FlexibleForm/FieldMultiType.tsx (``matchesSchemaType``): typed JSON counts
  as a value only if its JSON type is one the schema lists;
- queries/useParamStore.ts: the conf the form posts is ``{name: value}`` of every param.

The form receives each param as the API's DAG details dump it (DAGDetailsResponse: value,
schema, description); the server validates the posted conf with the DAG's serialized
params (SerializedDAG.create_dagrun: ``params.deep_merge(conf).validate()``), and the
task runner with the DAG's own ParamsDict.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest

from tests.conftest import ROOT

# One value of each JSON type, to offer a param every type its schema does not list.
SAMPLES = {
    "string": "text",
    "number": 1.5,
    "integer": 7,
    "boolean": True,
    "array": ["a.csv"],
    "object": {"path": "a.csv"},
    "null": None,
}


@functools.cache
def dags() -> dict[str, Any]:
    """The DAGs of the dags folder, read as the DAG processor reads them."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=ROOT / "dags", known_pools={"default_pool", "training", "gpu"})
    assert bag.import_errors == {}
    return bag.dags


def pytest_generate_tests(metafunc):
    if "dag_id" in metafunc.fixturenames:
        ids = sorted(dags())
        metafunc.parametrize("dag_id", ids, ids=ids)


def served(dag_id: str):
    """The DAG as the API server holds it: serialized, then deserialized."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dags()[dag_id]))


def form(dag_id: str) -> dict[str, dict]:
    """The params as the trigger form receives them from GET /api/v2/dags/{id}/details."""
    from airflow.api_fastapi.core_api.datamodels.dags import DAGDetailsResponse

    return DAGDetailsResponse.get_params(served(dag_id).params)


def types_of(spec: dict) -> list[str]:
    kind = spec["schema"].get("type")
    return kind if isinstance(kind, list) else [kind] if kind else []


def required(spec: dict) -> bool:
    """isParamRequired.tsx."""
    kind = spec["schema"].get("type")
    return bool(kind) and (not isinstance(kind, list) or "null" not in kind)


def blocking(fields: dict[str, dict]) -> list[str]:
    """The params that keep Trigger disabled (FlexibleForm.tsx, recheckSection)."""
    return [name for name, spec in fields.items() if required(spec) and spec["value"] in (None, "")]


def json_type(value: Any) -> str:
    """JavaScript's view of a parsed JSON value, as matchesSchemaType takes it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def matches_schema_type(value: Any, spec: dict) -> bool:
    """FieldMultiType.tsx, matchesSchemaType: JSON "integer" is a whole "number"."""
    kind = json_type(value)
    return any(
        t == kind or (t == "integer" and kind == "number" and float(value).is_integer())
        for t in types_of(spec)
    )


def server_accepts(dag_id: str, conf: dict) -> None:
    """Raises ParamValidationError unless both Airflow's API server (creating the run) and
    the task runner (the DAG's own params) accept ``conf``."""
    served(dag_id).params.deep_merge(conf).validate()
    params = copy.deepcopy(dags()[dag_id].params)
    params.update(conf)
    params.validate()


def test_the_trigger_form_submits_its_defaults(dag_id):
    fields = form(dag_id)
    assert blocking(fields) == [], f"{dag_id}: the form requires a value for {blocking(fields)}"
    for name, spec in fields.items():
        assert types_of(spec), f"{dag_id}: param {name} has no type: the form validates nothing"
        assert spec["description"], f"{dag_id}: param {name} has no description in the form"
    server_accepts(dag_id, {name: spec["value"] for name, spec in fields.items()})


def test_an_optional_text_field_left_empty_submits(dag_id):
    """FieldString stores null for an emptied field: the server must take what the form
    lets through."""
    fields = form(dag_id)
    texts = [n for n, spec in fields.items() if "string" in types_of(spec) and not required(spec)]
    for name in texts:
        emptied = {**fields, name: {**fields[name], "value": None}}
        assert blocking(emptied) == []
        server_accepts(dag_id, {n: spec["value"] for n, spec in emptied.items()})


def test_a_value_of_a_type_the_param_does_not_take_is_refused_by_form_and_server(dag_id):
    from airflow.sdk.exceptions import ParamValidationError

    fields = form(dag_id)
    for name, spec in fields.items():
        allowed = types_of(spec)
        wrong = [
            value
            for kind, value in SAMPLES.items()
            if kind not in allowed and not (kind == "integer" and "number" in allowed)
        ]
        for value in wrong:
            assert not matches_schema_type(value, spec), (name, value)
            with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}"):
                server_accepts(dag_id, {name: value})


def test_training_form_types_what_a_user_enters(dag_id):
    if not dag_id.endswith("_training"):
        pytest.skip(f"{dag_id} is not a training DAG")
    fields = form(dag_id)
    assert not matches_schema_type(5, fields["data_source"])  # a number is no path
    assert not matches_schema_type("yes", fields["force"])  # a string is no switch
    assert required(fields["force"])  # a switch is never empty: its False submits
    assert not required(fields["data_source"])  # empty: the spec's data.source
    server_accepts(dag_id, {"data_source": "data/taxi_tips/other.parquet", "force": True})
