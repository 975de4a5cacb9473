"""Fuzzing the running server: whatever a client sends, the answer is never a 5xx.

Two sources of requests. Schemathesis generates them for every operation of the server's
own ``/openapi.json``; that covers paths and parameters, but the predict operations read
the raw body, so the schema describes no body for them. The explicit strategy below fills
that gap: random JSON, and instances built from the served signature with wrong types,
missing or extra features, huge numbers, lone surrogates and nesting.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.include.serving.conftest import MODEL

pytestmark = pytest.mark.slow

# Fixed and bounded: the same requests on every run, a minute or two on two cores.
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(scope="module")
def api_schema(server):
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", timeout=30)
    schema.config.update(base_url=server.url, request_timeout=30)
    return schema


def _fuzz(operation) -> None:
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if "{name}" in operation.path:
        # The schema allows any model name, and any but the served one stops at a 404
        # before the version, label or body is looked at.
        served = {"name": MODEL}
        strategies += [
            operation.as_strategy(generation_mode=m, path_parameters=served) for m in modes
        ]
    cases = st.one_of(strategies)

    @FUZZ
    @given(case=cases)
    def call(case):
        # Only 5xx fails: 4xx is how the server refuses bad input, and the schema documents
        # none of 400/404/413, so schema conformance checks would only report that.
        case.call_and_validate(checks=[not_a_server_error])

    call()


def test_no_operation_of_the_schema_answers_5xx(api_schema, subtests):
    # Not schemathesis.pytest.from_fixture + @schema.parametrize: under pytest 9.2 its lazy
    # loader fails on the removed Node._nodeid; subtests give one report per operation too.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert any(op.method.upper() == "POST" for op in operations), [op.label for op in operations]
    for operation in operations:
        with subtests.test(operation=operation.label):
            _fuzz(operation)


# -- request bodies the schema does not describe ---------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Values at the edges of what JSON can carry and a float32 tensor or a tf.string can hold.
EDGES = (
    st.integers(min_value=2**1024, max_value=10**400)  # over any float
    | st.sampled_from([1e39, -1e39, 2**63, 5e-324])  # over float32, over int64, subnormal
    | st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
    | st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)
    | st.builds(lambda s: {"b64": s}, st.text(max_size=12))
)


def _valid(dtype: str):
    if dtype == "DT_STRING":
        return st.text(max_size=20) | st.builds(lambda s: {"b64": s}, st.just("eA=="))
    return st.integers(-1000, 1000) | st.floats(-1e6, 1e6) | st.none()


@st.composite
def _instance(draw, inputs: dict[str, str]):
    """One instance: mostly right, with some features dropped, mistyped or wrapped."""
    row = {}
    for name, dtype in inputs.items():
        choice = draw(st.sampled_from(["valid", "valid", "wrapped", "missing", "edge", "json"]))
        if choice == "missing":
            continue
        value = draw(
            _valid(dtype) if choice in ("valid", "wrapped") else EDGES if choice == "edge" else JSON
        )
        row[name] = [value] if choice == "wrapped" else value
    extra = draw(st.dictionaries(st.text(max_size=8), JSON, max_size=2))
    return {**extra, **row}


def _bodies(inputs: dict[str, str]):
    """Raw request bodies: the two TF Serving forms, broken in various ways, and noise."""
    instances = st.lists(_instance(inputs), max_size=5)
    columns = st.dictionaries(st.sampled_from(sorted(inputs)), st.lists(EDGES | JSON, max_size=3))
    documents = (
        st.fixed_dictionaries({"instances": instances})
        | st.fixed_dictionaries({"inputs": columns})
        | st.fixed_dictionaries({"instances": JSON | EDGES})
        | st.fixed_dictionaries({"inputs": JSON | EDGES})
        | st.fixed_dictionaries({"instances": instances, "inputs": columns})
        | JSON
    )
    # allow_nan: Python's json writes NaN/Infinity, which the server's parser accepts.
    encoded = documents.map(lambda doc: json.dumps(doc, allow_nan=True).encode())
    nested = st.integers(1, 5000).map(lambda n: ("[" * n + "]" * n).encode())
    return encoded | nested | st.binary(max_size=64)


def _predict_paths(base: str, model: str, version: str, vertex_route: str) -> dict[str, str]:
    prefix = f"{base}/v1/models/{model}"
    return {
        "latest": f"{prefix}:predict",
        "version": f"{prefix}/versions/{version}:predict",
        "unknown label": f"{prefix}/labels/no-such-label:predict",
        "vertex": f"{base}{vertex_route}",
    }


@pytest.fixture(scope="module")
def served(server) -> dict:
    metadata = httpx.get(f"{server.url}/v1/models/{MODEL}/metadata", timeout=30).json()
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    inputs = {name: spec["dtype"] for name, spec in signature["inputs"].items()}
    model, version = metadata["model_spec"]["name"], metadata["model_spec"]["version"]
    return {
        "inputs": inputs,
        "paths": _predict_paths(server.url, model, version, server.environ["AIP_PREDICT_ROUTE"]),
    }


@pytest.mark.parametrize("route", ["latest", "version", "unknown label", "vertex"])
@FUZZ
@given(data=st.data())
def test_no_predict_body_answers_5xx(server, served, route, data):
    body = data.draw(_bodies(served["inputs"]), label="body")
    response = httpx.post(
        served["paths"][route],
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code < 500, (
        f"POST {served['paths'][route]} answered {response.status_code} {response.text[:300]}\n"
        f"body: {body[:300]!r}"
    )


# Digits beyond ASCII pass str.isdigit(); very long ones pass it and overflow int().
VERSIONS = st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=4) | st.integers(
    4000, 6000
).map(lambda n: "9" * n)


@FUZZ
@given(version=VERSIONS)
def test_no_version_in_the_path_answers_5xx(server, version):
    url = f"{server.url}/v1/models/{MODEL}/versions/{quote(version)}"
    response = httpx.get(url, timeout=60)
    assert response.status_code < 500, f"GET {url[:200]} answered {response.text[:300]}"


def test_the_server_still_answers_after_fuzzing(server, served):
    # Runs after the fuzz tests of this module (file order): a crashed or wedged worker
    # shows here even if every fuzzed request got some answer.
    assert server.process.poll() is None, server.output()
    for path in ("/healthz", "/readyz"):
        assert httpx.get(f"{server.url}{path}", timeout=30).status_code == 200, path
    row = {n: "" if dtype == "DT_STRING" else 0 for n, dtype in served["inputs"].items()}
    answer = httpx.post(served["paths"]["latest"], json={"instances": [row, row]}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 2
