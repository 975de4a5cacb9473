"""Airflow plugin: mlrail's pages in the API server, in Airflow's navigation, and the extra
links on its tasks.

The pages (mlrail_airflow.web) are mounted at ``/mlrail``. Airflow 3's UI shows external
views inside its own frame: "Models" in the navigation bar, an "mlrail" tab on every DAG
(its runs) and on every DAG run (its stages); the ``{DAG_ID}`` and ``{RUN_ID}`` in an
``href`` are filled in by the UI.
"""

from airflow.plugins_manager import AirflowPlugin

from mlrail_airflow.links import DataDocsLink, LineageLink, RunSummaryLink
from mlrail_airflow.web import create_app

EXTERNAL_VIEWS = [
    {
        "name": "Models",
        "href": "/mlrail/models",
        "destination": "nav",
        "url_route": "mlrail-models",
        "nav_top_level": True,
    },
    # A tab needs a url_route (the UI shows it at .../plugin/<url_route>); routes are unique
    # across every plugin of the deployment.
    {
        "name": "mlrail runs",
        "href": "/mlrail/runs/{DAG_ID}",
        "destination": "dag",
        "url_route": "mlrail-runs",
    },
    {
        "name": "mlrail run",
        "href": "/mlrail/runs/{DAG_ID}/{RUN_ID}",
        "destination": "dag_run",
        "url_route": "mlrail-run",
    },
]


class MlrailPlugin(AirflowPlugin):
    name = "mlrail"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/mlrail", "name": "mlrail"}]
    external_views = EXTERNAL_VIEWS
    operator_extra_links = [RunSummaryLink(), LineageLink(), DataDocsLink()]
