"""One function per pipeline stage: spec + input artifact ids in, ComponentResult out.

Operators call exactly one of these; tests and scripts can chain them without Airflow
(``run_training_pipeline`` does the whole chain in-process).
"""

from __future__ import annotations

from typing import Any

from mlrail.components import evaluate as evaluate_component
from mlrail.components import ingest as ingest_component
from mlrail.components import push as push_component
from mlrail.components import sandbox as sandbox_component
from mlrail.components import schema as schema_component
from mlrail.components import statistics as statistics_component
from mlrail.components import train as train_component
from mlrail.components import tune as tune_component
from mlrail.data.dataset import DataRoots, resolve_dataset, source_text
from mlrail.data.expectations import load_user_suites
from mlrail.data.validation import BlockingAnomaliesError
from mlrail.deployment.aliases import BLESSED
from mlrail.spec import PipelineSpec
from mlrail.spec.overrides import read_overrides
from mlrail.store.cache import code_version
from mlrail.store.metadata import Artifact
from mlrail.store.registry import ModelRegistry
from mlrail.store.runner import ComponentResult, Env, RunInfo, run_component
from mlrail.training.modules import load_model_module


def _artifact(env: Env, artifact_id: int, expected_type: str) -> Artifact:
    artifact = env.metadata.get_artifact(int(artifact_id))
    if artifact.type != expected_type:
        raise TypeError(f"artifact {artifact_id} is a {artifact.type}, expected {expected_type}")
    return artifact


def _data_inputs(env: Env, examples_id: int, statistics_id: int, schema_id: int) -> dict:
    """The Examples, their statistics and schema: what tuning, validation and training read."""
    return {
        "examples": _artifact(env, examples_id, "Examples"),
        "statistics": _artifact(env, statistics_id, "DatasetStatistics"),
        "schema": _artifact(env, schema_id, "Schema"),
    }


def ingest_examples(
    env: Env, spec: PipelineSpec, run: RunInfo, force: bool = False, source: str | None = None
) -> ComponentResult:
    """Ingest the spec's data source, or ``source`` for this run (the DAG's ``data_source``
    param), which must lie in the allowed data roots (the settings' ``data_roots``, else
    the spec's defaults): SourceNotAllowed otherwise, before anything is listed."""
    roots = None
    if source:
        roots = DataRoots(tuple(map(spec.resolve, env.settings.data_roots or spec.data_roots())))
        source = spec.resolve(source_text(source))
    source = source or spec.resolve(spec.data.source)
    dataset = resolve_dataset(
        env.metadata, source, spec.data.format, spec.data.content_hash, roots=roots
    )
    params = {
        "format": spec.data.format,
        "label": spec.data.label,
        "include": spec.data.features.include,
        "exclude": spec.data.features.exclude,
        "ratios": {"train": spec.split.train, "eval": spec.split.eval, "test": spec.split.test},
        "key": spec.split.key,
        "seed": spec.split.seed,
    }
    inputs = {"dataset": dataset}
    previous = _previous_version(env, spec.pipeline, dataset)
    if previous is not None:
        inputs["previous"], params["previous_split"] = previous
    return run_component(env, ingest_component.COMPONENT, inputs, params, run, force=force)


def _previous_version(env: Env, pipeline: str, dataset: Artifact) -> tuple[Artifact, dict] | None:
    """The Examples of the newest earlier version of the same data source that are still
    committed, and the split it was asked for: its rows keep their splits."""
    for execution in reversed(env.metadata.executions(component="ingest", pipeline=pipeline)):
        if execution.state not in ("complete", "cached"):
            continue
        source = env.metadata.io_of(execution.id, "input").get("dataset")
        if source is None or source.uri != dataset.uri or source.id == dataset.id:
            continue
        examples = env.metadata.io_of(execution.id, "output").get("examples")
        if examples is not None and env.artifacts.exists(examples.uri):
            asked = {k: execution.parameters.get(k) for k in ("ratios", "key", "seed")}
            return examples, asked
    return None


