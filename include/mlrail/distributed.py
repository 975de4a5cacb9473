"""Training under tf.distribute strategies with a custom loop around a Keras 3 model.

Keras 3 ``Model.fit`` fails under MultiWorkerMirroredStrategy with TF 2.21 (DESIGN.md);
a custom loop (``strategy.run`` + ``GradientTape``) works, so every distributed strategy
uses this one loop:

* ``mirrored``: all local devices; on a CPU-only machine, N logical CPU devices;
* ``multi_worker``: N worker processes (TF_CONFIG), each reading its own shard of row
  groups; gradients are all-reduced, so every worker holds the same model and sees the
  same global loss.

The global batch is the per-replica batch (the stage's ``batch_size``) times the number of
replicas. Every replica runs the same number of steps per epoch (collectives need it): the
train split's rows divided by the global batch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlrail.feeder import FeederConfig, make_dataset

STRATEGIES = ("single", "mirrored", "multi_worker")


def configure_cpu_devices(count: int) -> None:
    """Split the CPU into ``count`` logical devices; must run before TensorFlow starts."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )


def make_strategy(name: str, devices: int = 2):
    import tensorflow as tf

    if name == "mirrored":
        if not tf.config.list_physical_devices("GPU"):
            configure_cpu_devices(devices)
            return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(devices)])
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy {name!r}: expected one of {', '.join(STRATEGIES[1:])} here")


def _step_fn(model, strategy):
    import tensorflow as tf

    @tf.function
    def step(iterator):
        def replica_step(features, label):
            with tf.GradientTape() as tape:
                predictions = model(features, training=True)
                # Keras already divides each replica's mean loss by the number of replicas
                # under tf.distribute (losses.loss.scale_loss_for_distribution), so the sum
                # over replicas is the global mean, as the gradient all-reduce expects.
                scaled = model.compute_loss(x=features, y=label, y_pred=predictions)
            gradients = tape.gradient(scaled, model.trainable_variables)
            model.optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
            return scaled

        per_replica = strategy.run(replica_step, args=next(iterator))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return step


def train_distributed(
    strategy,
    build_model,
    train_path: str,
    train_rows: int,
    schema: dict[str, Any],
    stages: list[dict],
    seed: int,
    log_path: Path | None = None,
):
    """Fit under ``strategy`` stage after stage; returns the model and per-stage records
    with the global loss of every step."""
    with strategy.scope():
        model = build_model()
        # Create the optimizer's slots now, under the strategy: created lazily inside the
        # first traced step they break MirroredStrategy's variable initialisation.
        model.optimizer.build(model.trainable_variables)
    replicas = strategy.num_replicas_in_sync
    records = []
    for number, stage in enumerate(stages, start=1):
        per_replica = int(stage["batch_size"])
        global_batch = per_replica * replicas
        steps = max(1, train_rows // global_batch)

        def dataset_fn(context, per_replica=per_replica):
            shard = (context.input_pipeline_id, context.num_input_pipelines)
            config = FeederConfig(
                batch_size=per_replica, seed=seed, repeat=True, drop_remainder=True, shard=shard
            )
            return make_dataset([train_path], schema, config)

        dataset = strategy.distribute_datasets_from_function(dataset_fn)
        model.optimizer.learning_rate.assign(stage["learning_rate"])
        step = _step_fn(model, strategy)
        iterator = iter(dataset)
        history = []
        for _ in range(int(stage["epochs"])):
            losses = [float(step(iterator)) for _ in range(steps)]
            history.append({"loss": sum(losses) / len(losses), "step_losses": losses})
        records.append(
            {
                "stage": number,
                **stage,
                "replicas": replicas,
                "global_batch_size": global_batch,
                "steps_per_epoch": steps,
                "history": {"loss": [h["loss"] for h in history]},
                "step_losses": [h["step_losses"] for h in history],
                "final": {"loss": history[-1]["loss"]},
            }
        )
    if log_path is not None:
        log_path.write_text(json.dumps(records))
    return model, records
