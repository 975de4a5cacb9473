"""Model modules (``include/models/<model>.py``, or the built-in mlrail.training.tabular):
what they must define, checked without importing them when the spec loads, and loading
them by file path when a task needs them.

A module trains with ``build_model(schema, statistics, hyperparameters)`` or a TFX-style
``run_fn(fn_args)`` (mlrail.training.tfx_compat); ``tune.enabled`` also needs its search
space: ``hyperparameter_space(hp)``, or a TFX ``tuner_fn(fn_args)`` beside ``run_fn``.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from mlrail.spec.errors import SpecError

TRAINS = ("build_model", "run_fn")
EXISTING = "the path of an existing model module file"
DEFINES = (
    "a module defining build_model(schema, statistics, hyperparameters) or a TFX-style "
    "run_fn(fn_args)"
)


def _targets(node: ast.AST) -> set[str]:
    """The names an assignment target binds (``a``, ``a, b = ...``, ``*rest``)."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    if isinstance(node, ast.Tuple | ast.List):
        return set().union(*map(_targets, node.elts))
    return set()


def _bound(statement: ast.stmt) -> set[str] | None:
    """The module-level names ``statement`` binds; None when it cannot be told (``from x
    import *``)."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {statement.name}
    if isinstance(statement, ast.Import | ast.ImportFrom):
        if any(alias.name == "*" for alias in statement.names):
            return None
        return {alias.asname or alias.name.split(".")[0] for alias in statement.names}
    if isinstance(statement, ast.Assign):
        return set().union(*map(_targets, statement.targets))
    if isinstance(statement, ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor):
        return _targets(statement.target)
    return set()


def _blocks(statement: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists nested in ``statement`` that still run at module level (the
    branches of ``if``/``try``/``with``/loops, not function or class bodies)."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return []
    blocks = [getattr(statement, name, []) for name in ("body", "orelse", "finalbody")]
    blocks += [handler.body for handler in getattr(statement, "handlers", [])]
    blocks += [case.body for case in getattr(statement, "cases", [])]
    return [block for block in blocks if isinstance(block, list)]


def module_level_names(tree: ast.Module) -> set[str] | None:
    """Every name a module binds at its top level, in any branch; None when a star import
    (or a module ``__getattr__``) means any name may exist."""
    names: set[str] = set()
    pending = [tree.body]
    while pending:
        for statement in pending.pop():
            bound = _bound(statement)
            if bound is None:
                return None
            names |= bound
            pending += _blocks(statement)
    return None if "__getattr__" in names else names


def defined_names(path: str | Path) -> set[str] | None:
    """The module-level names of the model module at ``path``, read without importing it
    (importing runs the user's code and may take TensorFlow's 10 s); None: cannot tell.
    A missing file or a syntax error is a SpecError on ``train.module``."""
    path = Path(path)
    if not path.is_file():
        raise SpecError("train.module", EXISTING, str(path))
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError) as err:
        where = f"{path}:{getattr(err, 'lineno', '?')}: {getattr(err, 'msg', err)}"
        raise SpecError("train.module", f"a module that parses ({where})", str(path)) from None
    return module_level_names(tree)


def check_definitions(
    names: set[str] | None,
    path: str,
    tuning: bool = False,
    parallel_trials: int = 1,
    vertex: bool = False,
) -> None:
    """Raise SpecError when a module defining ``names`` cannot do what the spec asks:
    train, and with ``tuning`` declare a search space the tuner can use (in parallel
    trials, or as a Vertex AI tuning job with ``vertex``)."""
    if names is None:
        return
    if not names & set(TRAINS):
        raise SpecError("train.module", DEFINES, path)
    if not tuning or "hyperparameter_space" in names:
        return
    if "tuner_fn" not in names:
        raise SpecError(
            "train.module",
            "a module defining hyperparameter_space(hp) (or a TFX-style tuner_fn(fn_args)): "
            "tune.enabled searches it",
            path,
        )
    if "build_model" in names:
        raise SpecError(
            "train.module",
            "hyperparameter_space(hp) beside build_model (tuner_fn is for TFX modules that "
            "train with run_fn)",
            path,
        )
    if parallel_trials > 1:
        raise SpecError(
            "tune.parallel_trials", "1 for a module that tunes with a TFX tuner_fn", parallel_trials
        )
    if vertex:
        raise SpecError(
            "train.module",
            "hyperparameter_space(hp) for tuning with backend: vertex (a TFX tuner_fn builds "
            "its tuner in-process and cannot run as a Vertex AI tuning job)",
            path,
        )


def load_model_module(path: str | Path) -> ModuleType:
    """Import a model module from its file; it must define ``build_model`` or ``run_fn``.
    A module that is missing, fails to import or defines neither is a SpecError on
    ``train.module``: it fails the same way on every retry."""
    path = Path(path)
    if not path.is_file():
        raise SpecError("train.module", EXISTING, str(path))
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
    if not any(callable(getattr(module, name, None)) for name in TRAINS):
        raise SpecError("train.module", DEFINES, str(path))
    return module
