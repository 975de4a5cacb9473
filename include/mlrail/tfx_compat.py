"""The import path TFX module files use instead of ``tfx``: ``from mlrail.tfx_compat import
TunerFnResult, DatasetOptions``.

The code lives in :mod:`mlrail.training.tfx_compat`; this name stays stable for the
module files users bring, wherever the core's files move.
"""

from mlrail.training.tfx_compat import DatasetOptions, TunerFnResult

__all__ = ["DatasetOptions", "TunerFnResult"]
