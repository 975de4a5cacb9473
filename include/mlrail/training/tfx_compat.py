"""TFX Trainer and Tuner module files: ``run_fn(fn_args)``, ``tuner_fn(fn_args)``.

mlrail passes an object with the fields TFX's Trainer passes (train_files, eval_files,
train_steps, eval_steps, schema_path, serving_model_dir, model_run_dir, hyperparameters,
custom_config, data_accessor, ...). ``data_accessor.tf_dataset_factory(files, options,
schema)`` returns batches from mlrail's feeder over the Parquet examples, honouring the
options' ``batch_size``, ``label_key`` (features and label as a pair) and ``num_epochs``
(None repeats, as in TFX). ``run_fn`` must save a SavedModel to ``serving_model_dir`` whose
``serving_default`` signature takes raw features, which is what mlrail's evaluation and
serving call.

``tuner_fn(fn_args)`` gets what TFX's Tuner passes (no model directories, hyperparameters
None, train_steps the trial budget) and returns anything with ``.tuner`` and
``.fit_kwargs`` (TFX's ``TunerFnResult`` NamedTuple, or :class:`TunerFnResult` here).
mlrail runs ``tuner.search(**fit_kwargs)`` and keeps the best trial as TFX does, as
``HyperParameters.get_config()``; the trainer hands that config to ``run_fn`` as
``fn_args.hyperparameters``, so ``keras_tuner.HyperParameters.from_config(...)`` works
as in TFX. Without a tuner, ``fn_args.hyperparameters`` is the spec's values as a plain
dict (TFX would pass None).

What a TFX module file must change to run here (TFX itself cannot be installed next to
mlrail: it pins older TensorFlow and Airflow < 3):

* imports of ``tfx`` and ``tfx_bsl``: ``from tfx.components import TunerFnResult`` (or
  ``tfx.v1.components``) becomes ``from mlrail.tfx_compat import TunerFnResult``, and
  ``tfxio.TensorFlowDatasetOptions(...)`` becomes ``mlrail.tfx_compat.DatasetOptions(...)``
  with the same fields;
* TensorFlow Transform: there is no Transform component, so ``fn_args.transform_output``
  and ``transform_graph_path`` are None and ``tft.TFTransformOutput`` cannot be used. The
  preprocessing goes into the model instead (``mlrail.keras_features.encoded_inputs``
  builds it from the cached statistics);
* the schema: ``fn_args.schema_path`` (and ``schema_file``) is mlrail's JSON schema, not
  a TFMD ``schema.pbtxt``: code that parses it with ``tfdv.load_schema_text`` or
  ``schema_utils`` must read the JSON, or leave the schema to ``data_accessor``, which
  ignores its ``schema`` argument and uses mlrail's;
* the examples are Parquet files, not TFRecords of ``tf.train.Example``: read
  ``fn_args.train_files`` through ``data_accessor``, never with ``TFRecordDataset``;
* the label arrives as mlrail encodes it (mlrail.data.labels): the value for regression,
  the class index for classification.

Everything else of ``run_fn``/``tuner_fn`` (building and compiling the Keras model,
``model.fit``, ``custom_config`` from ``train.custom_config``, saving to
``serving_model_dir``) runs as written.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from mlrail.training.feeder import FeederConfig, make_dataset


@dataclass
class DatasetOptions:
    """What TFX's ``tfxio.TensorFlowDatasetOptions`` carries, for modules that build one."""

    batch_size: int
    label_key: str | None = None
    num_epochs: int | None = None
    shuffle: bool = True
    shuffle_seed: int | None = None


class DataAccessor:
    def __init__(self, schema: dict[str, Any], seed: int):
        self.schema = schema
        self.seed = seed

    def tf_dataset_factory(self, file_pattern, options, schema=None):
        files = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
        shuffle = getattr(options, "shuffle", True)
        seed = getattr(options, "shuffle_seed", None) or self.seed
        config = FeederConfig(
            batch_size=int(options.batch_size),
            seed=seed if shuffle else None,
            repeat=getattr(options, "num_epochs", None) is None,
            drop_remainder=False,
        )
        dataset = make_dataset(files, self.schema, config)
        if getattr(options, "label_key", None):
            return dataset
        label = self.schema["label"]["name"]
        return dataset.map(lambda features, y: {**features, label: y})


@dataclass
class FnArgs:
    train_files: list[str]
    eval_files: list[str]
    train_steps: int
    eval_steps: int
    schema_path: str
    serving_model_dir: str | None
    model_run_dir: str | None
    hyperparameters: dict[str, Any] | None
    data_accessor: DataAccessor
    custom_config: dict[str, Any] = field(default_factory=dict)
    working_dir: str = ""
    base_model: str | None = None
    transform_output: str | None = None
    transform_graph_path: str | None = None

    @property
    def schema_file(self) -> str:
        return self.schema_path


def fn_args(
    *,
    train_path: str,
    eval_path: str,
    train_rows: int,
    eval_rows: int,
    schema_path: str,
    schema: dict,
    model_dir: Path,
    hyperparameters: dict,
    custom_config: dict,
    seed: int,
) -> FnArgs:
    values = tuned_values(hyperparameters)
    batch = int(values.get("batch_size", 32))
    epochs = int(values.get("epochs", 1))
    return FnArgs(
        train_files=[train_path],
        eval_files=[eval_path],
        train_steps=epochs * max(1, math.ceil(train_rows / batch)),
        eval_steps=max(1, math.ceil(eval_rows / batch)),
        schema_path=schema_path,
        serving_model_dir=str(model_dir / "saved_model"),
        model_run_dir=str(model_dir / "run"),
        hyperparameters=hyperparameters,
        data_accessor=DataAccessor(schema, seed),
        custom_config=custom_config,
        working_dir=str(model_dir),
    )


class TunerFnResult(NamedTuple):
    """What TFX's ``tuner_fn`` returns (``tfx.components.TunerFnResult``), same fields."""

    tuner: Any
    fit_kwargs: dict[str, Any]


def is_keras_tuner_config(hyperparameters: Any) -> bool:
    """Whether ``hyperparameters`` is ``HyperParameters.get_config()`` (a tuner_fn's)."""
    return isinstance(hyperparameters, dict) and set(hyperparameters) == {"space", "values"}


def tuned_values(hyperparameters: dict[str, Any] | None) -> dict[str, Any]:
    """The values, from either form the trainer may hand run_fn."""
    if is_keras_tuner_config(hyperparameters):
        return hyperparameters["values"]
    return hyperparameters or {}


def tuner_fn_args(*, train_steps: int, working_dir: Path, **common) -> FnArgs:
    """FnArgs as TFX's Tuner passes them to tuner_fn; ``common`` as for :func:`fn_args`."""
    args = fn_args(model_dir=working_dir, **common)
    return dataclasses.replace(
        args,
        train_steps=train_steps,
        serving_model_dir=None,
        model_run_dir=None,
        hyperparameters=None,
    )


def run_tuner_fn(module, arguments: FnArgs) -> tuple[dict, dict, list[dict]]:
    """Call the module's tuner_fn and search: (best values, space config, trials)."""
    from mlrail.training.tuning import results

    returned = module.tuner_fn(arguments)
    tuner = getattr(returned, "tuner", None)
    kwargs = getattr(returned, "fit_kwargs", None)
    if tuner is None or not isinstance(kwargs, dict):
        raise TypeError(
            f"tuner_fn returned {type(returned).__name__}: expected a TunerFnResult "
            "(tuner=a KerasTuner tuner, fit_kwargs=a dict for tuner.search)"
        )
    tuner.search(**kwargs)
    return results(tuner)
