"""Run one component: cache lookup, execution record, staged outputs, lineage events.

This is the one mechanism every component goes through, whether it is called from an
Airflow operator, a Vertex AI container or a test:

1. the cache key is computed from the component's name, code version, the fingerprints of
   its input artifacts and its normalized parameters;
2. unless ``force`` is set, a completed execution with that key whose outputs are still
   committed is reused: a new execution is recorded with state ``cached`` pointing at it;
3. otherwise the execution is claimed: the database holds one ``running`` execution per
   cache key, so a concurrent run with the same key waits for it (mlrail.store.leases)
   and reuses its result instead of computing it twice; an owner that died is detected,
   its execution marked ``interrupted`` and its leftovers removed (mlrail.store.recovery);
4. the executor runs with a staging directory per output, under a heartbeat that renews
   the lease; outputs are committed atomically and registered only if it returns; a
   failure leaves a ``failed`` execution and no artifact behind.

Work that runs elsewhere (a Vertex AI job) goes through the same steps in two halves:
``start_external`` (1-3, a ``running`` execution with the URIs its outputs go to, leased
for as long as the job may take),
then ``finish_external`` (commit what the job wrote in place, register, complete) or
``fail_external`` (record the error, remove what was left half-written).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mlrail.store import leases
from mlrail.store.artifacts import ArtifactStore
from mlrail.store.cache import cache_key, code_version, normalize
from mlrail.store.metadata import Artifact, Execution, MetadataStore
from mlrail.store.settings import Settings

log = logging.getLogger("mlrail")


@dataclass(frozen=True)
class Trigger:
    """Who started a DAG run and how, as Airflow tells the run's tasks."""

    user: str | None  # Airflow's triggering_user_name; None when Airflow started the run
    run_type: str  # manual, scheduled, backfill, asset_triggered, operator_triggered, ...
    via: str | None = None  # Airflow's triggered_by (ui, rest_api, cli, test, ...) if known


@dataclass(frozen=True)
class RunInfo:
    """Where an execution comes from: the pipeline and, under Airflow, the task instance
    and who triggered its DAG run (kept with the run's ``dag_run`` context)."""

    pipeline: str
    pipeline_version: str = ""
    run_id: str = field(default_factory=lambda: "local__" + datetime.now(UTC).isoformat())
    dag_id: str | None = None
    task_id: str | None = None
    try_number: int | None = None
    actor: str = "mlrail"
    trigger: Trigger | None = None


@dataclass
class Env:
    """The stores a component reads and writes."""

    settings: Settings
    artifacts: ArtifactStore
    metadata: MetadataStore

    @classmethod
    def open(cls, settings: Settings | None = None) -> Env:
        settings = settings or Settings.from_env()
        return cls(
            settings, ArtifactStore(settings.artifact_root), MetadataStore(settings.metadata_url)
        )


@dataclass
class ExecutorContext:
    """What an executor gets: inputs, parameters, one staging directory per output."""

    env: Env
    run: RunInfo
    execution_id: int
    inputs: dict[str, Artifact]
    params: dict[str, Any]
    outputs: dict[str, Path]


