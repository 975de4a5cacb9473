"""The exact Vertex AI requests mlrail builds from a spec (Google Cloud is not reachable
from here: these objects are what google-cloud-aiplatform would send)."""

import dataclasses

import pytest
from google.cloud import aiplatform_v1 as v
from google.protobuf import duration_pb2

from mlrail.cloud.vertex import (
    VertexTarget,
    cast_values,
    console_url,
    custom_job_request,
    fuse_path,
    tuning_job_request,
    tuning_outcome,
)
from mlrail.spec import SpecError, VertexSpec
from tests.conftest import spec_for

IMAGE = "europe-docker.pkg.dev/acme/mlrail/trainer:1"
TARGET = VertexTarget(
    project="acme",
    location="europe-west4",
    staging_bucket="gs://acme-ml",
    service_account="trainer@acme.iam.gserviceaccount.com",
)
ARGS = ["--strategy", "x", "--model-dir", "/gcs/acme-ml/artifacts/taxi_tips/r/train/7/model"]
DISK = v.DiskSpec(boot_disk_type="pd-ssd", boot_disk_size_gb=100)
TRAIN = v.ContainerSpec(image_uri=IMAGE, command=["python", "-m", "mlrail.train"], args=ARGS)


def vertex_spec(tmp_path, **train):
    spec = spec_for(tmp_path / "d.parquet", backend="vertex", vertex=VertexSpec(image=IMAGE))
    return dataclasses.replace(spec, train=dataclasses.replace(spec.train, **train))


def expected_job(pools, **job_spec):
    return v.CreateCustomJobRequest(
        parent="projects/acme/locations/europe-west4",
        custom_job=v.CustomJob(
            display_name="mlrail-taxi_tips-train-7",
            labels={
                "mlrail-pipeline": "taxi_tips",
                "mlrail-component": "train",
                "mlrail-execution": "7",
            },
            job_spec=v.CustomJobSpec(
                worker_pool_specs=pools,
                service_account="trainer@acme.iam.gserviceaccount.com",
                base_output_directory=v.GcsDestination(
                    output_uri_prefix="gs://acme-ml/mlrail/taxi_tips/train-7"
                ),
                **job_spec,
            ),
        ),
    )


def pool(replicas, machine, container=TRAIN):
    return v.WorkerPoolSpec(
        container_spec=container, machine_spec=machine, replica_count=replicas, disk_spec=DISK
    )


def build(spec):
    return custom_job_request(spec, TARGET, execution_id=7, args=ARGS)


def test_single_machine_job(tmp_path):
    request = build(vertex_spec(tmp_path))
    assert request == expected_job([pool(1, v.MachineSpec(machine_type="n1-standard-4"))])


def test_multi_worker_job_with_accelerators_and_a_budget(tmp_path):
    spec = vertex_spec(
        tmp_path,
        strategy="multi_worker",
        workers=3,
        accelerator_type="NVIDIA_TESLA_T4",
        accelerator_count=2,
        max_minutes=90,
    )
    gpu = v.MachineSpec(
        machine_type="n1-standard-4",
        accelerator_type=v.AcceleratorType.NVIDIA_TESLA_T4,
        accelerator_count=2,
    )
    # Vertex AI's chief is worker 0 of MultiWorkerMirroredStrategy: 1 + 2 replicas.
    assert build(spec) == expected_job(
        [pool(1, gpu), pool(2, gpu)],
        scheduling=v.Scheduling(timeout=duration_pb2.Duration(seconds=5400)),
    )


def test_parameter_server_job(tmp_path):
    spec = vertex_spec(tmp_path, strategy="parameter_server", workers=2, parameter_servers=1)
    spec = dataclasses.replace(
        spec, vertex=dataclasses.replace(spec.vertex, ps_machine_type="n1-highmem-2")
    )
    cpu = v.MachineSpec(machine_type="n1-standard-4")
    assert build(spec) == expected_job(
        [pool(1, cpu), pool(2, cpu), pool(1, v.MachineSpec(machine_type="n1-highmem-2"))]
    )


def test_unknown_accelerator_is_named(tmp_path):
    spec = vertex_spec(tmp_path, accelerator_type="NVIDIA_TESLA_X", accelerator_count=1)
    with pytest.raises(
        ValueError, match="train.accelerator_type 'NVIDIA_TESLA_X'.*NVIDIA_TESLA_T4"
    ):
        build(spec)


def test_jobs_only_read_cloud_storage():
    assert fuse_path("gs://acme-ml/a/b.parquet") == "/gcs/acme-ml/a/b.parquet"
    with pytest.raises(ValueError, match="/tmp/artifacts is not on Cloud Storage.*gs://"):
        fuse_path("/tmp/artifacts")


def test_spec_refuses_vertex_without_image_or_with_hyperband(tmp_path):
    with pytest.raises(SpecError, match="vertex.image"):
        spec_for(tmp_path / "d.parquet", backend="vertex")
    spec = vertex_spec(tmp_path)
    tune = dataclasses.replace(spec.tune, enabled=True, algorithm="hyperband")
    with pytest.raises(SpecError, match="tune.algorithm.*hyperband"):
        dataclasses.replace(spec, tune=tune)


