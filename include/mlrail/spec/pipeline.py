"""The pipeline spec's sections as validated dataclasses (``include/pipelines/<name>.yaml``).

Every field has a default except ``pipeline``, ``data.source`` and ``data.label``. Each
section checks its own fields when it is built and raises SpecError with the field's path
inside the section; the loader (mlrail.spec.loader) adds the section's place in the file.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlrail.spec import metrics as catalog
from mlrail.spec.errors import SpecError, not_negative, one_of, positive, share
from mlrail.spec.names import ALLOWED, RULE, unusable_names
from mlrail.spec.sandbox import SandboxSpec
from mlrail.spec.serving import ServingSpec
from mlrail.spec.tasks import BINARY, TASKS

FORMATS = ("auto", "csv", "parquet")
SEVERITIES = ("warning", "blocking")
# schedule: Airflow 3's timetables that are not cron, and the presets it turns into cron
# (the task SDK's CRON_PRESETS, plus @annually, which it hands to croniter as is).
NOT_CRON = ("@once", "@continuous")
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
SCHEDULE = (
    "a cron expression that fires (minute hour day-of-month month day-of-week, e.g. "
    f"'0 3 * * 1'), one of {', '.join((*NOT_CRON, *CRON_PRESETS))}, or null (manual runs)"
)


def check_schedule(field_path: str, schedule: str | None) -> None:
    """Refuse a schedule Airflow's timetable would reject (or that never fires), with
    croniter's reason: by croniter, as Airflow's CronTriggerTimetable checks it."""
    if schedule is None or schedule in NOT_CRON:
        return
    try:
        from croniter import croniter
    except ImportError:  # no Airflow here (a training container): nothing schedules runs
        return
    try:
        croniter(CRON_PRESETS.get(schedule, schedule), datetime(2026, 1, 1)).get_next(datetime)
    except (ValueError, KeyError) as err:
        raise SpecError(field_path, f"{SCHEDULE}; croniter says: {err}", schedule) from None


@dataclass(frozen=True)
class FeaturesSpec:
    include: list[str] = field(default_factory=list)  # empty: every column but the excluded
    exclude: list[str] = field(default_factory=list)  # columns never used as features
    numeric: list[str] = field(default_factory=list)  # force a type instead of inferring it
    # Columns read as categories, whatever their type.
    categorical: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        both = sorted(set(self.numeric) & set(self.categorical))
        if both:
            raise SpecError("numeric", "columns not also listed as categorical", both)


@dataclass(frozen=True)
class DataSpec:
    source: str  # CSV or Parquet file, folder or glob; local, gs:// or any fsspec URL
    label: str  # the column the model predicts
    format: str = "auto"  # auto | csv | parquet (auto: by file extension)
    content_hash: bool = False  # fingerprint the bytes too, not only size and mtime
    features: FeaturesSpec = field(default_factory=FeaturesSpec)  # which columns, which types
    # binary_classification: the label value that is the positive class. Needed when the
    # two values are not an obvious pair (0/1, true/false, yes/no, ...).
    positive_label: str | int | bool | None = None

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise SpecError("source", "a file, folder or glob (CSV or Parquet)", self.source)
        if not self.label.strip():
            raise SpecError("label", "the name of the label column", self.label)
        one_of("format", self.format, FORMATS)
        if unusable_names([self.label]):
            raise SpecError("label", ALLOWED, self.label)
        features = self.features
        for name in ("include", "numeric", "categorical"):
            if self.label in getattr(features, name):
                raise SpecError(
                    f"features.{name}", "feature lists that do not contain the label", self.label
                )
            bad = unusable_names(getattr(features, name))
            if bad:
                raise SpecError(
                    f"features.{name}", f"names a model can take as inputs ({RULE})", bad
                )


@dataclass(frozen=True)
class SplitSpec:
    """Percentages per split and, optionally, the columns that identify a row (rows with
    the same key always share a split); mlrail.data.split says how rows are assigned."""

    train: int = 80  # percentage of rows the model trains on
    eval: int = 10  # percentage for validation during training and tuning
    test: int = 10  # percentage held out for evaluation, the sandbox and parity
    key: list[str] = field(default_factory=list)  # rows sharing these columns share a split
    seed: int = 0  # seed of the split hash: another seed, another split

    def __post_init__(self) -> None:
        for name in ("train", "eval", "test"):
            if not 0 <= getattr(self, name) <= 100:
                raise SpecError(name, "a percentage between 0 and 100", getattr(self, name))
        total = self.train + self.eval + self.test
        if total != 100:
            raise SpecError("", "train + eval + test percentages summing to 100", total)
        if self.train == 0 or self.test == 0:
            raise SpecError("", "non-zero train and test percentages", (self.train, self.test))


@dataclass(frozen=True)
class StatisticsSpec:
    top_k: int = 20  # most frequent values kept per column (pages, validation)
    # Integer columns with at most this many distinct values are treated as categorical.
    categorical_max_unique: int = 100
    vocabulary_size: int = 1000  # values kept per categorical column for the model
    engine: str = "auto"  # auto | in_process | beam
    # auto uses Beam above this many bytes of examples (10 GiB), in-process below.
    beam_above_bytes: int = 10 << 30
    beam_runner: str = "DirectRunner"  # DataflowRunner in production
    beam_options: list[str] = field(default_factory=list)  # e.g. --project=..., --region=...

    def __post_init__(self) -> None:
        one_of("engine", self.engine, ("auto", "in_process", "beam"))
        for name in ("beam_above_bytes", "top_k", "categorical_max_unique", "vocabulary_size"):
            positive(name, getattr(self, name))


@dataclass(frozen=True)
class ValidationSpec:
    max_unseen_category_share: float = 0.05  # unseen categories above this share: a warning
    blocking_unseen_category_share: float = 0.5  # ... above this share: blocking
    max_out_of_range_share: float = 0.01  # values outside the training range: a warning
    blocking_out_of_range_share: float = 0.5  # ... above this share: blocking
    max_null_share_increase: float = 0.05  # missing share above training's + this: a warning
    max_duplicate_share: float = 0.05  # duplicate rows above this share: a warning
    # A label class in eval or test that train does not have: the model cannot predict it.
    unseen_label_class: str = "warning"  # warning | blocking
    # A column the blessed model reads that vanished or changed type, or another label:
    # blocking, unless the change is meant (set warning for the run that makes it).
    schema_change: str = "blocking"  # blocking | warning

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.type == "float":
                share(f.name, getattr(self, f.name))
        one_of("unseen_label_class", self.unseen_label_class, SEVERITIES)
        one_of("schema_change", self.schema_change, SEVERITIES)


@dataclass(frozen=True)
class ExpectationsSpec:
    """Great Expectations on each split during validation."""

    enabled: bool = True  # run Great Expectations suites during validation
    sample_rows: int = 100_000  # GX reads a split into pandas: at most this many rows
    # User suites (*.json), relative to the project; empty: include/expectations/<pipeline>.
    directory: str = ""

    def __post_init__(self) -> None:
        positive("sample_rows", self.sample_rows)


@dataclass(frozen=True)
class Stage:
    """One stage of a staged schedule: its learning rate, batch size and epochs."""

    learning_rate: float  # the optimizer's learning rate in this stage
    batch_size: int  # rows per step in this stage
    epochs: int  # passes over the training split in this stage

    def __post_init__(self) -> None:
        if self.learning_rate <= 0:
            raise SpecError("learning_rate", "a positive number", self.learning_rate)
        positive("batch_size", self.batch_size)
        positive("epochs", self.epochs)


@dataclass(frozen=True)
class TrainSpec:
    # The model module (build_model, or a TFX run_fn); empty: mlrail's built-in tabular
    # model for the task (mlrail.training.tabular).
    module: str = ""
    # Override the module's HYPERPARAMETERS.
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    # Applied in order, e.g. the batch grows as the learning rate decays. Empty: one stage
    # from the hyperparameters' learning_rate, batch_size and epochs.
    stages: list[Stage] = field(default_factory=list)
    custom_config: dict[str, Any] = field(default_factory=dict)  # a TFX run_fn's custom_config
    strategy: str = "single"  # how training is distributed (mlrail.training.strategies)
    devices: int = 2  # mirrored without a GPU: logical CPU devices
    workers: int = 2  # multi_worker / parameter_server: worker processes (or replicas)
    parameter_servers: int = 1  # parameter_server: parameter server processes
    seed: int = 42  # seed of weights and shuffling
    pool: str = "training"  # accelerators use the "gpu" pool instead
    accelerator_type: str = ""  # e.g. NVIDIA_TESLA_T4 (Vertex AI)
    accelerator_count: int = 0  # accelerators per machine (Vertex AI); > 0 uses the gpu pool
    priority_weight: int = 10  # Airflow priority among waiting tasks
    max_minutes: int = 0  # training budget: the task is stopped after this; 0 = no limit
    retries: int = 2  # with exponential backoff from one minute
    # Cheap hours, UTC "HH:MM": training waits (deferred, no worker slot) until the window
    # start_after..start_before opens; start_before may be past midnight, empty = 24:00.
    start_after: str = ""
    start_before: str = ""  # end of the window (UTC HH:MM); empty: midnight
    early_stopping_patience: int = 0  # epochs without improvement; 0 = off
    early_stopping_metric: str = "val_loss"  # which way is better: spec.metrics

    def __post_init__(self) -> None:
        for name in ("start_after", "start_before"):
            value = getattr(self, name)
            if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
                raise SpecError(name, "a time of day as HH:MM (UTC)", value)
        if self.start_before and not self.start_after:
            raise SpecError("start_before", "start_after as well (the window's start)")
        for name in ("accelerator_count", "max_minutes", "retries", "early_stopping_patience"):
            not_negative(name, getattr(self, name))
        for name in ("devices", "workers", "parameter_servers"):
            positive(name, getattr(self, name))


@dataclass(frozen=True)
class TuneSpec:
    """KerasTuner search before training; see mlrail.training.tuning for the history policy."""

    enabled: bool = False  # search before training (else the hyperparameters as given)
    algorithm: str = "random"  # random | hyperband
    max_trials: int = 6  # hyperparameter sets tried per search
    parallel_trials: int = 1  # trials run at once, each in its own process
    trial_fraction: float = 0.2  # each trial trains this share of the full training steps
    objective: str = ""  # empty: val_auc for binary classification, val_loss otherwise
    policy: str = "auto"  # auto | reuse | narrow | full
    max_row_delta: float = 0.1  # "changed little": fewer rows added or removed than this
    narrow_epsilon: float = 0.25  # narrow: search within +/- this share of the last best

    def __post_init__(self) -> None:
        one_of("algorithm", self.algorithm, ("random", "hyperband"))
        one_of("policy", self.policy, ("auto", "reuse", "narrow", "full"))
        positive("max_trials", self.max_trials)
        positive("parallel_trials", self.parallel_trials)
        for name in ("trial_fraction", "max_row_delta", "narrow_epsilon"):
            share(name, getattr(self, name))


@dataclass(frozen=True)
class Threshold:
    min: float | None = None  # the metric must be at least this
    max: float | None = None  # the metric must be at most this

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise SpecError("", "a min or a max", {"min": None, "max": None})
        if self.min is not None and self.max is not None and self.min > self.max:
            raise SpecError("", "min <= max", {"min": self.min, "max": self.max})


@dataclass(frozen=True)
class EvaluationSpec:
    # Per metric, bounds a candidate must meet.
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    # How much worse than the blessed model a candidate may be, per metric (absolute).
    baseline_tolerance: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for metric, allowed in self.baseline_tolerance.items():
            if allowed < 0:
                raise SpecError(
                    f"baseline_tolerance.{metric}", "zero or a positive number", allowed
                )

    def check_metrics(self, task: str) -> None:
        """Every threshold and tolerance names a metric that ``task``'s evaluation reports."""
        known = catalog.metrics_for(task)
        for section in ("thresholds", "baseline_tolerance"):
            for metric in getattr(self, section):
                if metric not in known:
                    raise SpecError(
                        f"evaluation.{section}.{metric}",
                        f"a metric {task} produces: {', '.join(known)}",
                        metric,
                    )