def compute_statistics(
    env: Env, spec: PipelineSpec, run: RunInfo, examples_id: int, force: bool = False
) -> ComponentResult:
    s = spec.statistics
    params = {
        "top_k": s.top_k,
        "vocabulary_size": s.vocabulary_size,
        "categorical_max_unique": s.categorical_max_unique,
        "engine": s.engine,
        "beam_above_bytes": s.beam_above_bytes,
        "beam_runner": s.beam_runner,
        "beam_options": s.beam_options,
    }
    inputs = {"examples": _artifact(env, examples_id, "Examples")}
    return run_component(env, statistics_component.COMPONENT, inputs, params, run, force=force)


def infer_schema(
    env: Env, spec: PipelineSpec, run: RunInfo, statistics_id: int, force: bool = False
) -> ComponentResult:
    params = {
        "label": spec.data.label,
        "task": spec.task,
        "numeric": spec.data.features.numeric,
        "categorical": spec.data.features.categorical,
        "categorical_max_unique": spec.statistics.categorical_max_unique,
    }
    if spec.data.positive_label is not None:
        params["positive_label"] = spec.data.positive_label
    overrides = spec.schema_overrides_path()
    if overrides.exists():
        # The file's content is a parameter: editing it misses the cache, as it should.
        params["overrides"] = read_overrides(overrides)
        params["overrides_file"] = str(overrides)
    inputs = {"statistics": _artifact(env, statistics_id, "DatasetStatistics")}
    return run_component(env, schema_component.INFER, inputs, params, run, force=force)


def reference_schema(env: Env, spec: PipelineSpec, schema: Artifact) -> tuple[Artifact, str] | None:
    """The schema a new dataset version must stay compatible with, and what it is: the one
    the blessed model was trained with, else the newest other schema of this pipeline (the
    previous dataset version's). None for a first run."""
    blessed = ModelRegistry(env.metadata).resolve(spec.model_name, BLESSED)
    if blessed is not None:
        training = env.metadata.producer_of(blessed.model_artifact_id)
        trained_on = training and env.metadata.io_of(training.id, "input").get("schema")
        if trained_on is not None and trained_on.fingerprint == schema.fingerprint:
            return None  # nothing can have changed; leaving it out keeps the cache key
        if trained_on is not None and env.artifacts.exists(trained_on.uri):
            return trained_on, f"the blessed model v{blessed.version}"
    for execution in reversed(env.metadata.executions(component="schema", pipeline=spec.pipeline)):
        if execution.state not in ("complete", "cached"):
            continue
        earlier = env.metadata.io_of(execution.id, "output").get("schema")
        if (
            earlier is not None
            and earlier.fingerprint != schema.fingerprint
            and env.artifacts.exists(earlier.uri)
        ):
            return earlier, f"the schema of run {execution.run_id}"
    return None


def validate_data(
    env: Env,
    spec: PipelineSpec,
    run: RunInfo,
    examples_id: int,
    statistics_id: int,
    schema_id: int,
    force: bool = False,
) -> ComponentResult:
    """Validate against the schema and the GX suites; raise BlockingAnomaliesError listing
    every blocking anomaly."""
    inputs = _data_inputs(env, examples_id, statistics_id, schema_id)
    gx = spec.expectations
    params = {
        "limits": vars(spec.validation),
        # The suites' content is a parameter: editing a suite misses the cache.
        "expectations": {
            "enabled": gx.enabled,
            "sample_rows": gx.sample_rows,
            "user_suites": [vars(s) for s in load_user_suites(spec.expectations_directory())]
            if gx.enabled
            else [],
        },
    }
    reference = reference_schema(env, spec, inputs["schema"])
    if reference is not None:
        inputs["reference_schema"], params["reference"] = reference
    result = run_component(env, schema_component.VALIDATE, inputs, params, run, force=force)
    if result.result["blocking"]:
        blocking = [m for m in result.result["messages"] if m.startswith("[blocking]")]
        raise BlockingAnomaliesError(
            f"{len(blocking)} blocking data anomalies (anomalies artifact "
            f"{result.outputs['anomalies'].uri}):\n  " + "\n  ".join(blocking)
        )
    return result


