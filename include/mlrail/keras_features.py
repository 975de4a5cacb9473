"""The import path model modules use: ``from mlrail.keras_features import encoded_inputs``.

The code lives in :mod:`mlrail.training.keras_features`; this name stays stable for the
model modules users write, wherever the core's files move.
"""

from mlrail.training.keras_features import encoded_inputs, input_dtype, to_model_inputs

__all__ = ["encoded_inputs", "input_dtype", "to_model_inputs"]
