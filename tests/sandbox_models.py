"""Candidates the sandbox must catch, built by wrapping a real SavedModel's serving function:
slower (extra work inside the serving function), memory-hungry (a large buffer on every
call), and skewed (numbers standardised with the request batch's own statistics, so the
answer depends on how requests are batched: what evaluation saw is not what clients get)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

SIGNATURE = "serving_default"


def _wrap(source: Path, target: Path, change) -> Path:
    """Save a SavedModel at ``target`` whose serving_default is ``change(serve, features)``."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(source))
    serve = loaded.signatures[SIGNATURE]
    spec = serve.structured_input_signature[1]
    module = tf.Module()
    module.inner = loaded

    @tf.function(input_signature=[spec])
    def serving(features):
        return change(serve, features)

    shutil.rmtree(target, ignore_errors=True)
    tf.saved_model.save(module, str(target), signatures={SIGNATURE: serving})
    return target


def _burn(size: int, steps: int):
    import tensorflow as tf

    x = tf.fill([size, size], 1.0 / size)
    for _ in tf.range(steps):
        x = tf.matmul(x, x)
    return tf.reduce_sum(x) * 0.0


def slowed(source: Path, target: Path, steps: int, size: int = 96) -> Path:
    """The same answers after ``steps`` extra matrix products per call."""

    def change(serve, features):
        import tensorflow as tf

        delay = _burn(size, steps)
        return {
            k: v + tf.cast(delay, v.dtype) if v.dtype.is_floating else v
            for k, v in serve(**features).items()
        }

    return _wrap(source, target, change)


def burn_ms(steps: int, size: int = 96, repeats: int = 20) -> float:
    """What ``steps`` extra products cost in-process, in milliseconds (median of repeats)."""
    import statistics

    import tensorflow as tf

    burn = tf.function(lambda: _burn(size, steps))
    burn()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        burn().numpy()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def memory_hungry(source: Path, target: Path, megabytes: int) -> Path:
    """The same answers, after filling a ``megabytes`` buffer on every call."""

    def change(serve, features):
        import tensorflow as tf

        ballast = tf.fill([megabytes * 1024 * 1024 // 4], 1.0)
        zero = tf.reduce_min(ballast) * 0.0
        return {
            k: v + tf.cast(zero, v.dtype) if v.dtype.is_floating else v
            for k, v in serve(**features).items()
        }

    return _wrap(source, target, change)


def batch_skewed(source: Path, target: Path, feature: str, mean: float, std: float) -> Path:
    """``feature`` re-standardised with the batch's mean and deviation before the model's own
    preprocessing: right on large batches of typical rows, wrong on a single request."""

    def change(serve, features):
        import tensorflow as tf

        x = features[feature]
        batch_mean = tf.reduce_mean(x)
        batch_std = tf.math.reduce_std(x) + 1e-6
        changed = dict(features)
        changed[feature] = (x - batch_mean) / batch_std * std + mean
        return serve(**changed)

    return _wrap(source, target, change)