def _default_hyperparameters(spec: PipelineSpec) -> dict:
    module = load_model_module(spec.model_module())
    return {**getattr(module, "HYPERPARAMETERS", {}), **spec.train.hyperparameters}


def _last_search(env: Env, pipeline: str) -> dict:
    """State, best values and space of this pipeline's last completed search (or reuse)."""
    for execution in reversed(env.metadata.executions(component="tune", pipeline=pipeline)):
        if execution.state == "complete":
            props = env.metadata.io_of(execution.id, "output")["hyperparameters"].properties
            return {key: props[key] for key in ("state", "best", "space")}
    return {}


def tune_hyperparameters(
    env: Env,
    spec: PipelineSpec,
    run: RunInfo,
    examples_id: int,
    statistics_id: int,
    schema_id: int,
    force: bool = False,
) -> ComponentResult:
    """Search (or reuse, or narrow) hyperparameters; the decision and its reason are in the
    result and the Hyperparameters artifact. ``force`` searches anew: reusing the last
    search is reusing a cached result."""
    inputs, params = tune_inputs(env, spec, examples_id, statistics_id, schema_id, force)
    return run_component(
        env,
        tune_component.COMPONENT,
        inputs,
        params,
        run,
        force=force,
        code_files=(params["module_path"],),
    )


def tune_inputs(
    env: Env,
    spec: PipelineSpec,
    examples_id: int,
    statistics_id: int,
    schema_id: int,
    force: bool = False,
) -> tuple[dict[str, Artifact], dict[str, Any]]:
    """The tune component's inputs and parameters, wherever it runs."""
    module_path = spec.model_module()
    params = {
        "module_path": module_path,
        "module_version": code_version(files=[module_path]),
        "defaults": _default_hyperparameters(spec),
        **{name: value for name, value in vars(spec.tune).items() if name != "enabled"},
        "objective": spec.tune_objective,
        "seed": spec.train.seed,
        "custom_config": spec.train.custom_config,  # a TFX tuner_fn's, as run_fn's
        # The last search is a parameter: a new search in between is a different input.
        "previous": _last_search(env, spec.pipeline),
    }
    if force:
        # Only when set, so the cache keys of unforced runs stay as they were.
        params["force"] = True
    return _data_inputs(env, examples_id, statistics_id, schema_id), params


def train_model(
    env: Env,
    spec: PipelineSpec,
    run: RunInfo,
    examples_id: int,
    statistics_id: int,
    schema_id: int,
    force: bool = False,
    hyperparameters_id: int | None = None,
) -> ComponentResult:
    """Train; with ``hyperparameters_id`` (a tuner's output) instead of the spec's values."""
    inputs, params = train_inputs(
        env, spec, run, examples_id, statistics_id, schema_id, hyperparameters_id, force
    )
    return run_component(
        env,
        train_component.TRAIN,
        inputs,
        params,
        run,
        force=force,
        code_files=(params["module_path"],),
    )


def train_inputs(
    env: Env,
    spec: PipelineSpec,
    run: RunInfo,
    examples_id: int,
    statistics_id: int,
    schema_id: int,
    hyperparameters_id: int | None = None,
    force: bool = False,
) -> tuple[dict[str, Artifact], dict[str, Any]]:
    """The train component's inputs and parameters, wherever it runs (``force``: the
    spec's hyperparameters are written again too, not taken from the cache)."""
    module_path = spec.model_module()
    if hyperparameters_id is None:
        hparams = run_component(
            env,
            train_component.HYPERPARAMETERS,
            {},
            {"values": _default_hyperparameters(spec), "source": "spec"},
            run,
            force=force,
        ).outputs["hyperparameters"]
    else:
        hparams = _artifact(env, hyperparameters_id, "Hyperparameters")
    inputs = {
        **_data_inputs(env, examples_id, statistics_id, schema_id),
        "hyperparameters": hparams,
    }
    params = {
        "module_path": module_path,
        "seed": spec.train.seed,
        "stages": [vars(stage) for stage in spec.train.stages],
        "strategy": spec.train.strategy,
        "devices": spec.train.devices,
        "workers": spec.train.workers,
        "parameter_servers": spec.train.parameter_servers,
        "early_stopping_patience": spec.train.early_stopping_patience,
        "early_stopping_metric": spec.train.early_stopping_metric,
        "custom_config": spec.train.custom_config,
    }
    return inputs, params


