"""The exported SavedModel: raw features in, the task's answer out.

``serving_default`` takes one ``(batch, 1)`` tensor per schema feature (string or float32,
as ``keras_features.input_dtype`` says; missing values as empty strings or NaN) and
answers with, per task:

* ``binary_classification``: ``score`` (the positive class's probability) and ``class``
  (the positive class's name when ``score >= 0.5``, else the negative's);
* ``multiclass_classification``: ``probabilities`` (one per class, in the schema's class
  order) and ``class`` (the most probable class's name);
* ``regression``: ``value``.

Class names are the label values as strings (mlrail.data.labels.class_names). The model a
module builds must end in what its task needs: one unit (a sigmoid for binary, the value
for regression) or one softmax unit per class; ``check_output`` says so before training.
"""

from __future__ import annotations

from typing import Any

from mlrail.data.labels import class_names
from mlrail.errors import DeterministicError
from mlrail.spec.tasks import BINARY, MULTICLASS, REGRESSION
from mlrail.training.keras_features import input_dtype

OUTPUTS = {BINARY: "score", MULTICLASS: "probabilities", REGRESSION: "value"}


class ModelShapeError(DeterministicError, ValueError):
    """The model a module built cannot answer for the spec's task."""


def expected_units(schema: dict[str, Any]) -> int:
    label = schema["label"]
    return len(label["classes"]) if label["task"] == MULTICLASS else 1


def check_output(model, schema: dict[str, Any], module: str) -> None:
    """Raise ModelShapeError when the model's output does not fit the task."""
    shape = tuple(model.output_shape) if not isinstance(model.output_shape, list) else None
    units = expected_units(schema)
    if shape is None or len(shape) != 2 or shape[-1] != units:
        task = schema["label"]["task"]
        raise ModelShapeError(
            f"{module}: build_model's model answers with shape {model.output_shape}; "
            f"{task} with label {schema['label']['name']!r} needs (None, {units})"
            + (f", one softmax unit per class {class_names(schema['label'])}" if units > 1 else "")
        )


def _serving_function(model, schema: dict[str, Any]):
    import tensorflow as tf

    label = schema["label"]
    task = label["task"]
    names = tf.constant(class_names(label) or [""])

    def serve(features):
        output = model(features, training=False)
        if task == REGRESSION:
            return {"value": tf.reshape(output, [-1])}
        if task == BINARY:
            score = tf.reshape(output, [-1])
            return {"score": score, "class": tf.where(score >= 0.5, names[1], names[0])}
        return {"probabilities": output, "class": tf.gather(names, tf.argmax(output, axis=-1))}

    return serve


def export_saved_model(model, directory: str, schema: dict[str, Any]) -> None:
    """Write ``model`` as a SavedModel whose ``serving_default`` takes raw features."""
    import keras
    import tensorflow as tf

    signature = {
        f["name"]: tf.TensorSpec((None, 1), tf.as_dtype(input_dtype(f)), name=f["name"])
        for f in schema["features"]
    }
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default", _serving_function(model, schema), input_signature=[signature]
    )
    archive.write_out(directory, verbose=False)
