"""Pages served by the Airflow API server under ``/mlrail`` (registered by mlrail_plugin).

* ``/mlrail/runs/{dag_id}/{run_id}``: what each stage of a DAG run did (cache hits,
  verdicts, errors), read from the metadata store;
* ``/mlrail/lineage/{model}/{version}``: where a model version came from and went.

Add ``?format=json`` for the machine-readable form. The task pages link here through the
operators' extra links.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse

from mlrail.settings import Settings

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
        from mlrail.runner import Env

        return Env.open(settings_factory())

    @app.get("/runs/{dag_id}/{run_id}")
    def run_page(dag_id: str, run_id: str, format: str = "html"):
        from mlrail.summary import format_summary, run_summary

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

    @app.get("/lineage/{model}/{version}")
    def lineage_page(model: str, version: int, format: str = "html"):
        from mlrail.lineage import format_lineage, model_lineage

        environment = env()
        try:
            report = model_lineage(environment, model, version)
        except LookupError as err:
            raise HTTPException(404, str(err)) from err
        finally:
            environment.metadata.close()
        return _respond(f"{model} v{version}", report, format_lineage(report), format)

    return app