def evaluate_model(
    env: Env,
    spec: PipelineSpec,
    run: RunInfo,
    model_id: int,
    examples_id: int,
    schema_id: int,
    force: bool = False,
) -> ComponentResult:
    inputs = {
        "model": _artifact(env, model_id, "Model"),
        "examples": _artifact(env, examples_id, "Examples"),
        "schema": _artifact(env, schema_id, "Schema"),
    }
    params = {
        "task": spec.task,
        "thresholds": {m: vars(t) for m, t in spec.evaluation.thresholds.items()},
        "tolerance": spec.evaluation.baseline_tolerance,
    }
    blessed = ModelRegistry(env.metadata).resolve(spec.model_name, BLESSED)
    baseline = blessed and env.metadata.get_artifact(blessed.model_artifact_id)
    # The blessed model itself (a re-run after its own push, or a cached training) has
    # nothing to be compared with: its first evaluation stands, and is reused.
    if baseline is not None and baseline.fingerprint != inputs["model"].fingerprint:
        inputs["baseline"] = baseline
        params["baseline_version"] = blessed.version
    return run_component(env, evaluate_component.COMPONENT, inputs, params, run, force=force)


def validate_sandbox(
    env: Env,
    spec: PipelineSpec,
    run: RunInfo,
    model_id: int,
    examples_id: int,
    schema_id: int,
    servers: dict[str, Any],
) -> ComponentResult:
    """Measure the candidate on the running sandbox ``servers`` (``start_sandbox``'s
    record) against the spec's sandbox policy: an InfraBlessing."""
    inputs = {
        "model": _artifact(env, model_id, "Model"),
        "examples": _artifact(env, examples_id, "Examples"),
        "schema": _artifact(env, schema_id, "Schema"),
    }
    blessed = servers["running"].get("blessed")
    if blessed is not None:
        inputs["baseline"] = _artifact(env, blessed["model_artifact_id"], "Model")
    params = {
        "model_name": spec.model_name,
        "policy": vars(spec.sandbox),
        "max_request_bytes": spec.serving.max_request_bytes,
        "log_root": spec.log_root(env.settings.log_root) or None,
        "servers": servers,
        "same_as_blessed": servers.get("same_as_blessed"),
    }
    return run_component(env, sandbox_component.COMPONENT, inputs, params, run)


def push_model(
    env: Env,
    spec: PipelineSpec,
    run: RunInfo,
    model_id: int,
    blessing_id: int,
    infra_blessing_id: int | None,
) -> ComponentResult:
    """Push the model when both its evaluation (``blessing_id``) and its sandbox validation
    (``infra_blessing_id``) blessed it; the refusal names the missing or failed one."""
    inputs = {
        "model": _artifact(env, model_id, "Model"),
        "blessing": _artifact(env, blessing_id, "ModelBlessing"),
    }
    if infra_blessing_id is not None:
        inputs["infra_blessing"] = _artifact(env, infra_blessing_id, "InfraBlessing")
    serving_root = (
        spec.resolve(spec.push.serving_root)
        if spec.push.serving_root
        else env.settings.serving_root
    )
    params = {"model_name": spec.model_name, "serving_root": serving_root}
    result = run_component(env, push_component.COMPONENT, inputs, params, run)
    if "pushed_model" in result.outputs:
        ModelRegistry(env.metadata).set_pushed(
            spec.model_name, result.result["version"], result.outputs["pushed_model"].id
        )
    return result


def run_training_pipeline(
    env: Env, spec: PipelineSpec, run: RunInfo, force: bool = False
) -> dict[str, ComponentResult]:
    """The training DAG's graph in-process (mlrail.pipeline.runner): each component's
    result by component name (``sandbox`` is the validation's InfraBlessing)."""
    from mlrail.pipeline.runner import by_component, run_graph
    from mlrail.pipeline.training import TRAINING

    return by_component(run_graph(env, spec, TRAINING.graph(spec), run, force))
