"""The ASGI app: TF Serving's REST API, Vertex AI's routes, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from mlrail.data.serving_logs import valid_request_id
from mlrail.serving.batching import Batcher
from mlrail.serving.config import ServerConfig
from mlrail.serving.metrics import CONTENT_TYPE, ServerMetrics
from mlrail.serving.model import SIGNATURE, LoadedVersion
from mlrail.serving.payload import (
    InputError,
    answer,
    clip,
    parse_json,
    parse_request,
    prediction_rows,
)
from mlrail.serving.repository import LoadFailure, ModelRepository, Registry
from mlrail.serving.router import Router

access_log = logging.getLogger("mlrail.serving.access")
log = logging.getLogger(__name__)
REQUEST_ID = "X-Request-ID"
# nginx's code for a client that closed the connection before its answer: not a server
# error, and nobody reads the answer.
CLIENT_CLOSED = 499
FEEDBACK_MAX_BYTES = 64 * 1024  # a request id, a label and a reward fit many times over


class RequestLogSink(Protocol):
    """What the app needs of a request log (mlrail.serving.requestlog.RequestLog); the app
    sets ``on_drop`` to count rows the log could not write."""

    on_drop: Any

    def append(self, rows: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class FeedbackSink(Protocol):
    """What the app needs of a feedback log (mlrail.serving.requestlog.FeedbackLog): append
    raises a ValueError with ``.field`` (RecordError) for invalid feedback."""

    def append(self, request_id: str, label: Any = None, reward: float | None = None) -> None: ...

    def close(self) -> None: ...


class Server:
    """State shared by the routes of one process."""

    def __init__(
        self,
        config: ServerConfig,
        request_log: RequestLogSink | None,
        feedback_log: FeedbackSink | None = None,
    ):
        self.config, self.request_log, self.feedback_log = config, request_log, feedback_log
        registry = Registry(config.metadata_url, config.artifact_root, config.schema_file)
        self.repository = ModelRepository(
            config.model, config.serving_root, registry, config.poll_seconds
        )
        self.router = Router(self.repository)
        self.metrics = ServerMetrics()
        self.batchers: dict[int, tuple[LoadedVersion, Batcher]] = {}
        for kind, sink in (("requests", request_log), ("feedback", feedback_log)):
            if sink is not None and hasattr(sink, "on_drop"):
                sink.on_drop = functools.partial(self._count_dropped, kind)

    def _count_dropped(self, kind: str, count: int, reason: str = "") -> None:
        self.metrics.log_rows_dropped.labels(self.config.model, kind).inc(count)

    def batcher(self, loaded: LoadedVersion) -> Batcher:
        held = self.batchers.get(loaded.version)
        if held is None or held[0] is not loaded:  # a version removed and pushed again
            call = functools.partial(self._model_call, loaded)
            batcher = Batcher(call, self.config.max_batch_size, self.config.batch_timeout_micros)
            held = self.batchers[loaded.version] = (loaded, batcher)
        return held[1]

    def _model_call(self, loaded: LoadedVersion, columns):
        outputs = loaded.predict(columns)
        self.metrics.model_calls.labels(loaded.model, str(loaded.version)).inc()
        return outputs

    def log_rows(self, request_id: str, route, parsed, predictions, latency_ms: float) -> None:
        if self.request_log is None:
            return
        base = {
            "request_id": request_id,
            "ts": datetime.now(UTC),
            "version": route.version.version,
            "arm": route.arm,
            "latency_ms": latency_ms,
        }
        rows = [
            {**base, "features": _loggable(features), "prediction": prediction}
            for features, prediction in zip(parsed.rows, predictions, strict=True)
        ]
        try:
            self.request_log.append(rows)
        except Exception:  # a row the log refuses must not turn an answer into an error
            log.exception("request log append failed")
            self._count_dropped("requests", len(rows))

    def close(self) -> None:
        """Stop polling and batching, then flush the logs: each step runs whatever the one
        before it raised, so a failing step never costs the buffered log rows."""
        steps = [self.repository.stop, *(b.close for _, b in self.batchers.values())]
        steps += [sink.close for sink in (self.request_log, self.feedback_log) if sink]
        for step in steps:
            try:
                step()
            except Exception:
                log.exception("a shutdown step failed; the others still run")


def _loggable(features: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v
        for k, v in features.items()
    }


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, refused with a 413 as soon as it is over ``limit`` (declared or sent), a
    408 (and the connection closed) when it is not whole within ``timeout`` seconds, and
    a 499 when the client hangs up before it is."""
    declared = request.headers.get("content-length", "")
    too_big = f"the request body is over the limit of {limit} bytes"
    if declared.isdigit() and int(declared) > limit:
        raise InputError(too_big, 413)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise InputError(too_big, 413)
                chunks.append(chunk)
    except TimeoutError:
        raise InputError(
            f"the request body did not arrive within {timeout:g} s ({size} bytes came)",
            408,
            headers={"Connection": "close"},
        ) from None
    except ClientDisconnect:
        raise InputError(
            "the client closed the connection before sending the whole body", CLIENT_CLOSED
        ) from None
    return b"".join(chunks)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _status(
    loaded: list[LoadedVersion], failed: dict[int, LoadFailure] | None = None
) -> dict[str, Any]:
    """TF Serving's model status; a version that failed to load and is being retried is
    LOADING with its error, as TF Serving shows a version it could not load."""
    ok = {"error_code": "OK", "error_message": ""}
    states = {v.version: ("AVAILABLE", ok) for v in loaded}
    for version, failure in (failed or {}).items():
        states[version] = ("LOADING", {"error_code": "UNKNOWN", "error_message": failure.message()})
    return {
        "model_version_status": [
            {"version": str(v), "state": state, "status": status}
            for v, (state, status) in sorted(states.items())
        ]
    }


