"""A Trainer module written for TFX: run_fn(fn_args) with TFX's FnArgs fields.

Only the mlrail-specific import differs from a TFX example (TensorFlowDatasetOptions lives
in tfx_bsl there; any object with its fields works).
"""

import keras
import tensorflow as tf

from mlrail.tfx_compat import DatasetOptions

LABEL = "big_tipper"
NUMERIC = ["trip_miles", "trip_seconds", "fare"]


def _input_fn(files, data_accessor, schema, batch_size):
    return data_accessor.tf_dataset_factory(
        files, DatasetOptions(batch_size=batch_size, label_key=LABEL), schema
    )


def run_fn(fn_args):
    hp = fn_args.hyperparameters
    train = _input_fn(fn_args.train_files, fn_args.data_accessor, None, hp["batch_size"])
    evaluation = _input_fn(fn_args.eval_files, fn_args.data_accessor, None, hp["batch_size"])
    inputs = {name: keras.Input(shape=(1,), name=name, dtype="float32") for name in NUMERIC}
    x = keras.layers.Concatenate()(
        [keras.ops.where(keras.ops.isnan(v), 0.0, v) for v in inputs.values()]
    )
    x = keras.layers.Dense(fn_args.custom_config["units"], activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(
        train.map(lambda f, y: ({k: f[k] for k in NUMERIC}, y)),
        steps_per_epoch=fn_args.train_steps,
        validation_data=evaluation.map(lambda f, y: ({k: f[k] for k in NUMERIC}, y)),
        validation_steps=fn_args.eval_steps,
        verbose=0,
    )
    model.export(fn_args.serving_model_dir, format="tf_saved_model", verbose=False)
    assert tf.io.gfile.exists(fn_args.schema_path)