def test_target_names_the_missing_connection_field():
    with pytest.raises(ValueError, match="'project' is empty.*mlrail_vertex"):
        VertexTarget(project="", location="us-central1", staging_bucket="gs://b")
    with pytest.raises(ValueError, match="'staging_bucket' is empty"):
        VertexTarget(project="p", location="us-central1")
    with pytest.raises(ValueError, match="staging_bucket '/tmp/b' must be a gs:// URL"):
        VertexTarget(project="p", location="us-central1", staging_bucket="/tmp/b")


def test_console_url():
    url = console_url("projects/acme/locations/europe-west4/customJobs/123")
    assert url == (
        "https://console.cloud.google.com/vertex-ai/locations/europe-west4/training/123/cpu"
        "?project=acme"
    )


SPACE = {
    "space": [
        {
            "class_name": "Float",
            "config": {
                "name": "learning_rate",
                "min_value": 1e-4,
                "max_value": 0.03,
                "sampling": "log",
                "step": None,
                "default": 1e-4,
                "conditions": [],
            },
        },
        {
            "class_name": "Choice",
            "config": {
                "name": "hidden_units",
                "values": ["64,32", "32"],
                "ordered": False,
                "default": "64,32",
                "conditions": [],
            },
        },
        {
            "class_name": "Int",
            "config": {
                "name": "layers",
                "min_value": 1,
                "max_value": 4,
                "step": 1,
                "sampling": "linear",
                "default": 1,
                "conditions": [],
            },
        },
        {"class_name": "Fixed", "config": {"name": "dropout", "value": 0.1, "conditions": []}},
    ],
    "values": {},
}


def test_tuning_job(tmp_path):
    spec = vertex_spec(tmp_path)
    spec = dataclasses.replace(
        spec, tune=dataclasses.replace(spec.tune, enabled=True, max_trials=8, parallel_trials=2)
    )
    args = ["--objective", "val_auc"]
    request = tuning_job_request(spec, TARGET, execution_id=7, space=SPACE, args=args)
    ps = v.StudySpec.ParameterSpec
    trial = v.ContainerSpec(image_uri=IMAGE, command=["python", "-m", "mlrail.trial"], args=args)
    assert request == v.CreateHyperparameterTuningJobRequest(
        parent="projects/acme/locations/europe-west4",
        hyperparameter_tuning_job=v.HyperparameterTuningJob(
            display_name="mlrail-taxi_tips-tune-7",
            study_spec=v.StudySpec(
                metrics=[
                    v.StudySpec.MetricSpec(
                        metric_id="val_auc", goal=v.StudySpec.MetricSpec.GoalType.MAXIMIZE
                    )
                ],
                parameters=[
                    ps(
                        parameter_id="learning_rate",
                        double_value_spec=ps.DoubleValueSpec(min_value=1e-4, max_value=0.03),
                        scale_type=ps.ScaleType.UNIT_LOG_SCALE,
                    ),
                    ps(
                        parameter_id="hidden_units",
                        categorical_value_spec=ps.CategoricalValueSpec(values=["64,32", "32"]),
                    ),
                    ps(
                        parameter_id="layers",
                        integer_value_spec=ps.IntegerValueSpec(min_value=1, max_value=4),
                        scale_type=ps.ScaleType.UNIT_LINEAR_SCALE,
                    ),
                ],
                algorithm=v.StudySpec.Algorithm.RANDOM_SEARCH,
            ),
            max_trial_count=8,
            parallel_trial_count=2,
            trial_job_spec=v.CustomJobSpec(
                worker_pool_specs=[pool(1, v.MachineSpec(machine_type="n1-standard-4"), trial)],
                service_account="trainer@acme.iam.gserviceaccount.com",
                base_output_directory=v.GcsDestination(
                    output_uri_prefix="gs://acme-ml/mlrail/taxi_tips/tune-7"
                ),
            ),
            labels={
                "mlrail-pipeline": "taxi_tips",
                "mlrail-component": "tune",
                "mlrail-execution": "7",
            },
        ),
    )


def test_best_trial_in_the_module_types():
    def trial(number, state, score, lr, layers):
        return v.Trial(
            id=str(number),
            state=state,
            parameters=[
                v.Trial.Parameter(parameter_id="learning_rate", value=lr),
                v.Trial.Parameter(parameter_id="layers", value=float(layers)),
                v.Trial.Parameter(parameter_id="hidden_units", value="32"),
            ],
            final_measurement=v.Measurement(
                metrics=[v.Measurement.Metric(metric_id="val_auc", value=score)]
            ),
        )

    done, failed = v.Trial.State.SUCCEEDED, v.Trial.State.INFEASIBLE
    job = v.HyperparameterTuningJob(
        name="projects/acme/locations/l/hyperparameterTuningJobs/5",
        trials=[
            trial(1, done, 0.7, 0.01, 2),
            trial(2, done, 0.9, 0.001, 3),
            trial(3, failed, 0.99, 0.1, 1),
        ],
    )
    best, trials = tuning_outcome(job, SPACE, "val_auc")
    assert best == {"learning_rate": 0.001, "layers": 3, "hidden_units": "32"}
    assert isinstance(best["layers"], int)
    assert [t["score"] for t in trials] == [0.7, 0.9, None]
    assert cast_values(SPACE, {"hidden_units": "64,32"}) == {"hidden_units": "64,32"}
