"""Keras inputs and preprocessing built from cached statistics (the model's own transform).

The preprocessing lives inside the exported model, so serving sends raw features only and
training and serving cannot skew: numeric features are imputed with the training mean and
standardized; categorical features are looked up in the training vocabulary, with missing
and unseen values mapped to an out-of-vocabulary bucket. Mean, variance and vocabularies
come from the DatasetStatistics artifact; nothing here scans the data again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

MISSING_INT = -1  # where an integer category is missing (NaN in a float column)


def input_dtype(feature: dict[str, Any]) -> str:
    return "string" if feature["type"] == "string" else "float32"


def to_model_inputs(table: pa.Table, schema: dict[str, Any]) -> dict[str, np.ndarray]:
    """Raw feature columns as the arrays the model's inputs take; no transformation
    (a missing string arrives empty, a missing number as NaN: the model handles both)."""
    arrays = {}
    for feature in schema["features"]:
        column = table.column(feature["name"])
        if input_dtype(feature) == "string":
            values = column.cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False)
            arrays[feature["name"]] = values.astype(object).reshape(-1, 1)
        else:
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            arrays[feature["name"]] = values.astype(np.float32).reshape(-1, 1)
    return arrays


def encoded_inputs(schema: dict[str, Any], statistics: dict[str, Any]):
    """Return ``(inputs, encoded)``: Keras Inputs by feature name and one dense tensor."""
    import keras

    inputs, parts = {}, []
    for feature in schema["features"]:
        name = feature["name"]
        stats = statistics[name]
        inputs[name] = keras.Input(shape=(1,), name=name, dtype=input_dtype(feature))
        if feature["role"] == "numeric":
            mean = float(stats.get("mean") or 0.0)
            std = float(stats.get("std") or 0.0)
            filled = keras.ops.where(keras.ops.isnan(inputs[name]), mean, inputs[name])
            parts.append(
                keras.layers.Normalization(
                    mean=mean, variance=max(std, 1e-6) ** 2, name=f"{name}_norm"
                )(filled)
            )
        elif feature["type"] == "string":
            vocab = [v for v in _vocabulary(stats) if v != ""]
            lookup = keras.layers.StringLookup(
                vocabulary=vocab, output_mode="one_hot", name=f"{name}_lookup"
            )
            parts.append(lookup(inputs[name]))
        else:
            vocab = [int(float(v)) for v in _vocabulary(stats)]
            filled = keras.ops.where(
                keras.ops.isnan(inputs[name]), float(MISSING_INT), inputs[name]
            )
            lookup = keras.layers.IntegerLookup(
                vocabulary=[v for v in vocab if v != MISSING_INT],
                output_mode="one_hot",
                name=f"{name}_lookup",
            )
            parts.append(lookup(keras.ops.cast(filled, "int64")))
    encoded = keras.layers.Concatenate(name="features")(parts)
    return inputs, encoded


def _vocabulary(stats: dict[str, Any]) -> list:
    values = [entry["value"] for entry in stats.get("top_values", [])]
    if not values:
        raise ValueError(f"feature {stats.get('name')!r} has no vocabulary in the statistics")
    return values