def _not_a_get(*parts: str | None) -> None:
    """``GET .../versions/1:predict`` reaches a status route (its last part is taken as
    the version): it is the predict resource, asked with the wrong method."""
    if any(part and part.endswith(":predict") for part in parts):
        raise InputError("predict takes POST, not GET", 405, headers={"Allow": "POST"})


def _metadata(loaded: LoadedVersion) -> dict[str, Any]:
    return {
        "model_spec": {"name": loaded.model, "signature_name": "", "version": str(loaded.version)},
        "metadata": {"signature_def": {"signature_def": {SIGNATURE: loaded.signature_def()}}},
        "schema": {
            "features": [
                {"name": f["name"], "type": f["type"], "role": f.get("role", "unknown")}
                for f in loaded.schema["features"]
            ]
        },
    }


def create_app(
    config: ServerConfig,
    request_log: RequestLogSink | None = None,
    feedback_log: FeedbackSink | None = None,
) -> FastAPI:
    """The app serving ``config.model``; ``request_log`` gets one row per instance,
    ``feedback_log`` what ``POST /v1/models/{name}/feedback`` sends."""
    server = Server(config, request_log, feedback_log)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Load before accepting requests: uvicorn's workers share one socket, so a worker
        # that accepted while still loading would answer 503 next to a ready one.
        await asyncio.to_thread(server.repository.start)
        try:
            yield
        finally:
            server.close()

    app = FastAPI(title="mlrail model server", lifespan=lifespan)
    app.state.server = server
    _install_handlers(app)
    app.add_middleware(RequestIdAndAccessLog, server=server)
    _add_routes(app, server)
    _add_feedback_route(app, server)
    _add_service_routes(app, server)
    return app


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(InputError)
    async def input_error(request: Request, err: InputError):
        return _error(err.status, str(err), err.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        return _error(err.status_code, str(err.detail))

    @app.exception_handler(Exception)
    async def server_error(request: Request, err: Exception):
        # Only a fault of the server (a model that cannot run) gets here, never bad input.
        log.exception("request failed")
        return _error(500, f"the server failed to answer: {type(err).__name__}: {err}")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError):
        return _error(400, "; ".join(str(e.get("msg")) for e in err.errors()))


class RequestIdAndAccessLog:
    """Every request gets an id (the client's ``X-Request-ID``, else a new one) that its
    answer carries back, a metrics sample and one JSON access-log line.

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` wraps every request in
    extra tasks and streams, measured at 0.33 ms a request and a fifth of the throughput
    at 32 clients (benchmarks/serving/run.py); this costs a few hundredths of that."""

    def __init__(self, app, server: Server):
        self.app, self.server = app, server

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID.lower().encode())
        request_id = given.decode("latin-1") if given else ""
        if not valid_request_id(request_id):
            # Absent, over 128 characters or not printable ASCII: a new id, which the
            # answer's header carries back, rather than kilobytes in every log row.
            request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})  # what routes read as request.state
        state.update(request_id=request_id, version="")
        status = 500  # an exception no handler answered: the server's error middleware does

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                header = (REQUEST_ID.encode(), request_id.encode("latin-1"))
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, state, status, time.perf_counter() - started)

    def _record(self, scope, state: dict, status: int, seconds: float) -> None:
        # The router has put the route's path parameters into the scope by now.
        model = scope.get("path_params", {}).get("name", "")
        path = scope["path"]
        if path.startswith("/v1/models") or state["version"]:
            # Any other name is one label value: clients must not mint time series.
            served = self.server.config.model
            label = served if model in ("", served) else "other"
            self.server.metrics.record(label, state["version"], status, seconds)
        access_log.info(
            json.dumps(
                {
                    "ts": datetime.now(UTC).isoformat(),
                    "request_id": state["request_id"],
                    "method": scope["method"],
                    "path": clip(path, 200),
                    "status": status,
                    "latency_ms": round(seconds * 1000, 3),
                    "model": clip(model),
                    "version": state["version"],
                }
            )
        )


