"""A build_model module whose search space holds clearly better and clearly worse models.

A learning rate of 1e-7 cannot move the weights in a short trial, 0.05 can; ``units``
does not matter much and only makes the space larger than the tests' ``max_trials``.
For the tests: with ``MLRAIL_TEST_BUILDS`` set to a file, every model build appends the
KerasTuner id and process id there; with ``MLRAIL_TEST_DIE_IN`` set to a KerasTuner id
(``chief``, ``tuner0``, ...) that process dies while building its first model.
"""

import os

import keras

from mlrail.keras_features import encoded_inputs

HYPERPARAMETERS = {"learning_rate": 0.01, "units": 4, "epochs": 1, "batch_size": 64}


def build_model(schema, statistics, hyperparameters):
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "in-process")
    if os.environ.get("MLRAIL_TEST_BUILDS"):
        with open(os.environ["MLRAIL_TEST_BUILDS"], "a") as builds:
            builds.write(f"{tuner_id} {os.getpid()}\n")
    if tuner_id == os.environ.get("MLRAIL_TEST_DIE_IN"):
        print(f"{tuner_id}: dying on purpose", flush=True)
        os._exit(7)
    inputs, x = encoded_inputs(schema, statistics)
    x = keras.layers.Dense(hyperparameters["units"], activation="tanh")(x)
    # Zeros: an untrained model says 0.5 everywhere (loss log(2)), never better by luck.
    output = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros")(x)
    model = keras.Model(inputs, output)
    model.compile(
        optimizer=keras.optimizers.Adam(hyperparameters["learning_rate"]),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc")],
    )
    return model


def hyperparameter_space(hp):
    hp.Choice("learning_rate", [1e-7, 0.05])
    hp.Choice("units", [4, 8])
