"""mlrail's built-in tabular model, trained when a spec names no ``train.module``.

It is a model module like any user's (``build_model``, ``HYPERPARAMETERS``,
``hyperparameter_space``), so training, tuning, caching and Vertex AI treat it the same
way. Inputs and preprocessing come from the cached statistics
(``keras_features.encoded_inputs``: imputation and standardization of numbers,
vocabularies for categories, unseen and missing values mapped to their own bucket); then
a small MLP whose width, depth, dropout and learning rate are hyperparameters with a
search space; the head follows the task in the schema:

* binary classification: one sigmoid unit, binary cross-entropy, AUC and accuracy;
* multiclass classification: a softmax unit per class, sparse categorical cross-entropy,
  accuracy;
* regression: one unit rescaled by the label's training mean and standard deviation (so
  the network learns a standardized target whatever the label's scale), mean squared
  error, RMSE and MAE.
"""

from __future__ import annotations

from typing import Any

HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": 0.003,
    "hidden_units": [64, 32],
    "dropout": 0.1,
    "epochs": 10,
    "batch_size": 128,
}


def _units(hidden: Any) -> list[int]:
    if isinstance(hidden, str):  # the tuner's choices are strings like "64,32"
        return [int(units) for units in hidden.split(",") if units.strip()]
    if isinstance(hidden, int):
        return [hidden]
    return [int(units) for units in hidden]


def _head(x, schema: dict, statistics: dict):
    """The output layer, loss and metrics of the schema's task."""
    import keras

    label = schema["label"]
    if label["task"] == "regression":
        stats = statistics[label["name"]]
        mean, std = float(stats.get("mean") or 0.0), float(stats.get("std") or 0.0) or 1.0
        value = keras.layers.Dense(1, name="standardized")(x)
        output = keras.layers.Rescaling(scale=std, offset=mean, name="value")(value)
        metrics = [
            keras.metrics.RootMeanSquaredError(name="rmse"),
            keras.metrics.MeanAbsoluteError(name="mae"),
        ]
        return output, "mean_squared_error", metrics
    if label["task"] == "binary_classification":
        output = keras.layers.Dense(1, activation="sigmoid", name="score")(x)
        metrics = [keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")]
        return output, "binary_crossentropy", metrics
    classes = len(label["classes"])
    output = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    return output, "sparse_categorical_crossentropy", metrics


def build_model(schema: dict, statistics: dict, hyperparameters: dict):
    import keras

    from mlrail.keras_features import encoded_inputs

    inputs, x = encoded_inputs(schema, statistics)
    for units in _units(hyperparameters["hidden_units"]):
        x = keras.layers.Dense(units, activation="relu")(x)
        x = keras.layers.Dropout(float(hyperparameters["dropout"]))(x)
    output, loss, metrics = _head(x, schema, statistics)
    model = keras.Model(inputs=inputs, outputs=output, name="mlrail_tabular")
    model.compile(
        optimizer=keras.optimizers.Adam(float(hyperparameters["learning_rate"])),
        loss=loss,
        metrics=metrics,
    )
    return model


def hyperparameter_space(hp) -> None:
    """The tuner's search space (KerasTuner HyperParameters); values are read by name."""
    hp.Float("learning_rate", 1e-4, 3e-2, sampling="log")
    hp.Choice("hidden_units", ["32", "64,32", "128,64"])
    hp.Float("dropout", 0.0, 0.4)
