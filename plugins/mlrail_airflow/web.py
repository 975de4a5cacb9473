"""Pages served by the Airflow API server under ``/mlrail`` (registered by mlrail_plugin).

Server-rendered HTML from mlrail's report toolkit (:mod:`mlrail.reports`: Jinja2
templates, one stylesheet, inline SVG charts), each with its JSON twin at ``?format=json``:

* ``/mlrail/models``: every model, its versions, aliases, last training and push, verdict;
* ``/mlrail/models/{model}``: its versions and alias history;
* ``/mlrail/models/{model}/versions/{version}`` (also ``/mlrail/lineage/{model}/{version}``):
  verdict per check, metrics against the blessed model, lineage, pushes, alias moves;
* ``/mlrail/runs/{dag_id}``: the DAG's runs; ``/mlrail/runs/{dag_id}/{run_id}``: its stages;
* ``/mlrail/runs/{dag_id}/{run_id}/gx-docs/index.html``: the Great Expectations Data Docs of
  that run's validation, served from the committed anomalies artifact;
* ``/mlrail/statistics/{artifact_id}``: a dataset version's statistics per feature and
  split, next to its schema and anomalies;
* ``/mlrail/artifacts/{artifact_id}`` and its files.

Airflow's navigation reaches them through the plugin's external views (mlrail_plugin.py);
the task pages link here through the operators' extra links.

What the pages require:

* an Airflow login, the same as Airflow's REST API: an ``Authorization: Bearer`` token or
  the UI's ``_token`` cookie (401 without one);
* read access, through Airflow's auth manager, to the runs of the DAGs whose executions the
  page shows (403 otherwise; read access to every DAG when it shows none). The models list
  shows only the models whose training DAGs the caller may read.

Stored files (Data Docs, and any report kept in an artifact) are served with
``Content-Security-Policy: sandbox``: the browser gives them an origin of their own and runs
none of their scripts, so HTML smuggled in through data (a column named ``<script>...``)
cannot act on Airflow's API as the person who opened the link. mlrail's own pages allow no
script either, and every response says ``X-Content-Type-Options: nosniff``. A 404 names
what is missing (a run, a file, a model version), never a server path, and pages show paths
relative to the artifact root. Pages only read the metadata store: they never migrate it and
never take its write lock, so they do not wait behind a task that is writing.
"""

import mimetypes
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mlrail.store.settings import Settings
from mlrail_airflow.data_docs import data_docs_file

if TYPE_CHECKING:
    from mlrail.store.runner import Env

# mlrail's pages: HTML, the plugin's stylesheet and inline SVG; no script, no form, and
# framed only by Airflow's own UI (its plugin views show pages in an iframe).
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
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


class Links:
    """Where the pages point: mlrail's own pages (under the prefix the API server mounted
    the app at) and Airflow's UI (the same server's root)."""

    def __init__(self, root_path: str):
        self.root = root_path.rstrip("/")  # "/mlrail", or "<base_url path>/mlrail"
        self.airflow = self.root.removesuffix("/mlrail")

    def _page(self, *parts: str | int | None) -> str:
        """The page's URL, or "" for an execution outside any DAG run (no page to link)."""
        if any(p is None for p in parts):
            return ""
        return "/".join([self.root, *(quote(str(p), safe="") for p in parts)])

    def models(self) -> str:
        return self._page("models")

    def model(self, model: str) -> str:
        return self._page("models", model)

    def version(self, model: str, version: int) -> str:
        return self._page("models", model, "versions", version)

    def runs(self, dag_id: str) -> str:
        return self._page("runs", dag_id)

    def run(self, dag_id: str, run_id: str) -> str:
        return self._page("runs", dag_id, run_id)

    def data_docs(self, dag_id: str, run_id: str) -> str:
        return self._page("runs", dag_id, run_id, "gx-docs") + "/index.html"

    def statistics(self, artifact_id: int) -> str:
        return self._page("statistics", artifact_id)

    def artifact(self, artifact_id: int) -> str:
        return self._page("artifacts", artifact_id)

    def artifact_file(self, artifact_id: int, path: str) -> str:
        return self._page("artifacts", artifact_id, "files") + "/" + quote(path)

    def stylesheet(self) -> str:
        return self._page("static", "mlrail.css")

    def airflow_dag(self, dag_id: str | None) -> str:
        return "" if dag_id is None else f"{self.airflow}/dags/{quote(dag_id, safe='')}"

    def airflow_run(self, dag_id: str, run_id: str) -> str:
        return f"{self.airflow_dag(dag_id)}/runs/{quote(run_id, safe='')}"

    def airflow_task(self, dag_id: str, run_id: str, task_id: str, try_number: int | None) -> str:
        if dag_id is None or task_id is None:
            return ""
        url = f"{self.airflow_run(dag_id, run_id)}/tasks/{quote(task_id, safe='')}"
        return f"{url}?try_number={try_number}" if try_number else url


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


