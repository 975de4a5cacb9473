"""One loaded version of a SavedModel: its serving signature, its schema and its calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SIGNATURE = "serving_default"


def signature_schema(serve) -> dict[str, Any]:
    """A schema's feature list read off the signature itself: what a version copied into
    the serving root without a registry entry (or a Vertex container) can still check."""
    features = []
    for name, spec in sorted(serve.structured_input_signature[1].items()):
        kind = "string" if spec.dtype.name == "string" else "float"
        features.append({"name": name, "type": kind, "role": "unknown"})
    return {"features": features}


def _dtype_name(dtype) -> str:
    return "DT_" + dtype.name.upper().replace("FLOAT32", "FLOAT").replace("FLOAT64", "DOUBLE")


def _tensor_info(spec) -> dict[str, Any]:
    dims = [{"size": str(-1 if d is None else d)} for d in spec.shape.as_list()]
    return {"dtype": _dtype_name(spec.dtype), "tensor_shape": {"dim": dims}, "name": spec.name}


@dataclass
class LoadedVersion:
    """A version ready to answer."""

    model: str
    version: int
    path: Path
    schema: dict[str, Any]
    serve: Any = field(repr=False)
    # What the request path derives once per version (mlrail.serving.payload's features).
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, model: str, version: int, path: Path, schema: dict | None) -> LoadedVersion:
        import tensorflow as tf

        serve = tf.saved_model.load(str(path)).signatures[SIGNATURE]
        loaded = cls(model, version, path, schema or signature_schema(serve), serve)
        loaded.warm_up()
        return loaded

    @property
    def input_names(self) -> list[str]:
        return sorted(self.serve.structured_input_signature[1])

    def input_dtypes(self) -> dict[str, str]:
        return {
            name: ("string" if spec.dtype.name == "string" else "float32")
            for name, spec in self.serve.structured_input_signature[1].items()
        }

    def warm_up(self) -> None:
        """One call on a row of missing values, so the first request does not pay for
        tracing and is not the one that finds a broken model."""
        dtypes = self.input_dtypes()
        row = {
            n: np.array([[""]], dtype=object) if d == "string" else np.full((1, 1), np.nan, "f4")
            for n, d in dtypes.items()
        }
        self.predict(row)

    def predict(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name for ``(rows, 1)`` input columns; one model call."""
        import tensorflow as tf

        dtypes = self.input_dtypes()
        tensors = {
            n: tf.constant(columns[n], dtype=tf.string if dtypes[n] == "string" else tf.float32)
            for n in dtypes
        }
        answer = self.serve(**tensors)
        return {name: value.numpy() for name, value in answer.items()}

    def signature_def(self) -> dict[str, Any]:
        """The signature as TF Serving's GetModelMetadata shows it."""
        inputs = self.serve.structured_input_signature[1]
        outputs = self.serve.structured_outputs
        return {
            "inputs": {n: _tensor_info(s) for n, s in sorted(inputs.items())},
            "outputs": {n: _tensor_info(s) for n, s in sorted(outputs.items())},
            "method_name": "tensorflow/serving/predict",
        }
