"""Vertex AI requests for train and tune: what mlrail sends, built from the spec.

The train task becomes a CustomJob whose containers run ``python -m mlrail.train`` (the
same entrypoint as on a laptop); the tune task becomes a HyperparameterTuningJob whose
trials run ``python -m mlrail.trial`` and report their objective with the Vertex AI
hypertune protocol. Worker pools follow Vertex AI's order, which is also how it builds
TF_CONFIG: pool 0 is the chief, pool 1 the workers, pool 2 the parameter servers.

Containers read the artifacts through Cloud Storage FUSE, which Vertex AI mounts at
``/gcs/<bucket>`` in every training container, so the entrypoint needs no GCS client.
That needs the artifact root on ``gs://``: a local artifact root cannot be read by a
remote job, and that is refused here with the URI and the fix.

Nothing here talks to Google Cloud: these are pure functions from spec to request
objects of ``google.cloud.aiplatform_v1``; the Airflow hook sends them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlrail.spec.metrics import higher_is_better
from mlrail.training.strategies import DEFAULT, strategy

if TYPE_CHECKING:
    from mlrail.spec import PipelineSpec

CONSOLE = "https://console.cloud.google.com/vertex-ai"
# Vertex AI labels: lowercase letters, digits, "_" and "-", at most 63 characters.
_LABEL_LIMIT = 63


@dataclass(frozen=True)
class VertexTarget:
    """Where jobs run, from the Airflow connection: project, region, identity, bucket."""

    project: str
    location: str
    # gs://bucket[/prefix]: each job's base output directory (Vertex AI's checkpoints, logs
    # and trial folders), kept out of mlrail's artifacts.
    staging_bucket: str = ""
    service_account: str = ""
    network: str = ""  # projects/<number>/global/networks/<name>; empty: Google's network

    def __post_init__(self) -> None:
        for name in ("project", "location", "staging_bucket"):
            if not getattr(self, name):
                raise ValueError(
                    f"Vertex AI connection: extra field {name!r} is empty; set it in "
                    "airflow_settings.yaml (connection mlrail_vertex) or the Airflow UI"
                )
        if not self.staging_bucket.startswith("gs://"):
            raise ValueError(
                f"Vertex AI connection: staging_bucket {self.staging_bucket!r} must be a gs:// URL"
            )

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def staging(self, pipeline: str, component: str, execution_id: int) -> str:
        """The base output directory of one execution's job."""
        return f"{self.staging_bucket.rstrip('/')}/mlrail/{pipeline}/{component}-{execution_id}"

    @property
    def api_endpoint(self) -> str:
        return f"{self.location}-aiplatform.googleapis.com"


def console_url(job_name: str) -> str:
    """The Cloud console page of a job: ``projects/P/locations/L/<kind>/ID``."""
    parts = job_name.split("/")
    project, location, job_id = parts[1], parts[3], parts[-1]
    return (
        f"{CONSOLE}/locations/{quote(location)}/training/{quote(job_id)}/cpu"
        f"?project={quote(project)}"
    )


def fuse_path(uri: str) -> str:
    """``gs://bucket/path`` as a Vertex AI container sees it: ``/gcs/bucket/path``."""
    if not uri.startswith("gs://"):
        raise ValueError(
            f"{uri} is not on Cloud Storage, so a Vertex AI job cannot read it: set "
            "artifact_root in the mlrail connection to a gs:// URL for backend: vertex"
        )
    return "/gcs/" + uri[len("gs://") :]


def _label(value: str) -> str:
    clean = "".join(c if c.isalnum() or c in "-_" else "-" for c in value.lower())
    return clean[:_LABEL_LIMIT]


def labels(spec: PipelineSpec, component: str, execution_id: int) -> dict[str, str]:
    """Labels that lead from a job in the console back to mlrail's lineage."""
    return {
        "mlrail-pipeline": _label(spec.pipeline),
        "mlrail-component": _label(component),
        "mlrail-execution": str(execution_id),
    }


def _machine(machine_type: str, accelerator_type: str = "", accelerator_count: int = 0):
    from google.cloud import aiplatform_v1 as v

    if not accelerator_count:
        return v.MachineSpec(machine_type=machine_type)
    known = [
        name for name in v.AcceleratorType.__members__ if name != "ACCELERATOR_TYPE_UNSPECIFIED"
    ]
    if accelerator_type not in known:
        raise ValueError(
            f"train.accelerator_type {accelerator_type!r}: expected one of {', '.join(known)}"
        )
    return v.MachineSpec(
        machine_type=machine_type,
        accelerator_type=v.AcceleratorType[accelerator_type],
        accelerator_count=accelerator_count,
    )


