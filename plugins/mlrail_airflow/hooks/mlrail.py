"""MlrailHook: where a deployment keeps artifacts, metadata and pushed models."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from mlrail.store.settings import Settings, data_roots_of


def connection_extra(hook: BaseHook, conn_id: str) -> dict[str, Any] | None:
    """The extra of connection ``conn_id``, in a task or outside one; None if it is absent."""
    try:
        return hook.get_connection(conn_id).extra_dejson
    except AirflowNotFoundException:
        pass
    # Outside a task (the API server, `make demo`) the task SDK has no route to the
    # metadata database; Airflow's own model reads it directly.
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(conn_id).extra_dejson
    except AirflowNotFoundException:
        return None


class MlrailHook(BaseHook):
    """Reads the ``mlrail_default`` connection; its extra holds ``artifact_root``,
    ``metadata_url``, ``serving_root``, ``log_root`` (the model servers' request and
    feedback logs) and ``data_roots`` (the folders and URL prefixes a run's
    ``data_source`` must lie in). Any of them missing (or the connection itself)
    falls back to the ``MLRAIL_*`` environment and then to ``$MLRAIL_HOME`` (for
    ``data_roots``: each spec's project ``data`` folder and the folder of its source)."""

    conn_name_attr = "mlrail_conn_id"
    default_conn_name = "mlrail_default"
    conn_type = "generic"
    hook_name = "mlrail"

    def __init__(self, mlrail_conn_id: str = default_conn_name, **kwargs: Any):
        super().__init__(**kwargs)
        self.mlrail_conn_id = mlrail_conn_id

    def _extra(self) -> dict[str, Any]:
        extra = connection_extra(self, self.mlrail_conn_id)
        if extra is None:
            self.log.warning(
                "connection %s not found; using MLRAIL_* environment", self.mlrail_conn_id
            )
        return extra or {}

    def get_settings(self) -> Settings:
        extra = self._extra()
        return Settings.from_env(
            artifact_root=extra.get("artifact_root"),
            metadata_url=extra.get("metadata_url"),
            serving_root=extra.get("serving_root"),
            log_root=extra.get("log_root"),
            data_roots=data_roots_of(
                extra.get("data_roots"), f"connection {self.mlrail_conn_id}: extra data_roots"
            ),
        )

    def get_env(self):
        from mlrail.store.runner import Env

        return Env.open(self.get_settings())
