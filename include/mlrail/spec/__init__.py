"""Pipeline spec: ``include/pipelines/<name>.yaml`` loaded into validated dataclasses.

Every field has a default except ``pipeline``, ``data.source``, ``data.label`` and
``train.module``. A wrong
field raises SpecError naming the file, the field (dotted path) and what was expected.
Relative paths are resolved against the project root (the folder holding ``include/``);
``${VAR}`` and ``${VAR:-default}`` are expanded from the environment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class SpecError(ValueError):
    """A pipeline spec is invalid; the message names the file, the field and the expectation."""

    def __init__(self, field_path: str, expected: str, got: Any = dataclasses.MISSING, file=None):
        self.field_path, self.expected, self.got, self.file = field_path, expected, got, file
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.file}: " if self.file else ""
        got = "" if self.got is dataclasses.MISSING else f", got {self.got!r}"
        return f"{where}field '{self.field_path}': expected {self.expected}{got}"

    def in_file(self, file: str | Path) -> SpecError:
        return SpecError(self.field_path, self.expected, self.got, str(file))


STRATEGIES = ("single", "mirrored", "multi_worker", "parameter_server")
TASKS = ("binary_classification", "multiclass_classification", "regression")
FORMATS = ("auto", "csv", "parquet")
METRIC_NAMES = ("auc", "accuracy", "log_loss", "precision", "recall", "rmse", "mae")
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


@dataclass(frozen=True)
class FeaturesSpec:
    include: list[str] = field(default_factory=list)  # empty: every column but the excluded
    exclude: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)  # force a type instead of inferring it
    categorical: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        both = sorted(set(self.numeric) & set(self.categorical))
        if both:
            raise SpecError("features.numeric", "columns not also listed as categorical", both)


@dataclass(frozen=True)
class DataSpec:
    source: str
    label: str
    format: str = "auto"
    content_hash: bool = False
    features: FeaturesSpec = field(default_factory=FeaturesSpec)

    def __post_init__(self) -> None:
        _one_of("data.format", self.format, FORMATS)
        if self.label in self.features.include or self.label in self.features.numeric:
            raise SpecError(
                "data.features", "feature lists that do not contain the label", self.label
            )


@dataclass(frozen=True)
class SplitSpec:
    train: int = 80
    eval: int = 10
    test: int = 10
    key: list[str] = field(default_factory=list)  # empty: hash the whole row
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("train", "eval", "test"):
            if not 0 <= getattr(self, name) <= 100:
                raise SpecError(
                    f"split.{name}", "a percentage between 0 and 100", getattr(self, name)
                )
        if self.train + self.eval + self.test != 100:
            total = self.train + self.eval + self.test
            raise SpecError("split", "train + eval + test percentages summing to 100", total)
        if self.train == 0 or self.test == 0:
            raise SpecError("split", "non-zero train and test percentages")


@dataclass(frozen=True)
class StatisticsSpec:
    top_k: int = 20
    # Integer columns with at most this many distinct values are treated as categorical.
    categorical_max_unique: int = 100
    vocabulary_size: int = 1000
    engine: str = "auto"  # auto | in_process | beam
    # auto uses Beam above this many bytes of examples (10 GiB), in-process below.
    beam_above_bytes: int = 10 << 30
    beam_runner: str = "DirectRunner"  # DataflowRunner in production
    beam_options: list[str] = field(default_factory=list)  # e.g. --project=..., --region=...

    def __post_init__(self) -> None:
        _one_of("statistics.engine", self.engine, ("auto", "in_process", "beam"))
        _positive("statistics.beam_above_bytes", self.beam_above_bytes)
        _positive("statistics.top_k", self.top_k)
        _positive("statistics.categorical_max_unique", self.categorical_max_unique)
        _positive("statistics.vocabulary_size", self.vocabulary_size)


@dataclass(frozen=True)
class ValidationSpec:
    max_unseen_category_share: float = 0.05
    blocking_unseen_category_share: float = 0.5
    max_out_of_range_share: float = 0.01
    blocking_out_of_range_share: float = 0.5
    max_null_share_increase: float = 0.05
    max_duplicate_share: float = 0.05

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _share(f"validation.{f.name}", getattr(self, f.name))


@dataclass(frozen=True)
class ExpectationsSpec:
    """Great Expectations on each split during validation."""

    enabled: bool = True
    sample_rows: int = 100_000  # GX reads a split into pandas: at most this many rows
    # User suites (*.json), relative to the project; empty: include/expectations/<pipeline>.
    directory: str = ""

    def __post_init__(self) -> None:
        _positive("expectations.sample_rows", self.sample_rows)


@dataclass(frozen=True)
class Stage:
    """One stage of a staged schedule: its learning rate, batch size and epochs."""

    learning_rate: float
    batch_size: int
    epochs: int

    def __post_init__(self) -> None:
        if self.learning_rate <= 0:
            raise SpecError("train.stages", "a positive learning_rate", self.learning_rate)
        _positive("train.stages.batch_size", self.batch_size)
        _positive("train.stages.epochs", self.epochs)


@dataclass(frozen=True)
class TrainSpec:
    module: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    # Applied in order, e.g. the batch grows as the learning rate decays. Empty: one stage
    # from the hyperparameters' learning_rate, batch_size and epochs.
    stages: list[Stage] = field(default_factory=list)
    custom_config: dict[str, Any] = field(default_factory=dict)  # a TFX run_fn's custom_config
    strategy: str = "single"  # single | mirrored | multi_worker | parameter_server
    devices: int = 2  # mirrored without a GPU: logical CPU devices
    workers: int = 2  # multi_worker / parameter_server: worker processes (or replicas)
    parameter_servers: int = 1  # parameter_server: parameter server processes
    seed: int = 42
    pool: str = "training"  # accelerators use the "gpu" pool instead
    accelerator_type: str = ""  # e.g. NVIDIA_TESLA_T4 (Vertex AI)
    accelerator_count: int = 0
    priority_weight: int = 10  # Airflow priority among waiting tasks
    max_minutes: int = 0  # training budget: the task is stopped after this; 0 = no limit
    retries: int = 2  # with exponential backoff from one minute
    # Cheap hours, UTC "HH:MM": training waits (deferred, no worker slot) until the window
    # start_after..start_before opens; start_before may be past midnight, empty = 24:00.
    start_after: str = ""
    start_before: str = ""
    early_stopping_patience: int = 0  # epochs without val_loss improvement; 0 = off

    def __post_init__(self) -> None:
        if not self.module:
            raise SpecError("train.module", "the path of a model module, e.g. ../models/m.py")
        for name in ("start_after", "start_before"):
            value = getattr(self, name)
            if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
                raise SpecError(f"train.{name}", "a time of day as HH:MM (UTC)", value)
        if self.start_before and not self.start_after:
            raise SpecError("train.start_before", "start_after as well (the window's start)")
        for name in ("accelerator_count", "max_minutes", "retries", "early_stopping_patience"):
            if getattr(self, name) < 0:
                raise SpecError(f"train.{name}", "zero or a positive integer", getattr(self, name))
        _one_of("train.strategy", self.strategy, STRATEGIES)
        _positive("train.devices", self.devices)
        _positive("train.workers", self.workers)
        _positive("train.parameter_servers", self.parameter_servers)


@dataclass(frozen=True)
class TuneSpec:
    """KerasTuner search before training; see mlrail.training.tuning for the history policy."""

    enabled: bool = False
    algorithm: str = "random"  # random | hyperband
    max_trials: int = 6
    parallel_trials: int = 1  # trials run at once, each in its own process
    trial_fraction: float = 0.2  # each trial trains this share of the full training steps
    objective: str = "val_auc"
    policy: str = "auto"  # auto | reuse | narrow | full
    max_row_delta: float = 0.1  # "changed little": fewer rows added or removed than this
    narrow_epsilon: float = 0.25  # narrow: search within +/- this share of the last best

    def __post_init__(self) -> None:
        _one_of("tune.algorithm", self.algorithm, ("random", "hyperband"))
        _one_of("tune.policy", self.policy, ("auto", "reuse", "narrow", "full"))
        _positive("tune.max_trials", self.max_trials)
        _positive("tune.parallel_trials", self.parallel_trials)
        for name in ("trial_fraction", "max_row_delta", "narrow_epsilon"):
            _share(f"tune.{name}", getattr(self, name))


@dataclass(frozen=True)
class Threshold:
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise SpecError("evaluation.thresholds", "a min or a max for each metric")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise SpecError("evaluation.thresholds", "min <= max", (self.min, self.max))


@dataclass(frozen=True)
class EvaluationSpec:
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    # How much worse than the blessed model a candidate may be, per metric (absolute).
    baseline_tolerance: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for metric in [*self.thresholds, *self.baseline_tolerance]:
            _one_of(f"evaluation.thresholds.{metric}", metric, METRIC_NAMES)


@dataclass(frozen=True)
class PushSpec:
    serving_root: str = ""  # empty: the settings' serving root


@dataclass(frozen=True)
class VertexSpec:
    """Where ``backend: vertex`` runs train and tune: the job's machines and image. The
    project, region, service account and staging bucket come from the Airflow connection
    ``conn_id`` (airflow_settings.yaml), so one spec serves every environment."""

    conn_id: str = "mlrail_vertex"
    # A training image holding this project (see Dockerfile.vertex); its entrypoint is
    # replaced by `python -m mlrail.train` (or mlrail.trial for tuning trials).
    image: str = ""
    machine_type: str = "n1-standard-4"  # chief and workers
    ps_machine_type: str = ""  # parameter servers; empty: machine_type
    boot_disk_type: str = "pd-ssd"
    boot_disk_gb: int = 100
    poll_seconds: int = 60  # how often the trigger asks for the job's state
    # Tuning trials that may fail before the search is abandoned (Vertex AI default: 0 = auto).
    max_failed_trials: int = 0

    def __post_init__(self) -> None:
        _positive("vertex.boot_disk_gb", self.boot_disk_gb)
        _positive("vertex.poll_seconds", self.poll_seconds)
        if self.max_failed_trials < 0:
            raise SpecError("vertex.max_failed_trials", "zero or a positive integer")


@dataclass(frozen=True)
class PipelineSpec:
    pipeline: str
    data: DataSpec
    train: TrainSpec
    task: str = "binary_classification"
    model_name: str = ""
    schedule: str | None = None
    split: SplitSpec = field(default_factory=SplitSpec)
    statistics: StatisticsSpec = field(default_factory=StatisticsSpec)
    validation: ValidationSpec = field(default_factory=ValidationSpec)
    expectations: ExpectationsSpec = field(default_factory=ExpectationsSpec)
    tune: TuneSpec = field(default_factory=TuneSpec)
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    push: PushSpec = field(default_factory=PushSpec)
    backend: str = "local"  # local | vertex: where the train and tune tasks run
    vertex: VertexSpec = field(default_factory=VertexSpec)
    path: str = ""
    digest: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.pipeline):
            raise SpecError("pipeline", "a lower_snake_case name", self.pipeline)
        _one_of("task", self.task, TASKS)
        _one_of("backend", self.backend, ("local", "vertex"))
        if self.backend == "vertex":
            if not self.vertex.image:
                raise SpecError(
                    "vertex.image", "the training image Vertex AI runs (backend: vertex)"
                )
            if self.tune.enabled and self.tune.algorithm != "random":
                raise SpecError(
                    "tune.algorithm",
                    "random with backend: vertex (Vertex AI Vizier has no hyperband)",
                    self.tune.algorithm,
                )
        if not self.model_name:
            object.__setattr__(self, "model_name", self.pipeline)

    @property
    def project_root(self) -> Path:
        return Path(self.path).resolve().parent.parent.parent

    def expectations_directory(self) -> Path:
        directory = self.expectations.directory or f"include/expectations/{self.pipeline}"
        return Path(self.resolve(directory))

    def schema_overrides_path(self) -> Path:
        """``<pipeline>.schema.yaml`` beside the spec: pins or overrides the inferred schema."""
        return Path(self.path).with_name(f"{self.pipeline}.schema.yaml")

    def resolve(self, path: str) -> str:
        """Resolve a path from the spec: URLs as they are, relative paths against the project."""
        if "://" in path or Path(path).is_absolute():
            return path
        return str(self.project_root / path)


def _one_of(field_path: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise SpecError(field_path, f"one of {', '.join(allowed)}", value)


def _positive(field_path: str, value: int) -> None:
    if value <= 0:
        raise SpecError(field_path, "a positive integer", value)


def _share(field_path: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise SpecError(field_path, "a share between 0 and 1", value)


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        return _convert(next(o for o in options if o is not type(None)), value, path)
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
        raise SpecError(path or "<top level>", "a mapping", raw)
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.name not in ("path", "digest")}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise SpecError(where, f"one of the known fields: {', '.join(known)}", "unknown field")
    values = {}
    for name, f in known.items():
        sub = f"{path}.{name}" if path else name
        if name in raw:
            values[name] = _convert(hints[name], raw[name], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SpecError(sub, "a value (this field is required)")
    return cls(**values)


def load_spec(path: str | Path) -> PipelineSpec:
    """Load and validate a pipeline spec; raise SpecError naming file and field on error."""
    path = Path(path)
    text = path.read_text()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError("<yaml>", f"valid YAML ({err})", file=path) from None
    try:
        spec = _build(PipelineSpec, _expand(raw), "")
    except SpecError as err:
        raise err.in_file(path) from None
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return dataclasses.replace(spec, path=str(path.resolve()), digest=digest)
