"""Loading model modules (``include/models/<model>.py``, or the built-in
mlrail.training.tabular) by file path."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from mlrail.spec.errors import SpecError


def load_model_module(path: str | Path) -> ModuleType:
    """Import a model module from its file; it must define ``build_model`` (or a TFX-style
    ``run_fn(fn_args)``, see mlrail.training.tfx_compat). A module that is missing, fails
    to import or defines neither is a SpecError on ``train.module``: it fails the same way
    on every retry."""
    path = Path(path)
    if not path.is_file():
        raise SpecError("train.module", "the path of an existing model module file", str(path))
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    name = f"mlrail_user_model_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        where = "".join(traceback.format_exception_only(err)).strip()
        raise SpecError(
            "train.module", f"a module that imports cleanly ({where})", str(path)
        ) from err
    if not callable(getattr(module, "build_model", None)) and not callable(
        getattr(module, "run_fn", None)
    ):
        raise SpecError(
            "train.module",
            "a module defining build_model(schema, statistics, hyperparameters) or a "
            "TFX-style run_fn(fn_args)",
            str(path),
        )
    return module