@dataclass(frozen=True)
class PushSpec:
    serving_root: str = ""  # empty: the settings' serving root


@dataclass(frozen=True)
class VertexSpec:
    """Where ``backend: vertex`` runs train and tune: the job's machines and image. The
    project, region, service account and staging bucket come from the Airflow connection
    ``conn_id`` (airflow_settings.yaml), so one spec serves every environment."""

    conn_id: str = "mlrail_vertex"  # Airflow connection: project, region, bucket, account
    # A training image holding this project (see Dockerfile.vertex); its entrypoint is
    # replaced by `python -m mlrail.train` (or mlrail.trial for tuning trials).
    image: str = ""
    machine_type: str = "n1-standard-4"  # chief and workers
    ps_machine_type: str = ""  # parameter servers; empty: machine_type
    boot_disk_type: str = "pd-ssd"  # each machine's boot disk type
    boot_disk_gb: int = 100  # each machine's boot disk size
    poll_seconds: int = 60  # how often the trigger asks for the job's state
    # Tuning trials that may fail before the search is abandoned (Vertex AI default: 0 = auto).
    max_failed_trials: int = 0

    def __post_init__(self) -> None:
        positive("boot_disk_gb", self.boot_disk_gb)
        positive("poll_seconds", self.poll_seconds)
        not_negative("max_failed_trials", self.max_failed_trials)


