"""Staged training: stages of (learning rate, batch size, epochs) applied in order."""

from __future__ import annotations

import pyarrow.parquet as pq

from mlrail.spec.metrics import direction
from mlrail.training.feeder import FeederConfig, make_dataset


def resolve_stages(stages: list[dict] | None, hparams: dict) -> list[dict]:
    """The spec's stages, or one stage from the hyperparameters; empty when they lack
    learning_rate, batch_size or epochs (a TFX run_fn's may)."""
    if stages:
        return stages
    keys = ("learning_rate", "batch_size", "epochs")
    return [{key: hparams[key] for key in keys}] if all(k in hparams for k in keys) else []


def _early_stopping(patience: int, metric: str) -> list:
    if not patience:
        return []
    import keras

    return [
        keras.callbacks.EarlyStopping(
            monitor=metric, mode=direction(metric), patience=patience, restore_best_weights=True
        )
    ]


def fit_stages(
    model,
    train_path: str,
    eval_path: str,
    schema: dict,
    stages: list[dict],
    seed: int,
    patience: int = 0,
    patience_metric: str = "val_loss",
):
    """Fit ``model`` stage after stage; each stage sets its learning rate and batch size and
    continues the epoch count. Returns each stage with its per-epoch history.

    A stage reads one endless, seeded stream cut into epochs of the train split's rows
    (the last batch of an epoch is topped up from the next): Keras keeps one iterator for
    the whole stage, so the feeder reads each epoch's first window while the previous
    epoch ends, instead of every epoch waiting for a new pipeline to start."""
    rows = pq.ParquetFile(train_path).metadata.num_rows
    done, records = 0, []
    for number, stage in enumerate(stages, start=1):
        model.optimizer.learning_rate.assign(stage["learning_rate"])
        batch = int(stage["batch_size"])
        history = model.fit(
            make_dataset(
                [train_path],
                schema,
                FeederConfig(batch_size=batch, seed=seed, repeat=True),
            ),
            steps_per_epoch=-(-rows // batch),
            validation_data=make_dataset([eval_path], schema, FeederConfig(batch_size=batch)),
            initial_epoch=done,
            callbacks=_early_stopping(patience, patience_metric),
            epochs=done + int(stage["epochs"]),
            shuffle=False,  # the feeder shuffles, seeded
            verbose=2,
        )
        done += int(stage["epochs"])
        records.append(
            {
                "stage": number,
                **stage,
                "history": history.history,
                "final": {k: float(v[-1]) for k, v in history.history.items()},
            }
        )
    return records