@dataclass
class ExecutorOutput:
    """What an executor returns: properties per output artifact and a small result dict."""

    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    # Overrides the content hash, e.g. when a cheaper stable identity is known.
    fingerprints: dict[str, str] = field(default_factory=dict)
    # Outputs deliberately not produced (a push that was refused): nothing is committed.
    skipped: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Component:
    """A named unit of work: an executor plus the artifact types it writes.

    ``leftovers(env, execution)`` lists what an interrupted execution of this component
    may have left outside its own artifact folder (the push's copies in the serving
    folder); the runner and ``python -m mlrail gc`` remove them. ``staging_roots(env,
    execution)`` names the folders outside the artifact root where it builds copies
    (mlrail.store.staging), for an execution or, given None, by default: cleanup looks
    there for the copies of writers that are gone, found by name.

    A component that decides something puts its verdict's summary (mlrail.verdict) in its
    result under ``verdict``; ``reads_verdict(result)`` reads one from a result without it
    (recorded before results carried it, or a push, whose result says what it did), so
    pages and summaries read any store the same way. ``describe(result)`` gives the lines a
    run summary shows for a result; by default its verdict, if it has one.
    """

    name: str
    executor: Callable[[ExecutorContext], ExecutorOutput]
    outputs: dict[str, str]
    cacheable: bool = True
    leftovers: Callable[[Env, Execution], list[str]] | None = None
    staging_roots: Callable[[Env, Execution | None], list[str]] | None = None
    reads_verdict: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    describe: Callable[[dict[str, Any]], list[str]] | None = None

    def verdict_of(self, result: dict[str, Any]) -> dict[str, Any] | None:
        """The verdict summary of one of this component's results (``state``,
        ``lets_through``, ``sentence``), or None when it decides nothing."""
        if "verdict" in result:
            return result["verdict"]
        return self.reads_verdict(result) if self.reads_verdict else None

    def summary_lines(self, result: dict[str, Any]) -> list[str]:
        """What a run summary says of one of this component's results."""
        if self.describe is not None:
            return self.describe(result)
        return verdict_lines(self.name, self.verdict_of(result))


def verdict_lines(component: str, verdict: dict[str, Any] | None) -> list[str]:
    """A run summary's line for a stage's verdict, if it has one."""
    return [f"{component}: {verdict['sentence']}"] if verdict else []


@dataclass(frozen=True)
class ComponentResult:
    execution_id: int
    component: str
    cached: bool
    cached_from: int | None
    outputs: dict[str, Artifact]
    result: dict[str, Any]

    def to_xcom(self) -> dict[str, Any]:
        """Small JSON for XCom: ids, URIs and verdicts, never data."""
        return {
            "execution_id": self.execution_id,
            "cached": self.cached,
            "cached_from": self.cached_from,
            "artifacts": {slot: a.ref() for slot, a in self.outputs.items()},
            **self.result,
        }


def _contexts(env: Env, run: RunInfo) -> list[int]:
    ids = [env.metadata.put_context("pipeline", run.pipeline)]
    if run.pipeline_version:
        ids.append(
            env.metadata.put_context("pipeline_version", f"{run.pipeline}@{run.pipeline_version}")
        )
    properties: dict[str, Any] = {"dag_id": run.dag_id}
    if run.trigger:
        properties["triggered_by"] = asdict(run.trigger)
    # The run's first execution creates the context: every task of a run has one trigger.
    ids.append(
        env.metadata.put_context(
            "dag_run", f"{run.dag_id or run.pipeline}/{run.run_id}", properties
        )
    )
    return ids


def _record(env: Env, run: RunInfo, **fields: Any) -> int:
    execution_id = env.metadata.start_execution(
        pipeline=run.pipeline,
        dag_id=run.dag_id,
        run_id=run.run_id,
        task_id=run.task_id,
        try_number=run.try_number,
        **fields,
    )
    env.metadata.associate(_contexts(env, run), execution_id)
    return execution_id


def _find_reusable(env: Env, key: str) -> tuple[int, dict[str, Artifact], dict] | None:
    for previous in env.metadata.completed_with_key(key):
        outputs = env.metadata.io_of(previous.id, "output")
        if all(a.external or env.artifacts.exists(a.uri) for a in outputs.values()):
            return previous.id, outputs, previous.result or {}
        log.info("execution %s matches but its outputs are gone; not reusing it", previous.id)
    return None


@dataclass(frozen=True)
class _Prepared:
    key: str
    common: dict[str, Any]


def _prepare(
    env: Env,
    component: Component,
    inputs: dict[str, Artifact],
    params: dict[str, Any],
    code_files: tuple[str, ...],
) -> _Prepared:
    for artifact in inputs.values():
        if not artifact.external:
            env.artifacts.commit_info(artifact.uri)  # raises if it was never committed
    params = normalize(params)
    # The executor's module and every mlrail module it imports (cache.module_closure).
    version = code_version(modules=(component.executor.__module__,), files=code_files)
    key = cache_key(component.name, version, {k: a.fingerprint for k, a in inputs.items()}, params)
    common = {
        "component": component.name,
        "code_version": version,
        "cache_key": key,
        "parameters": params,
    }
    return _Prepared(key, common)


