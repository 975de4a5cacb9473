"""Pages served by the Airflow API server under ``/mlrail`` (registered by mlrail_plugin).

* ``/mlrail/runs/{dag_id}/{run_id}``: what each stage of a DAG run did (cache hits,
  verdicts, errors), read from the metadata store;
* ``/mlrail/runs/{dag_id}/{run_id}/gx-docs/index.html``: the Great Expectations Data Docs
  of that run's validation, served from the committed anomalies artifact;
* ``/mlrail/lineage/{model}/{version}``: where a model version came from and went.

Add ``?format=json`` for the machine-readable form. The task pages link here through the
operators' extra links.
"""

from __future__ import annotations

import html
import mimetypes
from collections.abc import Callable
from pathlib import PurePosixPath

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response

from mlrail.store.settings import Settings

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}pre{{background:#f6f8fa;
padding:1rem;white-space:pre-wrap}}</style></head><body><h1>{title}</h1><pre>{body}</pre>
<p><a href="?format=json">JSON</a></p></body></html>"""


def server_settings() -> Settings:
    from mlrail_airflow.hooks.mlrail import MlrailHook

    return MlrailHook().get_settings()


def _respond(title: str, data: dict, text: str, fmt: str):
    if fmt == "json":
        return JSONResponse(content=_jsonable(data))
    return HTMLResponse(PAGE.format(title=html.escape(title), body=html.escape(text)))


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=str))


def create_app(settings_factory: Callable[[], Settings] = server_settings) -> FastAPI:
    app = FastAPI(title="mlrail", description=__doc__)

    def env():
        from mlrail.store.runner import Env

        return Env.open(settings_factory())

    @app.get("/runs/{dag_id}/{run_id}")
    def run_page(dag_id: str, run_id: str, format: str = "html"):
        from mlrail.store.summary import format_summary, run_summary

        environment = env()
        try:
            summary = run_summary(environment, f"{dag_id}/{run_id}")
        except (LookupError, ValueError) as err:
            raise HTTPException(
                404, f"no mlrail executions recorded for {dag_id}/{run_id}"
            ) from err
        finally:
            environment.metadata.close()
        return _respond(f"{dag_id} / {run_id}", summary, format_summary(summary), format)

    @app.get("/runs/{dag_id}/{run_id}/gx-docs/{path:path}")
    def data_docs(dag_id: str, run_id: str, path: str):
        environment = env()
        try:
            validations = [
                e
                for e in environment.metadata.executions_in_context("dag_run", f"{dag_id}/{run_id}")
                if e.component == "validate" and e.state in ("complete", "cached")
            ]
            if not validations:
                raise HTTPException(404, f"no completed validation in {dag_id}/{run_id}")
            anomalies = environment.metadata.io_of(validations[-1].id, "output")["anomalies"]
            relative = PurePosixPath(path)
            if relative.is_absolute() or ".." in relative.parts:
                raise HTTPException(400, "path must stay inside the Data Docs")
            target = f"gx_docs/{relative}"
            if target not in environment.artifacts.commit_info(anomalies.uri).files:
                raise HTTPException(404, f"{target} is not in {anomalies.uri}")
            content = environment.artifacts.fs.cat_file(f"{anomalies.uri}/{target}")
        finally:
            environment.metadata.close()
        media = mimetypes.guess_type(relative.name)[0] or "application/octet-stream"
        return Response(content, media_type=media)

    @app.get("/lineage/{model}/{version}")
    def lineage_page(model: str, version: int, format: str = "html"):
        from mlrail.store.lineage import format_lineage, model_lineage

        environment = env()
        try:
            report = model_lineage(environment, model, version)
        except LookupError as err:
            raise HTTPException(404, str(err)) from err
        finally:
            environment.metadata.close()
        return _respond(f"{model} v{version}", report, format_lineage(report), format)

    return app
