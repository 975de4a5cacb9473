"""Model module for the taxi-tips pipeline: predicts whether a trip's tip exceeds 20 %.

A model module is what a user writes for their own pipeline. mlrail calls:

* ``build_model(schema, statistics, hyperparameters) -> keras.Model``: ``schema`` and
  ``statistics`` (train-split statistics by feature) come from the cached artifacts, so the
  preprocessing inside the model never re-scans data;
* ``HYPERPARAMETERS``: defaults, overridden by ``train.hyperparameters`` in the spec.
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
    for units in hyperparameters["hidden_units"]:
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
