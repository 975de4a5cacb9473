"""Pages served by the Airflow API server under ``/mlrail`` (registered by mlrail_plugin).

* ``/mlrail/runs/{dag_id}/{run_id}``: what each stage of a DAG run did (cache hits,
  verdicts, errors), read from the metadata store;
* ``/mlrail/runs/{dag_id}/{run_id}/gx-docs/index.html``: the Great Expectations Data Docs
  of that run's validation, served from the committed anomalies artifact;
* ``/mlrail/lineage/{model}/{version}``: where a model version came from and went.

Add ``?format=json`` for the machine-readable form. The task pages link here through the
operators' extra links.

What the pages require:

* an Airflow login, the same as Airflow's REST API: an ``Authorization: Bearer`` token or
  the UI's ``_token`` cookie (401 without one);
* read access, through Airflow's auth manager, to the runs of the DAG shown (403
  otherwise): the DAG in the path for run pages and Data Docs; for a lineage page, every
  DAG whose executions the report shows (read access to all DAGs when none does).

Stored files (Data Docs, and any report kept in an artifact) are served with
``Content-Security-Policy: sandbox``: the browser gives them an origin of their own and runs
none of their scripts, so HTML smuggled in through data (a column named ``<script>...``)
cannot act on Airflow's API as the person who opened the link. mlrail's own pages allow no
script either, and every response says ``X-Content-Type-Options: nosniff``. A 404 names
what is missing (a run, a file of the Data Docs, a model version), never a server path.
Pages only read the metadata store: they never migrate it and never take its write lock,
so they do not wait behind a task that is writing.
"""

import html
import mimetypes
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mlrail.store.settings import Settings
from mlrail_airflow.data_docs import data_docs_file

if TYPE_CHECKING:
    from mlrail.store.runner import Env

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}pre{{background:#f6f8fa;
padding:1rem;white-space:pre-wrap}}</style></head><body><h1>{title}</h1><pre>{body}</pre>
<p><a href="?format=json">JSON</a></p></body></html>"""

# mlrail's pages are plain HTML with one inline stylesheet.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
# Stored files come from pipeline data: an opaque origin, no scripts, no forms.
STORED_FILE_POLICY = "sandbox"


def server_settings() -> Settings:
    from mlrail_airflow.hooks.mlrail import MlrailHook

    return MlrailHook().get_settings()


@dataclass(frozen=True)
class Access:
    """Who is asking, and whether they may read a DAG's runs.

    ``user`` is a FastAPI dependency that returns the caller, or raises 401 when nobody is
    logged in; ``may_read(user, dag_id)`` says whether the caller may read the runs of
    ``dag_id`` (None: of every DAG).
    """

    user: Callable[..., Any]
    may_read: Callable[[Any, str | None], bool]


_bearer = HTTPBearer(auto_error=False)


async def airflow_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Any:
    """The Airflow user of the Bearer token, else of the ``_token`` cookie (Airflow's rule)."""
    # Imported here, not with the module: every task process imports the plugins (for
    # macros), and the API server's security module takes about a second to import.
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request, _oauth_token=None, bearer_credentials=credentials)


def airflow_may_read(user: Any, dag_id: str | None) -> bool:
    """The auth manager's verdict on reading ``dag_id``'s runs, as Airflow's DAG run
    endpoints ask it (``requires_access_dag("GET", DagAccessEntity.RUN)``)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import (
        DagAccessEntity,
        DagDetails,
    )
    from airflow.models.dag import DagModel

    details = None
    if dag_id is not None:
        details = DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id))
    return get_auth_manager().is_authorized_dag(
        method="GET", access_entity=DagAccessEntity.RUN, details=details, user=user
    )


AIRFLOW_ACCESS = Access(user=airflow_user, may_read=airflow_may_read)


def _respond(title: str, data: dict, text: str, fmt: str):
    if fmt == "json":
        return JSONResponse(content=_jsonable(data))
    return HTMLResponse(PAGE.format(title=html.escape(title), body=html.escape(text)))


def _jsonable(value):
    import json

    return json.loads(json.dumps(value, default=str))


@contextmanager
def _reading(settings: Settings) -> Iterator["Env"]:
    """The stores, with the metadata store opened read-only (no migration, no write lock)."""
    from mlrail.store.artifacts import ArtifactStore
    from mlrail.store.metadata import MetadataStore
    from mlrail.store.runner import Env

    try:
        metadata = MetadataStore(settings.metadata_url, read_only=True)
    except LookupError:
        raise HTTPException(404, "no mlrail metadata recorded yet") from None
    try:
        yield Env(settings, ArtifactStore(settings.artifact_root), metadata)
    finally:
        metadata.close()


def _dags_shown(report: dict[str, Any]) -> set[str | None]:
    """The DAGs whose executions a lineage report shows; {None} (every DAG) if it shows none."""
    executions = [report["training_run"], *report["upstream_executions"], *report["consumers"]]
    return {e["dag_id"] for e in executions if e and e["dag_id"]} or {None}


def create_app(
    settings_factory: Callable[[], Settings] = server_settings,
    access: Access = AIRFLOW_ACCESS,
) -> FastAPI:
    """The ``/mlrail`` app; ``access`` decides who may read what (Airflow's auth manager)."""
    # No /docs or /redoc: their pages load scripts, which the policy below forbids.
    app = FastAPI(title="mlrail", description=__doc__, docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        return response

    # Resolved before a page runs, so nobody logged in gets the 401 before anything is read.
    Caller = Annotated[Any, Depends(access.user)]

    def authorize(user: Any, dag_ids: set[str | None]) -> None:
        if not all(access.may_read(user, dag_id) for dag_id in dag_ids):
            raise HTTPException(403, "Forbidden")

    @app.get("/runs/{dag_id}/{run_id}")
    def run_page(dag_id: str, run_id: str, user: Caller, format: str = "html"):
        from mlrail.store.summary import format_summary, run_summary

        authorize(user, {dag_id})
        with _reading(settings_factory()) as environment:
            try:
                summary = run_summary(environment, f"{dag_id}/{run_id}")
            except (LookupError, ValueError):
                raise HTTPException(
                    404, f"no mlrail executions recorded for {dag_id}/{run_id}"
                ) from None
        return _respond(f"{dag_id} / {run_id}", summary, format_summary(summary), format)

    @app.get("/runs/{dag_id}/{run_id}/gx-docs/{path:path}")
    def data_docs(dag_id: str, run_id: str, path: str, user: Caller):
        authorize(user, {dag_id})
        relative = PurePosixPath(path)
        if relative.is_absolute() or ".." in relative.parts:
            raise HTTPException(400, "path must stay inside the Data Docs")
        with _reading(settings_factory()) as environment:
            content = data_docs_file(environment, f"{dag_id}/{run_id}", relative)
        media = mimetypes.guess_type(relative.name)[0] or "application/octet-stream"
        return Response(
            content, media_type=media, headers={"Content-Security-Policy": STORED_FILE_POLICY}
        )

    @app.get("/lineage/{model}/{version}")
    def lineage_page(model: str, version: int, user: Caller, format: str = "html"):
        from mlrail.store.lineage import format_lineage, model_lineage

        with _reading(settings_factory()) as environment:
            try:
                report = model_lineage(environment, model, version)
            except LookupError:
                # Not the registry's message: it lists the versions that do exist.
                raise HTTPException(404, f"model {model!r} has no version {version}") from None
        authorize(user, _dags_shown(report))
        return _respond(f"{model} v{version}", report, format_lineage(report), format)

    return app
