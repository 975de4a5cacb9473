"""VertexAIHook: the only place mlrail talks to Vertex AI (google-cloud-aiplatform)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from mlrail_airflow.hooks.mlrail import connection_extra

# Per job kind: the JobService methods that create, get and cancel it.
METHODS = {
    "custom_job": (
        "create_custom_job",
        "get_custom_job",
        "cancel_custom_job",
    ),
    "hyperparameter_tuning_job": (
        "create_hyperparameter_tuning_job",
        "get_hyperparameter_tuning_job",
        "cancel_hyperparameter_tuning_job",
    ),
}


class VertexAIHook(BaseHook):
    """Reads the ``mlrail_vertex`` connection (airflow_settings.yaml). Its extra holds
    ``project``, ``location``, ``staging_bucket``, ``service_account`` (the identity jobs
    run as), optionally ``network`` and ``key_path`` (a service-account key file for the
    Airflow side; without it, Application Default Credentials are used)."""

    conn_name_attr = "vertex_conn_id"
    default_conn_name = "mlrail_vertex"
    conn_type = "generic"
    hook_name = "Vertex AI (mlrail)"

    def __init__(self, vertex_conn_id: str = default_conn_name, **kwargs: Any):
        super().__init__(**kwargs)
        self.vertex_conn_id = vertex_conn_id

    def _extra(self) -> dict[str, Any]:
        extra = connection_extra(self, self.vertex_conn_id)
        if extra is None:
            raise ValueError(
                f"connection {self.vertex_conn_id!r} does not exist: backend: vertex needs "
                "it (project, location, staging_bucket, service_account); declare it in "
                "airflow_settings.yaml and run `make airflow-home`, or add it in the UI"
            )
        return extra

    def get_target(self):
        from mlrail.cloud.vertex import VertexTarget

        extra = self._extra()
        fields = ("project", "location", "staging_bucket", "service_account", "network")
        return VertexTarget(**{name: str(extra.get(name) or "") for name in fields})

    def client_arguments(self) -> dict[str, Any]:
        """Endpoint of the connection's region and credentials (reads the connection)."""
        from google.api_core.client_options import ClientOptions

        extra = self._extra()
        arguments: dict[str, Any] = {
            "client_options": ClientOptions(api_endpoint=self.get_target().api_endpoint)
        }
        if extra.get("key_path"):
            from google.oauth2 import service_account

            arguments["credentials"] = service_account.Credentials.from_service_account_file(
                extra["key_path"], scopes=["https://www.googleapis.com/auth/cloud-platform"]
            )
        return arguments

    def get_job_client(self):
        from google.cloud import aiplatform_v1

        return aiplatform_v1.JobServiceClient(**self.client_arguments())

    def get_async_job_client(self, arguments: dict[str, Any] | None = None):
        """The asyncio client; build it inside the event loop that uses it (its channel
        belongs to that loop), from ``client_arguments()`` read beforehand."""
        from google.cloud import aiplatform_v1

        return aiplatform_v1.JobServiceAsyncClient(**(arguments or self.client_arguments()))

    def submit(self, kind: str, request) -> Any:
        """Create the job described by ``request``; returns the job (with its name)."""
        create, _, _ = METHODS[kind]
        return getattr(self.get_job_client(), create)(request=request)

    def get_job(self, kind: str, name: str) -> Any:
        _, get, _ = METHODS[kind]
        return getattr(self.get_job_client(), get)(name=name)

    def cancel(self, kind: str, name: str) -> None:
        """Ask Vertex AI to cancel the job; it ends in JOB_STATE_CANCELLED shortly after."""
        _, _, cancel = METHODS[kind]
        getattr(self.get_job_client(), cancel)(name=name)
        self.log.info("asked Vertex AI to cancel %s", name)