def worker_pool_specs(spec: PipelineSpec, command: list[str], args: list[str]) -> list:
    """The pools the spec's strategy asks for (mlrail.training.strategies), chief first."""
    from google.cloud import aiplatform_v1 as v

    train, vertex = spec.train, spec.vertex
    container = v.ContainerSpec(image_uri=vertex.image, command=command, args=args)
    disk = v.DiskSpec(boot_disk_type=vertex.boot_disk_type, boot_disk_size_gb=vertex.boot_disk_gb)
    machine = _machine(vertex.machine_type, train.accelerator_type, train.accelerator_count)

    def pool(replicas: int, machine_spec) -> Any:
        return v.WorkerPoolSpec(
            container_spec=container,
            machine_spec=machine_spec,
            replica_count=replicas,
            disk_spec=disk,
        )

    # Parameter servers hold variables and apply updates: CPU machines, no accelerators.
    machines = {"worker": machine, "ps": _machine(vertex.ps_machine_type or vertex.machine_type)}
    pools = strategy(train.strategy).vertex_pools(train)
    return [pool(p.replicas, machines[p.machine]) for p in pools]


def _job_spec(spec: PipelineSpec, target: VertexTarget, pools: list, staging: str):
    from google.cloud import aiplatform_v1 as v
    from google.protobuf import duration_pb2

    fields: dict[str, Any] = {
        "worker_pool_specs": pools,
        "base_output_directory": v.GcsDestination(output_uri_prefix=staging),
    }
    if target.service_account:
        fields["service_account"] = target.service_account
    if target.network:
        fields["network"] = target.network
    if spec.train.max_minutes:
        # Vertex AI stops the job at the training budget even if Airflow is not watching.
        fields["scheduling"] = v.Scheduling(
            timeout=duration_pb2.Duration(seconds=spec.train.max_minutes * 60)
        )
    return v.CustomJobSpec(**fields)


def custom_job_request(
    spec: PipelineSpec,
    target: VertexTarget,
    *,
    execution_id: int,
    args: list[str],
):
    """The CreateCustomJobRequest for training: ``python -m mlrail.train ARGS`` (the args
    name the artifacts' /gcs/ paths, see mlrail.cloud.jobs)."""
    from google.cloud import aiplatform_v1 as v

    pools = worker_pool_specs(spec, ["python", "-m", "mlrail.train"], args)
    job = v.CustomJob(
        display_name=f"mlrail-{spec.pipeline}-train-{execution_id}",
        job_spec=_job_spec(
            spec, target, pools, target.staging(spec.pipeline, "train", execution_id)
        ),
        labels=labels(spec, "train", execution_id),
    )
    return v.CreateCustomJobRequest(parent=target.parent, custom_job=job)


_SCALES = {
    "linear": "UNIT_LINEAR_SCALE",
    "log": "UNIT_LOG_SCALE",
    "reverse_log": "UNIT_REVERSE_LOG_SCALE",
}


def parameter_spec(entry: dict[str, Any]):
    """One KerasTuner hyperparameter (``HyperParameters.get_config()["space"][i]``) as a
    Vertex AI Vizier ParameterSpec; None for Fixed values, which trials get as defaults."""
    from google.cloud import aiplatform_v1 as v

    kind, config = entry["class_name"], entry["config"]
    ps = v.StudySpec.ParameterSpec
    name = config["name"]
    if kind == "Fixed":
        return None
    if kind == "Float":
        scale = _SCALES.get(config.get("sampling") or "linear", "UNIT_LINEAR_SCALE")
        return ps(
            parameter_id=name,
            double_value_spec=ps.DoubleValueSpec(
                min_value=config["min_value"], max_value=config["max_value"]
            ),
            scale_type=ps.ScaleType[scale],
        )
    if kind == "Int":
        return ps(
            parameter_id=name,
            integer_value_spec=ps.IntegerValueSpec(
                min_value=int(config["min_value"]), max_value=int(config["max_value"])
            ),
            scale_type=ps.ScaleType.UNIT_LINEAR_SCALE,
        )
    if kind == "Boolean":
        return ps(
            parameter_id=name,
            categorical_value_spec=ps.CategoricalValueSpec(values=["False", "True"]),
        )
    if kind == "Choice":
        values = config["values"]
        if all(isinstance(x, int | float) and not isinstance(x, bool) for x in values):
            return ps(
                parameter_id=name, discrete_value_spec=ps.DiscreteValueSpec(values=sorted(values))
            )
        return ps(
            parameter_id=name,
            categorical_value_spec=ps.CategoricalValueSpec(values=[str(x) for x in values]),
        )
    raise ValueError(f"hyperparameter {name!r}: KerasTuner {kind} has no Vertex AI equivalent")


