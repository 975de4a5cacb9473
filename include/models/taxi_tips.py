"""Model module for the taxi-tips pipeline: predicts whether a trip's tip exceeds 20 %.

A model module is what a user writes for their own pipeline. mlrail calls:

* ``build_model(schema, statistics, hyperparameters) -> keras.Model``: ``schema`` and
  ``statistics`` (train-split statistics by feature) come from the cached artifacts, so the
  preprocessing inside the model never re-scans data;
* ``HYPERPARAMETERS``: defaults, overridden by ``train.hyperparameters`` in the spec;
* ``hyperparameter_space(hp)``: the tuner's search space (only when ``tune.enabled``).
"""

from __future__ import annotations

from typing import Any

HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": 0.003,
    "hidden_units": [64, 32],
    "dropout": 0.1,
    "epochs": 5,
    "batch_size": 256,
}


def build_model(schema: dict, statistics: dict, hyperparameters: dict):
    import keras

    from mlrail.keras_features import encoded_inputs

    inputs, x = encoded_inputs(schema, statistics)
    hidden = hyperparameters["hidden_units"]
    if isinstance(hidden, str):  # the tuner's choices are strings like "64,32"
        hidden = [int(units) for units in hidden.split(",")]
    for units in hidden:
        x = keras.layers.Dense(units, activation="relu")(x)
        x = keras.layers.Dropout(hyperparameters["dropout"])(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    model = keras.Model(inputs=inputs, outputs=output, name="taxi_tips")
    model.compile(
        optimizer=keras.optimizers.Adam(hyperparameters["learning_rate"]),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def hyperparameter_space(hp) -> None:
    """The tuner's search space (KerasTuner HyperParameters); values are read by name."""
    hp.Float("learning_rate", 1e-4, 3e-2, sampling="log")
    hp.Choice("hidden_units", ["64,32", "128,64", "32"])
    hp.Float("dropout", 0.0, 0.4)
