"""Training under tf.distribute strategies with a custom loop around a Keras 3 model.

Keras 3 ``Model.fit`` fails under MultiWorkerMirroredStrategy with TF 2.21 (DESIGN.md);
a custom loop (``strategy.run`` + ``GradientTape``) works, so every distributed strategy
uses this one loop:

* ``mirrored``: all local devices; on a CPU-only machine, N logical CPU devices;
* ``multi_worker``: N worker processes (TF_CONFIG), each reading its own shard of row
  groups; gradients are all-reduced, so every worker holds the same model and sees the
  same global loss.
* ``parameter_server``: the chief coordinates (``ClusterCoordinator``); variables live on
  the ps tasks; each scheduled step runs on whichever worker is free, reading its own
  TFRecord shards (``mlrail.training.tfrecord``: a worker runs the input pipeline as a traced
  function, so the Parquet feeder's Python generator cannot run there), and updates the
  variables asynchronously.

The global batch is the per-replica batch (the stage's ``batch_size``) times the number of
replicas in sync. Every replica runs the same number of steps per epoch (collectives need
it): the train split's rows divided by the global batch. Under ``parameter_server`` one
step is one worker's batch (TensorFlow counts one replica in sync), so an epoch is the
split's rows divided by ``batch_size`` steps, shared among the workers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlrail.training.feeder import FeederConfig, make_dataset


def configure_cpu_devices(count: int) -> None:
    """Split the CPU into ``count`` logical devices; must run before TensorFlow starts."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )


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


def _build(strategy, build_model):
    with strategy.scope():
        model = build_model()
        # Create the optimizer's slots now, under the strategy: created lazily inside the
        # first traced step they break MirroredStrategy's variable initialisation.
        model.optimizer.build(model.trainable_variables)
    return model


def _record(number: int, stage: dict, replicas: int, global_batch: int, epochs: list) -> dict:
    """A stage's record from each epoch's step losses."""
    losses = [sum(steps) / len(steps) for steps in epochs]
    return {
        "stage": number,
        **stage,
        "replicas": replicas,
        "global_batch_size": global_batch,
        "steps_per_epoch": len(epochs[0]),
        "history": {"loss": losses},
        "step_losses": epochs,
        "final": {"loss": losses[-1]},
    }


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
    model = _build(strategy, build_model)
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
        epochs = [
            [float(step(iterator)) for _ in range(steps)] for _ in range(int(stage["epochs"]))
        ]
        records.append(_record(number, stage, replicas, global_batch, epochs))
    if log_path is not None:
        log_path.write_text(json.dumps(records))
    return model, records


def train_parameter_server(
    strategy,
    build_model,
    files: list[str],
    train_rows: int,
    schema: dict[str, Any],
    stages: list[dict],
    seed: int,
    workers: int,
):
    """Fit under a ParameterServerStrategy from the coordinator, stage after stage, on
    the TFRecord ``files`` (``mlrail.training.tfrecord.write_tfrecords``); returns the model and
    per-stage records with the loss of every scheduled step. ``replicas`` is ``workers``:
    the replicas that train at once, asynchronously.

    Steps are counted here, not by ``optimizer.iterations``: Keras 3 increments it with
    a read and an assign (``Variable.assign_add``), so concurrent workers lose increments
    (32-36 of 50 steps counted with two workers; all 50 with one)."""
    import tensorflow as tf

    from mlrail.training.tfrecord import make_tfrecord_dataset

    coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    model = _build(strategy, build_model)
    records = []
    for number, stage in enumerate(stages, start=1):
        batch = int(stage["batch_size"])
        steps = max(1, train_rows // batch)

        def dataset_fn(context, batch=batch):
            # A worker learns its index only when the traced function runs there; each
            # reads its own shards, so together they read the split about once per epoch.
            worker = tf.distribute.coordinator.experimental_get_current_worker_index()
            config = FeederConfig(
                batch_size=batch,
                seed=seed,
                repeat=True,
                drop_remainder=True,
                shard=(worker, workers),
            )
            return make_tfrecord_dataset(files, schema, config)

        dataset = coordinator.create_per_worker_dataset(
            lambda fn=dataset_fn: strategy.distribute_datasets_from_function(fn)
        )
        model.optimizer.learning_rate.assign(stage["learning_rate"])
        step = _step_fn(model, strategy)
        iterator = iter(dataset)
        epochs = []
        for _ in range(int(stage["epochs"])):
            scheduled = [coordinator.schedule(step, args=(iterator,)) for _ in range(steps)]
            coordinator.join()  # the epoch's steps are done before its loss is read
            epochs.append([float(result.fetch()) for result in scheduled])
        records.append(_record(number, stage, workers, batch, epochs))
    return model, records