def _stored_file(content: bytes, name: str) -> Response:
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(
        content, media_type=media, headers={"Content-Security-Policy": STORED_FILE_POLICY}
    )


def _inside(path: str, what: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts:
        raise HTTPException(400, f"path must stay inside the {what}")
    return relative


class Site:
    """What every route shares: the stores, who may read what, and how a page is made."""

    def __init__(self, settings_factory: Callable[[], Settings], access: Access):
        self.settings_factory, self.access = settings_factory, access

    def reading(self):
        return _reading(self.settings_factory())

    def may_read_all(self, user: Any, dag_ids: Iterable[str | None]) -> bool:
        return all(self.access.may_read(user, dag_id) for dag_id in set(dag_ids) or {None})

    def authorize(self, user: Any, dag_ids: Iterable[str | None]) -> None:
        if not self.may_read_all(user, dag_ids):
            raise HTTPException(403, "Forbidden")

    def page(
        self,
        request: Request,
        user: Any,
        template: str,
        title: str,
        build: Callable[["Env"], dict[str, Any]],
        missing: str,
        crumbs: list[tuple[str, str | None]],
        fmt: str,
        filtered: bool = False,
    ):
        """Build a page's data (404 ``missing`` when the store has none), check the caller
        may read every DAG it shows (unless ``build`` ``filtered`` its rows by what the
        caller may read), and render it (or its JSON twin)."""
        from mlrail.reports import render

        with self.reading() as environment:
            try:
                data = build(environment)
            except LookupError:
                raise HTTPException(404, missing) from None
        if not filtered:
            self.authorize(user, data["dags"])
        if fmt == "json":
            return JSONResponse(content=_jsonable(data))
        links = links_for(request)
        return HTMLResponse(
            render(
                template,
                stylesheet_url=links.stylesheet(),
                urls=links,
                title=title,
                crumbs=[("Models", links.models()), *crumbs],
                json_url="?format=json",
                **data,
            )
        )


def links_for(request: Request) -> Links:
    return Links(request.scope.get("root_path", "") or "/mlrail")


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

    @app.get("/static/mlrail.css")
    def stylesheet():
        from mlrail.reports import stylesheet

        # The same for everybody and nothing private: no login needed (sandboxed Data Docs,
        # which have an opaque origin and so no cookie, use it too).
        return Response(stylesheet(), media_type="text/css")

    site = Site(settings_factory, access)
    # Resolved before a page runs, so nobody logged in gets the 401 before anything is read.
    caller = Annotated[Any, Depends(access.user)]
    _model_pages(app, site, caller)
    _run_pages(app, site, caller)
    _artifact_pages(app, site, caller)
    return app


def _model_pages(app: FastAPI, site: Site, Caller: Any) -> None:
    from mlrail.reports import pages

    @app.get("/models")
    def models(request: Request, user: Caller, format: str = "html"):
        def readable(environment):
            data = pages.models_page(environment)
            shown = [m for m in data["models"] if site.may_read_all(user, m["dags"])]
            return {**data, "models": shown, "dags": sorted({d for m in shown for d in m["dags"]})}

        # Each row is a model the caller may read: no page-wide check.
        return site.page(
            request, user, "models.html", "Models", readable, "", [], format, filtered=True
        )

    @app.get("/models/{model}")
    def model_page(model: str, request: Request, user: Caller, format: str = "html"):
        return site.page(
            request,
            user,
            "model.html",
            model,
            lambda environment: pages.model_page(environment, model),
            f"no model {model!r} in the registry",
            [(model, None)],
            format,
        )

    @app.get("/models/{model}/versions/{version}")
    @app.get("/lineage/{model}/{version}")
    def version_page(
        model: str, version: int, request: Request, user: Caller, format: str = "html"
    ):
        links = links_for(request)
        return site.page(
            request,
            user,
            "version.html",
            f"{model} v{version}",
            lambda environment: pages.version_page(environment, model, version),
            # Not the registry's message: it lists the versions that do exist.
            f"model {model!r} has no version {version}",
            [(model, links.model(model)), (f"v{version}", None)],
            format,
        )


def _run_pages(app: FastAPI, site: Site, Caller: Any) -> None:
    from mlrail.reports import pages

    @app.get("/runs/{dag_id}")
    def runs_page(dag_id: str, request: Request, user: Caller, format: str = "html"):
        site.authorize(user, {dag_id})  # before looking: no oracle for which runs exist
        return site.page(
            request,
            user,
            "runs.html",
            f"Runs of {dag_id}",
            lambda environment: pages.runs_page(environment, dag_id),
            f"no mlrail runs recorded for DAG {dag_id}",
            [(dag_id, None)],
            format,
        )

    @app.get("/runs/{dag_id}/{run_id}")
    def run_page(dag_id: str, run_id: str, request: Request, user: Caller, format: str = "html"):
        site.authorize(user, {dag_id})
        links = links_for(request)
        return site.page(
            request,
            user,
            "run.html",
            f"{dag_id} / {run_id}",
            lambda environment: pages.run_page(environment, dag_id, run_id),
            f"no mlrail executions recorded for {dag_id}/{run_id}",
            [(dag_id, links.runs(dag_id)), (run_id, None)],
            format,
        )

    @app.get("/runs/{dag_id}/{run_id}/gx-docs/{path:path}")
    def data_docs(dag_id: str, run_id: str, path: str, user: Caller):
        site.authorize(user, {dag_id})
        relative = _inside(path, "Data Docs")
        with site.reading() as environment:
            content = data_docs_file(environment, f"{dag_id}/{run_id}", relative)
        return _stored_file(content, relative.name)


def _artifact_pages(app: FastAPI, site: Site, Caller: Any) -> None:
    from mlrail.reports import pages

    @app.get("/statistics/{artifact_id}")
    def statistics_page(artifact_id: int, request: Request, user: Caller, format: str = "html"):
        return site.page(
            request,
            user,
            "statistics.html",
            f"Statistics #{artifact_id}",
            lambda environment: pages.statistics_page(environment, artifact_id),
            f"no statistics artifact #{artifact_id}",
            [(f"statistics #{artifact_id}", None)],
            format,
        )

    @app.get("/artifacts/{artifact_id}")
    def artifact_page(artifact_id: int, request: Request, user: Caller, format: str = "html"):
        return site.page(
            request,
            user,
            "artifact.html",
            f"Artifact #{artifact_id}",
            lambda environment: pages.artifact_page(environment, artifact_id),
            f"no artifact #{artifact_id}",
            [(f"artifact #{artifact_id}", None)],
            format,
        )

    @app.get("/artifacts/{artifact_id}/files/{path:path}")
    def artifact_file(artifact_id: int, path: str, user: Caller):
        relative = _inside(path, "artifact")
        with site.reading() as environment:
            try:
                environment.metadata.get_artifact(artifact_id)  # LookupError: no such id
                site.authorize(user, pages.artifact_dags(environment, artifact_id))
                content = pages.artifact_file(environment, artifact_id, str(relative))
            except LookupError:
                raise HTTPException(
                    404, f"artifact #{artifact_id} has no file {relative}"
                ) from None
        return _stored_file(content, relative.name)
