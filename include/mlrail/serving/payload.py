"""Request bodies into model inputs (validated against the schema) and outputs into JSON.

TF Serving's two forms: ``instances`` (rows; each a dict of named inputs, or the bare value
for a one-input model) answered by ``predictions``, and ``inputs`` (columns; a dict of
equally long lists) answered by ``outputs``. Each input of the exported model is a
``(batch, 1)`` tensor, so a value may come as ``v`` or ``[v]``. Binary strings travel as
``{"b64": "..."}``; outputs whose name ends in ``_bytes`` go back the same way.

A missing feature, one the model does not take, or one of the wrong type is refused
naming it (types are the schema's: an ``int`` feature takes a whole number within int64,
so every value answered is a value the request log can store); a null, or a category
the model never saw, goes through: the model's own preprocessing handles both.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlrail.serving.model import LoadedVersion

INT64 = (-(2**63), 2**63)  # the request log's int64 column: low bound in, high bound out
SHOWN = 100  # characters of a client's name or id an error message repeats


class InputError(ValueError):
    """The request cannot be answered as sent (a 4xx, never a 5xx)."""

    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers


def clip(text: str, limit: int = SHOWN) -> str:
    """``text`` cut to ``limit`` characters and "...": a client's 8 KB model name is not
    echoed whole in an error or a log line."""
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Parsed:
    form: str  # "instances" or "inputs"
    columns: dict[str, np.ndarray]  # model input name -> (rows, 1)
    rows: list[dict[str, Any]]  # the raw feature values per instance, for the request log

    @property
    def size(self) -> int:
        return len(self.rows)


def parse_json(raw: bytes) -> dict:
    if not raw.strip():
        raise InputError("the request body is empty; send a JSON object with instances or inputs")
    try:
        body = json.loads(raw)
    except ValueError as err:  # not JSON, not UTF-8, or an integer past Python's digit limit
        raise InputError(f"the request body is not valid JSON: {err}") from None
    except RecursionError:  # arrays nested deeper than the decoder's recursion limit
        raise InputError("the request body nests JSON too deeply") from None
    if not isinstance(body, dict):
        raise InputError(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def _unwrap(value: Any, where: str) -> Any:
    if isinstance(value, list):
        if len(value) != 1:
            raise InputError(f"{where}: expected one value (shape [1]), got a list of {len(value)}")
        return value[0]
    return value


def _string(value: Any, where: str) -> str | bytes | None:
    if value is None:
        return value
    if isinstance(value, str):
        try:
            value.encode("utf-8")  # JSON allows a lone surrogate ("\ud800"); tensors do not
        except UnicodeEncodeError:
            raise InputError(
                f"{where}: the string is not valid Unicode (a lone surrogate)"
            ) from None
        return value
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"{where}: the b64 value is not valid base64") from None
    raise InputError(f"{where}: expected a string, got {json.dumps(value)[:60]}")


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: expected a number, got {json.dumps(value)[:60]}")
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        raise InputError(f"{where}: the number is too large ({str(value)[:20]}...)") from None


def _integer(value: Any, where: str) -> int | None:
    """A whole number within int64 (``3`` or ``3.0``), kept exact for the request log."""
    if value is None:
        return None
    if type(value) is int and INT64[0] <= value < INT64[1]:  # the common case, first
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: expected a whole number, got {json.dumps(value)[:60]}")
    whole = isinstance(value, int) or (math.isfinite(value) and value.is_integer())
    if not whole:
        raise InputError(f"{where}: expected a whole number, got {clip(repr(value), 40)}")
    if not INT64[0] <= value < INT64[1]:
        raise InputError(
            f"{where}: expected a whole number within int64 (-2**63 to 2**63-1), "
            f"got {clip(str(value), 40)}"
        )
    return int(value)


class Features:
    """The model's inputs with their kinds: from the schema, restricted to the signature."""

    def __init__(self, loaded: LoadedVersion):
        dtypes = loaded.input_dtypes()
        types = {f["name"]: f["type"] for f in loaded.schema["features"]}
        self.names = sorted(dtypes)
        self.known = frozenset(self.names)
        self.strings = {n for n in self.names if dtypes[n] == "string"}
        self.types = {
            n: types.get(n, "string" if n in self.strings else "float") for n in self.names
        }
        self._convert = {
            n: _string if n in self.strings else _integer if self.types[n] == "int" else _number
            for n in self.names
        }

    def convert(self, name: str, value: Any, where: str):
        where = f"{where}feature {name!r} ({self.types[name]})"
        return self._convert[name](_unwrap(value, where), where)

    def refuse_unknown(self, given, where: str) -> None:
        """TF Serving refuses an input its signature does not have; so does this server,
        rather than answer as if the client's extra feature had been used."""
        if len(given) > len(self.names) or not self.known.issuperset(given):
            extra = sorted(set(given) - self.known, key=str)
            raise InputError(
                f"{where}feature {clip(str(extra[0]))!r} is not an input of the model "
                f"(its inputs: {self.names})"
            )

    def columns(self, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        out = {}
        for name in self.names:
            values = [row[name] for row in rows]
            if name in self.strings:
                out[name] = np.array(["" if v is None else v for v in values], object)
            else:
                out[name] = np.array([math.nan if v is None else v for v in values], "f4")
            out[name] = out[name].reshape(-1, 1)
        return out


def features_of(loaded: LoadedVersion) -> Features:
    """The version's Features, built at its first request: every request is checked
    against them, so the check costs a lookup, not a walk over the signature."""
    features = loaded.derived.get("features")
    if features is None:
        features = loaded.derived["features"] = Features(loaded)
    return features


def _row(features: Features, instance: Any, index: int) -> dict[str, Any]:
    if not isinstance(instance, dict):
        if len(features.names) != 1:
            raise InputError(f"instance {index}: expected an object with features {features.names}")
        instance = {features.names[0]: instance}
    row = {}
    for name in features.names:
        if name not in instance:
            raise InputError(f"instance {index}: feature {name!r} is missing")
        row[name] = features.convert(name, instance[name], f"instance {index}: ")
    if len(instance) != len(row):
        features.refuse_unknown(instance, f"instance {index}: ")
    return row


def _rows_of_columns(features: Features, inputs: Any) -> list[dict[str, Any]]:
    if not isinstance(inputs, dict):
        if len(features.names) != 1:
            raise InputError(f"inputs: expected an object with features {features.names}")
        inputs = {features.names[0]: inputs}
    if len(inputs) != len(features.names):
        features.refuse_unknown(inputs, "inputs: ")
    lengths = {}
    for name in features.names:
        if name not in inputs:
            raise InputError(f"inputs: feature {name!r} is missing")
        if not isinstance(inputs[name], list):
            raise InputError(f"inputs: feature {name!r} must be a list, one value per instance")
        lengths[name] = len(inputs[name])
    if len(set(lengths.values())) > 1:
        raise InputError(f"inputs: every feature needs the same number of values, got {lengths}")
    count = next(iter(lengths.values()), 0)
    return [
        {n: features.convert(n, inputs[n][i], f"inputs[{i}]: ") for n in features.names}
        for i in range(count)
    ]


def parse_request(body: dict, loaded: LoadedVersion) -> Parsed:
    """The validated inputs of a predict request for ``loaded``; InputError names the
    field that is wrong."""
    if "instances" not in body and "inputs" not in body:  # TF Serving's words, near enough
        raise InputError(
            'the body must have "instances" (rows) or "inputs" (columns); it has neither'
        )
    if "instances" in body and "inputs" in body:
        raise InputError('send either "instances" (rows) or "inputs" (columns), not both')
    features = features_of(loaded)
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list):
            raise InputError("instances: expected a list, one entry per instance")
        rows = [_row(features, item, i) for i, item in enumerate(instances)]
        form = "instances"
    else:
        rows, form = _rows_of_columns(features, body["inputs"]), "inputs"
    if not rows:
        raise InputError(f"{form}: no instances to predict")
    return Parsed(form, features.columns(rows), rows)


def _json_value(name: str, value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_json_value(name, v) for v in value]
    if isinstance(value, bytes):
        if name.endswith("_bytes"):
            return {"b64": base64.b64encode(value).decode()}
        return value.decode("utf-8", errors="replace")
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and not math.isfinite(value) else value


def prediction_rows(outputs: dict[str, np.ndarray], count: int) -> list[dict[str, Any]]:
    """One dict of JSON-ready output values per instance."""
    return [{n: _json_value(n, v[i]) for n, v in outputs.items()} for i in range(count)]


def answer(form: str, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """``predictions`` (rows) or ``outputs`` (columns); a single output is not nested."""
    names = list(predictions[0]) if predictions else []
    if form == "instances":
        if len(names) == 1:
            return {"predictions": [p[names[0]] for p in predictions]}
        return {"predictions": predictions}
    columns = {n: [p[n] for p in predictions] for n in names}
    return {"outputs": columns[names[0]] if len(names) == 1 else columns}