@dataclass(frozen=True)
class PipelineSpec:
    pipeline: str  # the pipeline's name, lower_snake_case: DAG ids start with it
    data: DataSpec  # what to read and predict
    train: TrainSpec = field(default_factory=TrainSpec)  # how the model trains
    task: str = BINARY  # binary_classification | multiclass_classification | regression
    model_name: str = ""  # the registry's name for the model; empty: pipeline
    schedule: str | None = None  # cron or preset (@daily) of the training DAG; none: manual
    split: SplitSpec = field(default_factory=SplitSpec)  # how rows split into train, eval, test
    # How statistics are computed.
    statistics: StatisticsSpec = field(default_factory=StatisticsSpec)
    # When data anomalies warn or block.
    validation: ValidationSpec = field(default_factory=ValidationSpec)
    # Great Expectations suites.
    expectations: ExpectationsSpec = field(default_factory=ExpectationsSpec)
    tune: TuneSpec = field(default_factory=TuneSpec)  # the hyperparameter search
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)  # what blesses a candidate
    push: PushSpec = field(default_factory=PushSpec)  # where pushed versions go
    serving: ServingSpec = field(default_factory=ServingSpec)  # the model server and its log
    # What a candidate must meet when served.
    sandbox: SandboxSpec = field(default_factory=SandboxSpec)
    backend: str = "local"  # local | vertex: where the train and tune tasks run
    vertex: VertexSpec = field(default_factory=VertexSpec)  # Vertex AI machines and image
    path: str = ""
    digest: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.pipeline):
            raise SpecError("pipeline", "a lower_snake_case name", self.pipeline)
        one_of("task", self.task, TASKS)
        one_of("backend", self.backend, ("local", "vertex"))
        check_schedule("schedule", self.schedule)
        if self.data.positive_label is not None and self.task != BINARY:
            raise SpecError(
                "data.positive_label",
                f"no positive_label with task {self.task} (binary_classification only)",
                self.data.positive_label,
            )
        self.evaluation.check_metrics(self.task)
        for where, name in (
            ("tune.objective", self.tune_objective),
            ("train.early_stopping_metric", self.train.early_stopping_metric),
        ):
            one_of(where, name, catalog.training_metrics_for(self.task))
        if self.backend == "vertex":
            self._check_vertex()
        if not self.model_name:
            object.__setattr__(self, "model_name", self.pipeline)

    def _check_vertex(self) -> None:
        if not self.vertex.image:
            raise SpecError("vertex.image", "the training image Vertex AI runs (backend: vertex)")
        if self.tune.enabled and self.tune.algorithm != "random":
            raise SpecError(
                "tune.algorithm",
                "random with backend: vertex (Vertex AI Vizier has no hyperband)",
                self.tune.algorithm,
            )

    @property
    def tune_objective(self) -> str:
        """``tune.objective``, or the task's default (spec.metrics)."""
        return self.tune.objective or catalog.default_objective(self.task)

    @property
    def project_root(self) -> Path:
        return Path(self.path).resolve().parent.parent.parent

    def log_root(self, default: str) -> str:
        """Where the model server logs requests and feedback: ``serving.log_root`` resolved
        against the project, else ``default`` (the settings' ``log_root``)."""
        return self.resolve(self.serving.log_root) if self.serving.log_root else default

    def expectations_directory(self) -> Path:
        directory = self.expectations.directory or f"include/expectations/{self.pipeline}"
        return Path(self.resolve(directory))

    def schema_overrides_path(self) -> Path:
        """``<pipeline>.schema.yaml`` beside the spec: pins or overrides the inferred schema."""
        return Path(self.path).with_name(f"{self.pipeline}.schema.yaml")

    def model_module(self) -> str:
        """The model module's path: the spec's ``train.module``, or the built-in model's."""
        if self.train.module:
            return self.resolve(self.train.module)
        from mlrail.training import tabular

        return tabular.__file__

    def data_roots(self) -> list[str]:
        """Where a run's data source may be by default (``data_roots`` in the settings
        replaces this): the project's ``data`` folder and the folder of ``data.source``."""
        folders = [self.resolve("data"), source_folder(self.resolve(self.data.source))]
        return list(dict.fromkeys(folders))

    def resolve(self, path: str) -> str:
        """Resolve a path from the spec: URLs as they are, relative paths against the project."""
        if "://" in path or Path(path).is_absolute():
            return path
        return str(self.project_root / path)


def source_folder(source: str) -> str:
    """The folder a data source (file, folder or glob; path or URL) lies in: a folder
    itself, else the folder of its part before any wildcard."""
    fixed = re.split(r"[*?\[]", source, maxsplit=1)[0]
    if fixed == source and "://" not in source and Path(source).is_dir():
        return source
    if "/" not in fixed:
        return "."
    return fixed.rsplit("/", 1)[0] or "/"
