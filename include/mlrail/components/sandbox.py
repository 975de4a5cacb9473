"""Sandbox: the candidate (and the blessed model) served by their own server processes,
measured under replayed traffic, and an InfraBlessing with one reason per policy check.

The servers' lifecycle is split in two halves so that Airflow can run them as setup and
teardown tasks around the validation (``start_sandbox`` / ``stop_sandbox``); in-process
pipelines use ``sandbox_running``. The validation itself is an ordinary component.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from mlrail.store.files import BLESSING, MEASUREMENTS, REPORT, SCHEMA, split_path
from mlrail.store.metadata import Artifact
from mlrail.store.runner import Component, Env, ExecutorContext, ExecutorOutput, RunInfo
from mlrail.verdict import summary_of


def _trained_schema(env: Env, model: Artifact) -> dict:
    from mlrail.store.lineage import trained_schema

    schema = trained_schema(env, model.id)
    if schema is None:
        raise LookupError(f"model artifact {model.id} has no recorded training schema")
    return schema


def _local_model(env: Env, model: Artifact, root: Path, role: str) -> str:
    """A local directory of the SavedModel: the artifact itself on a local store, else a
    copy inside the sandbox folder (removed with it)."""
    if env.artifacts.is_local:
        return str(Path(model.uri) / "saved_model")
    target = root.parent / f"{root.name}-{role}-model"
    shutil.rmtree(target, ignore_errors=True)
    with env.artifacts.read(model.uri) as local:
        shutil.copytree(local / "saved_model", target)
    return str(target)


def models_to_serve(env: Env, spec, model_id: int, root: Path) -> tuple[list, int | None]:
    """The candidate, and the blessed model unless the candidate is the blessed model;
    and in that case the blessed version the candidate is."""
    from mlrail.deployment.aliases import BLESSED
    from mlrail.serving.sandbox.servers import BLESSED as BLESSED_ROLE
    from mlrail.serving.sandbox.servers import CANDIDATE, ModelToServe
    from mlrail.store.registry import ModelRegistry

    candidate = env.metadata.get_artifact(int(model_id))
    models = [
        ModelToServe(
            CANDIDATE,
            candidate.id,
            _local_model(env, candidate, root, CANDIDATE),
            _trained_schema(env, candidate),
        )
    ]
    blessed = ModelRegistry(env.metadata).resolve(spec.model_name, BLESSED)
    if blessed is None:
        return models, None
    baseline = env.metadata.get_artifact(blessed.model_artifact_id)
    if baseline.fingerprint == candidate.fingerprint:
        return models, blessed.version
    if env.artifacts.exists(baseline.uri):
        models.append(
            ModelToServe(
                BLESSED_ROLE,
                baseline.id,
                _local_model(env, baseline, root, BLESSED_ROLE),
                _trained_schema(env, baseline),
                blessed.version,
            )
        )
    return models, None


def start_sandbox(
    env: Env, spec, run: RunInfo, model_id: int, hand_off: bool = True
) -> dict[str, Any]:
    """Start the run's sandbox servers (stopping any run's orphans and an earlier try's
    servers first); their record, as JSON, for the validation and ``stop_sandbox``. With
    ``hand_off`` (an Airflow setup task, which returns before the validation starts) this
    process stops holding them; else it holds them until it stops them or dies."""
    from mlrail.serving.sandbox.folder import sandbox_root
    from mlrail.serving.sandbox.orphans import hand_off as release
    from mlrail.serving.sandbox.servers import start_servers
    from mlrail.spec.machine import check_sandbox_machine

    check_sandbox_machine(spec)  # CPUs and workers this worker holds, named by spec line
    dag_id = run.dag_id or run.pipeline
    root = sandbox_root(dag_id, run.run_id, env.settings.metadata_url)
    models, same_as_blessed = models_to_serve(env, spec, model_id, root)
    servers = start_servers(models, root, spec.sandbox, spec.serving, f"{dag_id}/{run.run_id}")
    if hand_off:
        release(root)
    record = servers.to_dict()
    if same_as_blessed is not None:
        record["same_as_blessed"] = same_as_blessed
    return record


def stop_sandbox(
    record: dict[str, Any] | None, dag_id: str = "", run_id: str = "", store: str = ""
) -> list[str]:
    """Stop the servers in ``record``, and whatever the sandbox folder of the run
    ``dag_id``/``run_id`` of the metadata store ``store`` still records (a setup that
    failed half-way); the roles that were still running."""
    from mlrail.serving.sandbox.folder import sandbox_root
    from mlrail.serving.sandbox.servers import Servers, stop_leftovers, stop_servers

    stopped = []
    roots = [Path(record["root"])] if record else []
    if record:
        stopped += stop_servers(Servers.from_dict(record))
    if dag_id and run_id:
        roots.append(sandbox_root(dag_id, run_id, store))
        stopped += stop_leftovers(roots[-1])
    for root in roots:  # copies of models from a remote artifact store
        for copy in root.parent.glob(f"{root.name}-*-model"):
            shutil.rmtree(copy, ignore_errors=True)
    return stopped


@contextmanager
def sandbox_running(env: Env, spec, run: RunInfo, model_id: int) -> Iterator[dict[str, Any]]:
    record = start_sandbox(env, spec, run, model_id, hand_off=False)
    try:
        yield record
    finally:
        stop_sandbox(record)


def validate_sandbox(ctx: ExecutorContext) -> ExecutorOutput:
    from mlrail.serving.sandbox.orphans import held
    from mlrail.serving.sandbox.servers import Servers

    servers = Servers.from_dict(ctx.params["servers"])
    # Killed while measuring, its servers are orphans for the next setup to stop; a
    # validation that ends (even failing) hands them back, so a retry finds them.
    with held(servers):
        return _validate(ctx, servers)


def _validate(ctx: ExecutorContext, servers) -> ExecutorOutput:
    from mlrail.serving.sandbox.replay import traffic
    from mlrail.serving.sandbox.report import report_html
    from mlrail.serving.sandbox.validate import measure
    from mlrail.serving.sandbox.verdict import decide_infra_blessing
    from mlrail.spec.sandbox import SandboxSpec

    artifacts, p = ctx.env.artifacts, ctx.params
    policy = SandboxSpec(**p["policy"])
    schema = SCHEMA.read(artifacts, ctx.inputs["schema"])
    model = ctx.inputs["model"]
    candidate = servers.running["candidate"]
    if candidate.model_artifact_id != model.id:
        raise ValueError(
            f"the sandbox servers serve model artifact {candidate.model_artifact_id}, not the "
            f"candidate {model.id}: clear the sandbox's setup task too"
        )
    with artifacts.read(ctx.inputs["examples"].uri) as examples, artifacts.read(model.uri) as local:
        test_split = pq.read_table(split_path(examples, "test"))
        replayed = traffic(
            test_split,
            schema,
            policy.requests_per_round,
            p.get("log_root"),
            p["model_name"],
            policy.replay_window_hours,
            min_logged=policy.min_logged_requests,
        )
        parity_rows = test_split.slice(0, policy.parity_rows)
        measured = measure(
            servers,
            replayed,
            parity_rows,
            schema,
            local / "saved_model",
            policy,
            p["max_request_bytes"],
        )
    baseline_version = servers.running["blessed"].version if "blessed" in servers.running else None
    if baseline_version is None and p.get("same_as_blessed"):
        measured["same_as_blessed"] = True
        baseline_version = p["same_as_blessed"]
    blessing = decide_infra_blessing(measured, p["policy"], baseline_version)
    verdict = {**blessing.to_dict(), "model_artifact_id": model.id}
    out = ctx.outputs["infra_blessing"]
    BLESSING.write(out, verdict)
    MEASUREMENTS.write(out, measured, default=str)
    title = f"Sandbox: {p['model_name']} candidate (model artifact #{model.id})"
    REPORT.write_text(out, report_html(verdict, measured, title))
    return ExecutorOutput(
        properties={"infra_blessing": {**blessing.summary(), "model_artifact_id": model.id}},
        result={"verdict": blessing.summary()},
    )


def _legacy_verdict(result: dict) -> dict | None:
    """Results recorded before the shared verdict type: ``infra_blessed`` and
    ``infra_sentence``."""
    if "infra_sentence" not in result:
        return None
    return summary_of(
        {"blessed": result.get("infra_blessed"), "sentence": result["infra_sentence"]}
    )


# Not cached: latency and memory are measurements of the machine at the time, and a verdict
# that noise may have swung must be measured again when its task is cleared.
COMPONENT = Component(
    name="sandbox",
    executor=validate_sandbox,
    outputs={"infra_blessing": "InfraBlessing"},
    cacheable=False,
    reads_verdict=_legacy_verdict,
)