def fixed_values(space: dict[str, Any]) -> dict[str, Any]:
    """The space's Fixed hyperparameters (a narrowed search fixes every choice)."""
    return {
        e["config"]["name"]: e["config"]["value"]
        for e in space["space"]
        if e["class_name"] == "Fixed"
    }


def objective_goal(objective: str) -> str:
    return "MAXIMIZE" if higher_is_better(objective) else "MINIMIZE"


def tuning_job_request(
    spec: PipelineSpec,
    target: VertexTarget,
    *,
    execution_id: int,
    space: dict[str, Any],
    args: list[str],
):
    """The CreateHyperparameterTuningJobRequest: Vizier random search over the module's
    space; each trial runs ``python -m mlrail.trial ARGS --<name>=<value> ...``."""
    from google.cloud import aiplatform_v1 as v

    study = v.StudySpec(
        metrics=[
            v.StudySpec.MetricSpec(
                metric_id=spec.tune_objective,
                goal=v.StudySpec.MetricSpec.GoalType[objective_goal(spec.tune_objective)],
            )
        ],
        parameters=[p for p in map(parameter_spec, space["space"]) if p is not None],
        algorithm=v.StudySpec.Algorithm.RANDOM_SEARCH,
    )
    if not study.parameters:
        raise ValueError(f"{spec.train.module}: hyperparameter_space(hp) defines nothing to search")
    # Trials are short single-machine runs: one pool, whatever the training strategy.
    single = dataclasses.replace(spec, train=dataclasses.replace(spec.train, strategy=DEFAULT))
    pools = worker_pool_specs(single, ["python", "-m", "mlrail.trial"], args)
    job = v.HyperparameterTuningJob(
        display_name=f"mlrail-{spec.pipeline}-tune-{execution_id}",
        study_spec=study,
        max_trial_count=spec.tune.max_trials,
        parallel_trial_count=spec.tune.parallel_trials,
        max_failed_trial_count=spec.vertex.max_failed_trials,
        trial_job_spec=_job_spec(
            spec, target, pools, target.staging(spec.pipeline, "tune", execution_id)
        ),
        labels=labels(spec, "tune", execution_id),
    )
    return v.CreateHyperparameterTuningJobRequest(
        parent=target.parent, hyperparameter_tuning_job=job
    )


def cast_values(space: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """Trial values back in the types the model module declared (Vizier sends numbers as
    floats and categories as strings)."""
    kinds = {e["config"]["name"]: e for e in space["space"]}
    values = {}
    for name, value in raw.items():
        entry = kinds.get(name)
        kind = entry["class_name"] if entry else ""
        if kind == "Int":
            values[name] = int(round(float(value)))
        elif kind == "Float":
            values[name] = float(value)
        elif kind == "Boolean":
            values[name] = str(value) == "True"
        elif kind == "Choice":
            choices = entry["config"]["values"]
            values[name] = next((c for c in choices if str(c) == str(value) or c == value), value)
        else:
            values[name] = value
    return values


def tuning_outcome(job, space: dict[str, Any], objective: str) -> tuple[dict, list[dict]]:
    """The best succeeded trial's values and every trial's values and score."""
    from google.cloud import aiplatform_v1 as v

    trials, best, best_score = [], None, None
    sign = -1.0 if objective_goal(objective) == "MINIMIZE" else 1.0
    for trial in job.trials:
        values = cast_values(space, {p.parameter_id: p.value for p in trial.parameters})
        scores = [m.value for m in trial.final_measurement.metrics if m.metric_id == objective]
        score = scores[0] if scores and trial.state == v.Trial.State.SUCCEEDED else None
        trials.append({"id": trial.id, "values": values, "score": score, "state": trial.state.name})
        if score is not None and (best_score is None or sign * score > sign * best_score):
            best, best_score = values, score
    if best is None:
        raise RuntimeError(
            f"Vertex AI tuning job {job.name} ended without a succeeded trial reporting "
            f"{objective}: {json.dumps(trials)[:2000]}"
        )
    return best, trials
