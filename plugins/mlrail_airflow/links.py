"""Extra links on mlrail tasks, pointing at the pages of mlrail_airflow.web."""

from __future__ import annotations

from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

from mlrail.store.files import REPORT

PREFIX = "/mlrail"


class RunSummaryLink(BaseOperatorLink):
    """What every stage of this DAG run did: cache hits, verdicts, errors."""

    name = "mlrail run"

    def get_link(self, operator, *, ti_key) -> str:
        return f"{PREFIX}/runs/{quote(ti_key.dag_id)}/{quote(ti_key.run_id, safe='')}"


class DataDocsLink(BaseOperatorLink):
    """Great Expectations Data Docs of this run's validation; works for a failed validation
    too (the anomalies artifact is committed before the task fails)."""

    name = "GX Data Docs"

    def get_link(self, operator, *, ti_key) -> str:
        run = quote(ti_key.run_id, safe="")
        return f"{PREFIX}/runs/{quote(ti_key.dag_id)}/{run}/gx-docs/index.html"


class LineageLink(BaseOperatorLink):
    """The page of the model version this push registered: verdict, lineage, alias moves
    (empty when nothing was pushed)."""

    name = "model version"

    def get_link(self, operator, *, ti_key) -> str:
        # Called by the task runner right after the task, where ti_key is the live task
        # instance and can read the result it just returned.
        result = ti_key.xcom_pull(task_ids=ti_key.task_id) if hasattr(ti_key, "xcom_pull") else None
        if not result or not result.get("pushed"):
            return ""
        return f"{PREFIX}/models/{quote(result['model'], safe='')}/versions/{result['version']}"


class SandboxReportLink(BaseOperatorLink):
    """The sandbox's HTML report: verdict, latency CDFs, latency ratios per turn pair, memory."""

    name = "sandbox report"

    def get_link(self, operator, *, ti_key) -> str:
        result = ti_key.xcom_pull(task_ids=ti_key.task_id) if hasattr(ti_key, "xcom_pull") else None
        blessing = ((result or {}).get("artifacts") or {}).get("infra_blessing")
        if not blessing:
            return ""
        return f"{PREFIX}/artifacts/{blessing['id']}/files/{REPORT.name}"
