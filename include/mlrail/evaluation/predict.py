"""Predictions of an exported SavedModel from raw features, as serving would make them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from mlrail.errors import DeterministicError
from mlrail.training.export import OUTPUTS
from mlrail.training.keras_features import to_model_inputs

BATCH = 4096


class ModelInputError(DeterministicError, ValueError):
    """The model asks for inputs the data does not have."""


def _output(outputs: dict, task: str):
    """The output that carries the task's answer: mlrail's own name for it, else the only
    one (a TFX module's model)."""
    name = OUTPUTS[task]
    if name in outputs:
        return outputs[name]
    if len(outputs) == 1:
        return next(iter(outputs.values()))
    raise ModelInputError(
        f"the model's serving_default answers {sorted(outputs)}; for {task} mlrail reads "
        f"{name!r} (or the single output of a model that has one)"
    )


def predict_saved_model(model_dir: Path, table: pa.Table, schema: dict) -> np.ndarray:
    """The score (binary), probabilities (multiclass, one row per example) or value
    (regression) the SavedModel at ``model_dir`` gives each row of ``table``."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    inputs = to_model_inputs(table, schema)
    names = list(serve.structured_input_signature[1])
    missing = sorted(set(names) - set(inputs))
    if missing:
        raise ModelInputError(
            f"model at {model_dir} expects features {missing} that the data lacks"
        )
    task = schema["label"]["task"]
    outputs = []
    for start in range(0, table.num_rows, BATCH):
        batch = {n: tf.constant(inputs[n][start : start + BATCH]) for n in names}
        answer = _output(serve(**batch), task).numpy()
        outputs.append(answer.reshape(len(answer), -1))
    if not outputs:
        return np.array([])
    result = np.concatenate(outputs)
    return result.reshape(-1) if result.shape[1] == 1 else result
