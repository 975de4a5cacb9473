"""Loading user model modules (``include/models/<model>.py``) by file path."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_model_module(path: str | Path) -> ModuleType:
    """Import a model module from its file; it must define ``build_model`` (or a TFX-style
    ``run_fn(fn_args)``, see mlrail.training.tfx_compat)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model module {path} does not exist (train.module in the spec)")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    name = f"mlrail_user_model_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, "build_model", None)) and not callable(
        getattr(module, "run_fn", None)
    ):
        raise AttributeError(
            f"model module {path} defines neither build_model(schema, statistics, "
            "hyperparameters) nor a TFX-style run_fn(fn_args)"
        )
    return module
