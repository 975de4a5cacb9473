"""A TFX module with tuner_fn and run_fn, written as for TFX's Tuner and Trainer.

Only the imports of TunerFnResult and DatasetOptions differ from TFX (there they come
from tfx.components and tfx_bsl, which cannot be installed next to Airflow 3).
"""

import keras
import keras_tuner

from mlrail.tfx_compat import DatasetOptions, TunerFnResult

LABEL = "big_tipper"
NUMERIC = ["trip_miles", "trip_seconds", "fare"]
PAYMENTS = ["Credit Card", "Mobile", "Prcard", "Cash", "No Charge", "Unknown"]
BATCH = 64


def _input_fn(files, data_accessor, schema):
    dataset = data_accessor.tf_dataset_factory(
        files, DatasetOptions(batch_size=BATCH, label_key=LABEL), schema
    )
    return dataset.map(
        lambda features, y: ({k: features[k] for k in [*NUMERIC, "payment_type"]}, y)
    )


def _space():
    hp = keras_tuner.HyperParameters()
    hp.Choice("learning_rate", [1e-7, 0.05])
    hp.Choice("units", [3, 5])
    return hp


def _build(hp):
    inputs = {name: keras.Input(shape=(1,), name=name, dtype="float32") for name in NUMERIC}
    numeric = [
        keras.ops.log1p(keras.ops.maximum(keras.ops.where(keras.ops.isnan(v), 0.0, v), 0.0)) / 8
        for v in inputs.values()
    ]
    inputs["payment_type"] = keras.Input(shape=(1,), name="payment_type", dtype="string")
    payment = keras.layers.StringLookup(vocabulary=PAYMENTS, output_mode="one_hot")(
        inputs["payment_type"]
    )
    x = keras.layers.Concatenate()([*numeric, payment])
    x = keras.layers.Dense(hp.get("units"), activation="tanh", name="hidden")(x)
    # Zeros: an untrained model says 0.5 everywhere, so a useless learning rate stays at
    # log(2) instead of sometimes looking good by a lucky initialization.
    output = keras.layers.Dense(1, activation="sigmoid", kernel_initializer="zeros")(x)
    model = keras.Model(inputs, output)
    model.compile(
        optimizer=keras.optimizers.Adam(hp.get("learning_rate")), loss="binary_crossentropy"
    )
    return model


def tuner_fn(fn_args):
    tuner = keras_tuner.RandomSearch(
        _build,
        objective="val_loss",
        max_trials=4,
        hyperparameters=_space(),
        directory=fn_args.working_dir,
        project_name="tfx_tuning",
        seed=1,
    )
    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": _input_fn(fn_args.train_files, fn_args.data_accessor, None),
            "validation_data": _input_fn(fn_args.eval_files, fn_args.data_accessor, None),
            "steps_per_epoch": fn_args.train_steps,
            "validation_steps": fn_args.eval_steps,
        },
    )


def run_fn(fn_args):
    # As in TFX's examples: the Tuner's best hyperparameters when there are some.
    if fn_args.hyperparameters:
        hp = keras_tuner.HyperParameters.from_config(fn_args.hyperparameters)
    else:
        hp = _space()
    model = _build(hp)
    model.fit(
        _input_fn(fn_args.train_files, fn_args.data_accessor, None),
        steps_per_epoch=fn_args.train_steps,
        validation_data=_input_fn(fn_args.eval_files, fn_args.data_accessor, None),
        validation_steps=fn_args.eval_steps,
        verbose=0,
    )
    model.export(fn_args.serving_model_dir, format="tf_saved_model", verbose=False)
