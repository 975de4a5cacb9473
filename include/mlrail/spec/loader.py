"""Load ``include/pipelines/<name>.yaml`` into a validated PipelineSpec.

Values are checked against the dataclasses' types (``epochs: "ten"`` is an error, not a
string), unknown fields are refused with the known ones listed, ``${VAR}`` is expanded
by mlrail.spec.expand, and every error is a SpecError naming the file, the line and the
field's whole path (``train.stages[0].batch_size``). Relative paths are resolved against
the project root (the folder holding ``include/``).

What the spec points at is checked too, so that a mistake fails the DAG import (and every
task at its start, without retries) instead of a task hours into a run: the training
strategy is registered (mlrail.training.strategies), the model module exists and defines
what training and tuning call (read with ``ast``, not imported), the schema file
``<pipeline>.schema.yaml`` is well-formed, ``data.source`` is not the project itself,
``serving.log_root`` lies in a folder mlrail owns, and the schedule is one Airflow can
run. What only the machine running the sandbox can judge (its CPUs) is checked there:
mlrail.spec.machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import types
import typing
from pathlib import Path
from typing import Any

from mlrail.spec.documents import Document, read_document
from mlrail.spec.errors import SpecError, join, one_of
from mlrail.spec.expand import UnsetVariable, expand
from mlrail.spec.overrides import read_overrides
from mlrail.spec.pipeline import PipelineSpec
from mlrail.spec.serving import check_log_root


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def _union(options: tuple, value: Any, path: str) -> Any:
    if value is None and type(None) in options:
        return None
    candidates = [o for o in options if o is not type(None)]
    for option in candidates:
        try:
            return _convert(option, value, path)
        except SpecError:
            continue
    expected = " or ".join(_SCALAR_NAMES.get(o, _type_name(o)) for o in candidates)
    raise SpecError(path, expected, value)


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _union(typing.get_args(tp), value, path)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise SpecError(path, "a list", value)
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise SpecError(path, "a mapping", value)
        _, item = typing.get_args(tp)
        return {str(k): _convert(item, v, f"{path}.{k}") for k, v in value.items()}
    return _scalar(tp, value, path)


_SCALAR_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    # bool is a subclass of int in Python; in a spec, `epochs: true` is a mistake.
    if not isinstance(value, tp) or (tp is not bool and isinstance(value, bool)):
        raise SpecError(path, _SCALAR_NAMES.get(tp, f"a {_type_name(tp)}"), value)
    return value


def _build(cls: type, raw: Any, path: str) -> Any:
    if not isinstance(raw, dict):
        raise SpecError(path, "a mapping", raw)
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.name not in ("path", "digest")}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise SpecError(
            join(path, unknown[0]), f"one of the known fields: {', '.join(known)}", "unknown field"
        )
    values = {}
    for name, f in known.items():
        sub = join(path, name)
        if name in raw:
            values[name] = _convert(hints[name], raw[name], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SpecError(sub, "a value (this field is required)")
    try:
        return cls(**values)
    except SpecError as err:  # the section's own check: its field path is relative
        raise err.under(path) from None


def _check_module(spec: PipelineSpec) -> None:
    from mlrail.training.modules import check_definitions, defined_names

    path = spec.model_module()
    check_definitions(
        defined_names(path),
        path,
        tuning=spec.tune.enabled,
        parallel_trials=spec.tune.parallel_trials,
        vertex=spec.backend == "vertex",
    )


def _check_source(spec: PipelineSpec) -> None:
    source = spec.resolve(spec.data.source)
    if "://" in source:
        return
    project = spec.project_root
    if project == Path(source).resolve() or project.is_relative_to(Path(source).resolve()):
        raise SpecError(
            "data.source",
            f"the data's file, folder or glob, not the project folder {project} (or above it)",
            spec.data.source,
        )


def _check_log_root(spec: PipelineSpec) -> None:
    """``serving.log_root`` inside the folders mlrail owns: the project, MLRAIL_HOME, or
    the settings' log root (MLRAIL_LOG_ROOT), as this process's environment sets them."""
    from mlrail.store.settings import Settings

    if not spec.serving.log_root:
        return
    roots = {
        "the project": str(spec.project_root),
        # As Settings.from_env reads it (it keeps no home of its own to ask).
        "MLRAIL_HOME": str(Path(os.environ.get("MLRAIL_HOME", ".mlrail")).resolve()),
        "MLRAIL_LOG_ROOT": Settings.from_env().log_root,  # else <home>/logs
    }
    try:
        check_log_root(spec.serving.log_root, spec.log_root(""), roots)
    except SpecError as err:
        raise err.under("serving") from None


def _check_strategy(spec: PipelineSpec) -> None:
    """``train.strategy`` names a registered strategy (the registry lives with training,
    which the spec's dataclasses do not import)."""
    from mlrail.training.strategies import STRATEGIES

    one_of("train.strategy", spec.train.strategy, STRATEGIES)


def _check_references(spec: PipelineSpec, document: Document) -> None:
    """What the spec points at: see the module docstring."""
    try:
        _check_strategy(spec)
        _check_source(spec)
        _check_module(spec)
        _check_log_root(spec)
    except SpecError as err:
        raise document.error(err) from None
    overrides = spec.schema_overrides_path()
    if overrides.is_file():
        read_overrides(overrides)


def load_spec(path: str | Path) -> PipelineSpec:
    """Load and validate a pipeline spec; raise SpecError naming file, line and field."""
    path = Path(path)
    text = path.read_text()
    document = read_document(path, text)
    try:
        spec = _build(PipelineSpec, expand(document.value), "")
    except UnsetVariable as err:
        raise document.error(
            SpecError(
                err.where,
                f"environment variable {err.variable} to be set (or a default: "
                f"${{{err.variable}:-default}})",
            )
        ) from None
    except SpecError as err:
        raise document.error(err) from None
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    spec = dataclasses.replace(spec, path=str(path.resolve()), digest=digest)
    _check_references(spec, document)
    return spec
