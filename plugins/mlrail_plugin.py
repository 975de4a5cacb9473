"""Airflow plugin: mlrail's pages in the API server and the extra links on its tasks."""

from airflow.plugins_manager import AirflowPlugin

from mlrail_airflow.links import DataDocsLink, LineageLink, RunSummaryLink
from mlrail_airflow.web import create_app


class MlrailPlugin(AirflowPlugin):
    name = "mlrail"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/mlrail", "name": "mlrail"}]
    operator_extra_links = [RunSummaryLink(), LineageLink(), DataDocsLink()]
