"""The training strategies, each one registered object: what it reads from the spec, how it
runs on this machine, how it fits a model, and the Vertex AI worker pools it needs.

Everything that differs between strategies is said here, so the training entrypoint
(mlrail.train), the training component (mlrail.components.train), the Vertex AI requests
(mlrail.cloud.vertex) and the spec's check (mlrail.spec.loader) ask a strategy instead of
comparing its name. Importing this module imports no TensorFlow: a strategy imports it
when it fits.

A strategy that trains in more than one process either starts them on this machine (its
``local_tasks``, when no TF_CONFIG says which task a process is) or, on Vertex AI, is given
one pool per task type (``vertex_pools``): pool 0 is the chief, pool 1 the workers, pool 2
the parameter servers. The training loops themselves live in mlrail.training.stages
(``single``) and mlrail.training.distributed (the others).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A fit: (the entrypoint's arguments, a build_model without arguments, the schema, the
# stages) -> (the trained Keras model, one record per stage).
Fit = Callable[[Any, Callable[[], Any], dict, list[dict]], tuple[Any, list[dict]]]


@dataclass(frozen=True)
class Pool:
    """A Vertex AI worker pool: how many replicas, on a worker or a parameter-server
    machine (parameter servers hold variables: CPU machines, no accelerators)."""

    replicas: int
    machine: str = "worker"  # worker | ps


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str  # one line for --help and the reference: what runs where
    fit: Fit
    # The spec's train.* fields it reads (besides the stages and the hyperparameters).
    fields: tuple[str, ...] = ()
    # Trains in the task's own process. The others need their devices or cluster set
    # before TensorFlow starts, which the task process may have done already.
    in_task_process: bool = False
    # Tasks to start on 127.0.0.1 when no TF_CONFIG is set: (workers, parameter servers)
    # -> processes by task type. None: one process trains.
    local_tasks: Callable[[int, int], dict[str, int]] | None = None
    # Task types that only serve the chief (run its functions, hold its variables).
    serving_tasks: tuple[str, ...] = ()
    # A TFX module's run_fn manages its own distribution: only one strategy hands it over.
    runs_tfx_modules: bool = False
    # Vertex AI pools from the spec's train section, chief first.
    vertex_pools: Callable[[Any], tuple[Pool, ...]] = lambda train: (Pool(1),)

    def serves(self, task_type: str | None) -> bool:
        """Whether a process of this task type only serves (it does not train itself)."""
        return task_type in self.serving_tasks


def _fit_single(args, build_model, schema: dict, stages: list[dict]):
    from mlrail.training.stages import fit_stages

    model = build_model()
    return model, fit_stages(
        model,
        args.train_data,
        args.eval_data,
        schema,
        stages,
        args.seed,
        args.early_stopping_patience,
        args.early_stopping_metric,
    )


def _fit_synchronous(make: Callable[[Any], Any]) -> Fit:
    """A fit under a synchronous tf.distribute strategy that ``make(args)`` builds."""

    def fit(args, build_model, schema: dict, stages: list[dict]):
        import pyarrow.parquet as pq

        from mlrail.training.distributed import train_distributed

        rows = pq.ParquetFile(args.train_data).metadata.num_rows
        return train_distributed(
            make(args), build_model, args.train_data, rows, schema, stages, args.seed
        )

    return fit


def _mirrored(args):
    import tensorflow as tf

    from mlrail.training.distributed import configure_cpu_devices

    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    configure_cpu_devices(args.devices)
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(args.devices)])


def _multi_worker(args):
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


# The chief's TFRecord copy of the train split, next to the model, removed after training.
TFRECORD_DIR = "train-tfrecords"


def _fit_parameter_server(args, build_model, schema: dict, stages: list[dict]):
    """Coordinate parameter-server training from the chief.

    The workers cannot run the Parquet feeder, so the chief first writes the train split
    as TFRecord shards (two per worker, so each reads whole files) into the model
    directory: the one place every task can read, a local folder here and a /gcs/ or gs://
    path on Vertex AI, where the workers are other machines. The shards are removed when
    training ends, however it ends, and any left by a crashed run are removed first.
    """
    import pyarrow.parquet as pq
    import tensorflow as tf

    from mlrail.training.distributed import train_parameter_server
    from mlrail.training.tfrecord import write_tfrecords

    def remove(folder: str) -> None:
        if tf.io.gfile.exists(folder):
            tf.io.gfile.rmtree(folder)

    workers = len(json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"])
    shards = f"{args.model_dir.rstrip('/')}/{TFRECORD_DIR}"
    remove(shards)
    try:
        # Written before connecting to the cluster: the workers and ps start meanwhile.
        files = write_tfrecords([args.train_data], shards, schema, shards=2 * workers)
        rows = pq.ParquetFile(args.train_data).metadata.num_rows
        # Blocks until every worker and ps task of TF_CONFIG's cluster answers.
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        strategy = tf.distribute.ParameterServerStrategy(resolver)
        return train_parameter_server(
            strategy, build_model, files, rows, schema, stages, args.seed, workers
        )
    finally:
        remove(shards)


def _multi_worker_pools(train) -> tuple[Pool, ...]:
    # The chief is worker 0 of N: the other N - 1 are pool 1.
    return (Pool(1), Pool(train.workers - 1)) if train.workers > 1 else (Pool(1),)


def _parameter_server_pools(train) -> tuple[Pool, ...]:
    return (Pool(1), Pool(train.workers), Pool(train.parameter_servers, "ps"))


_REGISTERED = (
    Strategy(
        "single",
        "one process, the task's own",
        _fit_single,
        fields=("early_stopping_patience", "early_stopping_metric"),
        in_task_process=True,
        runs_tfx_modules=True,
    ),
    Strategy(
        "mirrored",
        "all local devices (without a GPU, train.devices logical CPUs)",
        _fit_synchronous(_mirrored),
        fields=("devices",),
    ),
    Strategy(
        "multi_worker",
        "train.workers processes (TF_CONFIG), gradients all-reduced",
        _fit_synchronous(_multi_worker),
        fields=("workers",),
        local_tasks=lambda workers, ps: {"worker": workers},
        vertex_pools=_multi_worker_pools,
    ),
    Strategy(
        "parameter_server",
        "a chief, train.workers workers and train.parameter_servers ps processes "
        "(TF_CONFIG); asynchronous updates",
        _fit_parameter_server,
        fields=("workers", "parameter_servers"),
        local_tasks=lambda workers, ps: {"chief": 1, "worker": workers, "ps": ps},
        serving_tasks=("worker", "ps"),
        vertex_pools=_parameter_server_pools,
    ),
)

STRATEGIES: dict[str, Strategy] = {s.name: s for s in _REGISTERED}
DEFAULT = "single"


def strategy(name: str) -> Strategy:
    """The registered strategy called ``name``; a ValueError lists the others."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"training strategy {name!r}: expected one of {', '.join(STRATEGIES)}"
        ) from None