async def _predict(
    server: Server, request: Request, name: str, version=None, label=None
) -> JSONResponse:
    started = time.perf_counter()
    config = server.config
    body = parse_json(await read_body(request, config.max_body_bytes, config.body_timeout_seconds))
    route = server.router.choose(name, version, label, request.state.request_id)
    request.state.version = str(route.version.version)
    parsed = parse_request(body, route.version)
    outputs = await server.batcher(route.version).submit(parsed.columns, parsed.size)
    predictions = prediction_rows(outputs, parsed.size)
    latency_ms = (time.perf_counter() - started) * 1000
    server.metrics.rows.labels(name, request.state.version).inc(parsed.size)
    server.log_rows(request.state.request_id, route, parsed, predictions, latency_ms)
    return JSONResponse(answer(parsed.form, predictions))


def _model_status(server: Server, name: str) -> dict[str, Any]:
    _not_a_get(name)
    repo = server.repository
    loaded, failed = repo.versions, repo.failed
    if name != repo.model or not failed:
        server.router.resolve(name)  # 404 for another model, 503 before anything loaded
    return _status([loaded[v] for v in sorted(loaded)], failed)


def _version_status(server: Server, name: str, version: str) -> dict[str, Any]:
    _not_a_get(version)
    failed = server.repository.failed
    # As the router reads a version: ASCII digits, short enough for int() (4,300 digits).
    number = int(version) if version.isascii() and version.isdigit() and len(version) <= 18 else -1
    if name == server.repository.model and number in failed:
        return _status([], {number: failed[number]})
    return _status([server.router.resolve(name, version=version)])


def _add_routes(app: FastAPI, server: Server) -> None:
    """TF Serving's REST API: status, metadata and predict, by latest, version or label."""
    router = server.router

    @app.get("/v1/models/{name}")
    async def model_status(name: str):
        return _model_status(server, name)

    @app.get("/v1/models/{name}/versions/{version}")
    async def version_status(name: str, version: str):
        return _version_status(server, name, version)

    @app.get("/v1/models/{name}/labels/{label}")
    async def label_status(name: str, label: str):
        _not_a_get(label)
        return _status([router.resolve(name, label=label)])

    @app.get("/v1/models/{name}/metadata")
    async def model_metadata(name: str):
        return _metadata(router.resolve(name))

    @app.get("/v1/models/{name}/versions/{version}/metadata")
    async def version_metadata(name: str, version: str):
        return _metadata(router.resolve(name, version=version))

    @app.get("/v1/models/{name}/labels/{label}/metadata")
    async def label_metadata(name: str, label: str):
        return _metadata(router.resolve(name, label=label))

    @app.post("/v1/models/{name}:predict")
    async def predict_latest(name: str, request: Request):
        return await _predict(server, request, name)

    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def predict_version(name: str, version: str, request: Request):
        return await _predict(server, request, name, version=version)

    @app.post("/v1/models/{name}/labels/{label}:predict")
    async def predict_label(name: str, label: str, request: Request):
        return await _predict(server, request, name, label=label)


FEEDBACK_FIELDS = ("request_id", "label", "reward")


def _add_feedback_route(app: FastAPI, server: Server) -> None:
    """DESIGN.md's feedback: a label and/or a reward for a request id the server answered."""

    @app.post("/v1/models/{name}/feedback")
    async def feedback(name: str, request: Request):
        served = server.config.model
        if name != served:
            raise InputError(
                f"model {clip(name)!r} is not served here (this server serves {served!r})", 404
            )
        if server.feedback_log is None:
            raise InputError(f"this server keeps no feedback log for model {name!r}", 404)
        limit = min(FEEDBACK_MAX_BYTES, server.config.max_body_bytes)
        body = parse_json(await read_body(request, limit, server.config.body_timeout_seconds))
        unknown = sorted(set(body) - set(FEEDBACK_FIELDS))
        if unknown:
            raise InputError(
                f"{clip(unknown[0])}: not a feedback field (send {list(FEEDBACK_FIELDS)})"
            )
        try:
            server.feedback_log.append(
                body.get("request_id"), label=body.get("label"), reward=body.get("reward")
            )
        except ValueError as err:  # RecordError: its message starts with the field
            raise InputError(str(err)) from None
        return {"request_id": body["request_id"]}


def _add_service_routes(app: FastAPI, server: Server) -> None:
    """Vertex AI's predict and health routes, liveness, readiness and metrics."""
    repo = server.repository

    async def vertex_predict(request: Request):
        # Vertex sends {"instances": [...], "parameters": {...}}: the answer is predictions.
        return await _predict(server, request, server.config.model)

    async def ready():
        if not repo.versions:
            return _error(503, f"model {server.config.model!r} has no version loaded yet")
        return {"status": "ready", "versions": sorted(repo.versions)}

    app.add_api_route(server.config.predict_route, vertex_predict, methods=["POST"])
    app.add_api_route("/readyz", ready, methods=["GET"])
    if server.config.health_route != "/readyz":
        app.add_api_route(server.config.health_route, ready, methods=["GET"])

    @app.get("/healthz")
    async def alive():
        return {"status": "alive"}

    @app.get("/metrics")
    async def metrics():
        return Response(server.metrics.render(), media_type=CONTENT_TYPE)