def _reuse(
    env: Env, component: Component, run: RunInfo, inputs: dict[str, Artifact], ready: _Prepared
) -> ComponentResult | None:
    """Record a cached execution and return it, if a reusable one exists."""
    hit = _find_reusable(env, ready.key) if component.cacheable else None
    if hit is None:
        return None
    source_id, outputs, result = hit
    now = datetime.now(UTC)
    execution_id = _record(
        env,
        run,
        state="cached",
        cached_from=source_id,
        result=result,
        started_at=now,
        finished_at=now,
        **ready.common,
    )
    env.metadata.add_events(execution_id, "input", inputs)
    env.metadata.add_events(execution_id, "output", outputs)
    log.info(
        "%s: cache hit, reusing execution %s (key %s)", component.name, source_id, ready.key[:12]
    )
    return ComponentResult(execution_id, component.name, True, source_id, outputs, result)


def _claim(
    env: Env,
    component: Component,
    run: RunInfo,
    inputs: dict[str, Artifact],
    ready: _Prepared,
    force: bool,
    owner: str,
    lease: float | None = None,
) -> ComponentResult | int:
    """A cache hit, or the id of a new ``running`` execution that this process owns.

    While another live execution computes the same key, wait for it; then reuse its
    result (unless ``force``: then compute again, after it, never beside it).
    """
    from mlrail.store.recovery import recover

    waited_for = None
    pause = 0.5
    while True:
        hit = None if force else _reuse(env, component, run, inputs, ready)
        if hit is not None:
            return hit
        try:
            execution_id = _record(
                env,
                run,
                state="running",
                owner=owner,
                lease_expires_at=leases.expiry(lease),
                **ready.common,
            )
        except sa.exc.IntegrityError:
            holder = env.metadata.running_with_key(ready.key)
            if holder is None:
                continue  # it finished between our insert and our look
            gone = leases.is_gone(holder, (run.dag_id, run.run_id, run.task_id), run.try_number)
            if gone:
                recover(env, component, holder, gone)
                continue
            if waited_for != holder.id:
                waited_for = holder.id
                log.info(
                    "%s: execution %s (%s/%s, task %s) is computing the same key %s; waiting "
                    "for it instead of computing it twice",
                    component.name,
                    holder.id,
                    holder.dag_id,
                    holder.run_id,
                    holder.task_id,
                    ready.key[:12],
                )
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
            continue
        env.metadata.add_events(execution_id, "input", inputs)
        return execution_id


def run_component(
    env: Env,
    component: Component,
    inputs: dict[str, Artifact],
    params: dict[str, Any],
    run: RunInfo,
    force: bool = False,
    code_files: tuple[str, ...] = (),
) -> ComponentResult:
    """Run ``component`` or reuse a cached execution; see the module docstring."""
    from mlrail.store.recovery import recover_component

    recover_component(env, component)
    ready = _prepare(env, component, inputs, params, code_files)
    claimed = _claim(env, component, run, inputs, ready, force, leases.this_owner())
    if isinstance(claimed, ComponentResult):
        return claimed
    execution_id = claimed
    log.info(
        "%s: running as execution %s%s",
        component.name,
        execution_id,
        " (cache bypassed: force)" if force else "",
    )

    def renew() -> None:
        env.metadata.renew_lease(execution_id, leases.expiry())

    try:
        with leases.Heartbeat(renew):
            outputs = _execute(
                env, component, run, execution_id, inputs, ready.common["parameters"]
            )
    except BaseException as err:
        fail_external(env, execution_id, err)
        raise
    artifacts, result = outputs
    env.metadata.add_events(execution_id, "output", artifacts)
    env.metadata.finish_execution(execution_id, "complete", result=result)
    return ComponentResult(execution_id, component.name, False, None, artifacts, result)


@dataclass(frozen=True)
class PendingExecution:
    """An execution whose work runs elsewhere (a Vertex AI job): it writes its outputs in
    place at ``outputs`` and ``finish_external`` commits and registers them."""

    execution_id: int
    outputs: dict[str, str]  # slot -> URI
    parameters: dict[str, Any]


