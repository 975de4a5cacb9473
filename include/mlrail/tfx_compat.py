"""Run a TFX Trainer module file unchanged: ``run_fn(fn_args)`` with TFX's FnArgs fields.

mlrail passes an object with the fields TFX's Trainer passes (train_files, eval_files,
train_steps, eval_steps, schema_path, serving_model_dir, model_run_dir, hyperparameters,
custom_config, data_accessor, ...). ``data_accessor.tf_dataset_factory(files, options,
schema)`` returns batches from mlrail's feeder over the Parquet examples, honouring the
options' ``batch_size``, ``label_key`` (features and label as a pair) and ``num_epochs``
(None repeats, as in TFX). ``run_fn`` must save a SavedModel to ``serving_model_dir`` whose
``serving_default`` signature takes raw features, which is what mlrail's evaluation and
serving call. Modules that import TFX libraries themselves need those installed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrail.feeder import FeederConfig, make_dataset


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
    serving_model_dir: str
    model_run_dir: str
    hyperparameters: dict[str, Any]
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
    batch = int(hyperparameters.get("batch_size", 32))
    epochs = int(hyperparameters.get("epochs", 1))
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