def start_external(
    env: Env,
    component: Component,
    inputs: dict[str, Artifact],
    params: dict[str, Any],
    run: RunInfo,
    force: bool = False,
    code_files: tuple[str, ...] = (),
    lease_seconds: float = 24 * 3600,
) -> ComponentResult | PendingExecution:
    """The first half of ``run_component`` for remote work: a cache hit, or a ``running``
    execution (inputs and parameters recorded) with the URIs its outputs go to.

    No process of ours lives while the job runs (the task defers), so the lease is set
    once for ``lease_seconds``, the longest the job may take."""
    from mlrail.store.recovery import recover_component

    recover_component(env, component)
    ready = _prepare(env, component, inputs, params, code_files)
    owner = leases.remote_owner(f"{run.dag_id}/{run.run_id}/{run.task_id}")
    claimed = _claim(env, component, run, inputs, ready, force, owner, lease_seconds)
    if isinstance(claimed, ComponentResult):
        return claimed
    execution_id = claimed
    outputs = {
        slot: env.artifacts.uri_for(run.pipeline, run.run_id, component.name, execution_id, slot)
        for slot in component.outputs
    }
    log.info("%s: execution %s runs remotely, writing %s", component.name, execution_id, outputs)
    return PendingExecution(execution_id, outputs, ready.common["parameters"])


def finish_external(
    env: Env,
    component: Component,
    pending: PendingExecution,
    output: ExecutorOutput,
) -> ComponentResult:
    """Commit the outputs the remote work wrote, register them with lineage, complete the
    execution. Fails the execution (and removes the outputs) if they cannot be committed."""
    try:
        artifacts = {}
        for slot, uri in pending.outputs.items():
            info = env.artifacts.seal(uri)
            artifacts[slot] = env.metadata.put_artifact(
                type=component.outputs[slot],
                uri=uri,
                fingerprint=output.fingerprints.get(slot, info.fingerprint),
                properties=output.properties.get(slot, {}),
            )
    except BaseException as err:
        fail_external(env, pending.execution_id, err, pending.outputs.values())
        raise
    env.metadata.add_events(pending.execution_id, "output", artifacts)
    env.metadata.finish_execution(pending.execution_id, "complete", result=output.result)
    return ComponentResult(
        pending.execution_id, component.name, False, None, artifacts, output.result
    )


def fail_external(env: Env, execution_id: int, error: BaseException | str, uris=()) -> None:
    """Mark the execution failed with the error; remove uncommitted outputs at ``uris``."""
    if isinstance(error, BaseException):
        error = "".join(traceback.format_exception_only(error)).strip()
    env.metadata.finish_execution(execution_id, "failed", error=error)
    for uri in uris:
        try:
            env.artifacts.discard(uri)
        except Exception:  # the failure being recorded matters more than the cleanup
            log.exception("could not remove the unfinished output %s", uri)


def _execute(
    env: Env,
    component: Component,
    run: RunInfo,
    execution_id: int,
    inputs: dict[str, Artifact],
    params: dict[str, Any],
) -> tuple[dict[str, Artifact], dict[str, Any]]:
    with ExitStack() as stack:
        staged = {
            slot: stack.enter_context(
                env.artifacts.write(
                    env.artifacts.uri_for(
                        run.pipeline, run.run_id, component.name, execution_id, slot
                    )
                )
            )
            for slot in component.outputs
        }
        context = ExecutorContext(
            env, run, execution_id, inputs, params, {slot: s.path for slot, s in staged.items()}
        )
        output = component.executor(context)
        for slot in output.skipped:
            staged[slot].discard = True
    # Leaving the stack committed every output; register them now that they are readable.
    artifacts = {
        slot: env.metadata.put_artifact(
            type=component.outputs[slot],
            uri=s.uri,
            fingerprint=output.fingerprints.get(slot, s.info.fingerprint),
            properties=output.properties.get(slot, {}),
        )
        for slot, s in staged.items()
        if slot not in output.skipped
    }
    return artifacts, output.result
