"""The HTTP API: FastAPI routes, request and response models, limits, the bearer token and metrics.

    POST /v1/extract  {"model": NAME, "texts": [...]} -> {"model": NAME, "results": [one prediction per text]}
    GET  /v1/models   the models served         GET /healthz  alive            GET /readyz  200 once all are ready
    GET  /metrics     Prometheus text format    GET /docs     OpenAPI (Swagger UI)

Each result is exactly the object ``infer_*.py --json`` prints for that text (``small_lm.io``), with
``"source": {"file": "<request>", "index": i}``.  Nothing here holds state a client depends on between requests, so
capacity scales out by running more replicas behind any load balancer.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.config import ModelSpec, ServerSettings, load_served
from serving.metrics import Metrics
from serving.worker import ModelWorker, QueueFull

log = logging.getLogger("serving")
KNOWN_PATHS = {"/v1/extract", "/v1/models", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"}

# --- Request and response bodies -------------------------------------------------------------------------------------


class ExtractRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model": "bert-mix-2000-seed1", "texts": ["Can we meet Friday at 3pm?"]}]},
    )
    model: str | None = Field(None, description="a served model's name (GET /v1/models); optional if only one")
    texts: list[str] = Field(
        min_length=1, description="emails or messages; a raw message with its header block is read as one"
    )


class Entity(BaseModel):
    model_config = ConfigDict(extra="allow")  # whatever the families add later passes through unchanged
    type: str
    text: str
    start: int = Field(description="offset into the result's text")
    end: int
    score: float | None


class Prediction(BaseModel):
    """One text's result, as ``infer_*.py --json`` prints it; ``error`` and ``warning`` appear only when set."""

    model_config = ConfigDict(extra="allow")
    text: str
    intent: str | None
    intent_score: float | None
    entities: list[Entity]
    error: str | None = Field(None, description="the text could not be read, or the model failed on it")
    warning: str | None = None
    source: dict[str, Any] = Field(description='{"file": "<request>", "index": i}: the text\'s place in the request')


class ExtractResponse(BaseModel):
    model: str
    results: list[Prediction]


class ModelInfo(BaseModel):
    name: str
    family: str
    ready: bool
    max_batch_size: int
    backend: str | None = Field(None, description="joint model: torch, onnx or onnx-int8")
    intents: list[str] | None = None
    entity_types: list[str] | None = None


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class Detail(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Detail, "description": "missing or wrong bearer token (when SMALL_LM_API_KEY is set)"},
    404: {"model": Detail, "description": "no model of that name"},
    413: {"model": Detail, "description": "too many texts (--max-texts), a text too long (--max-chars)"},
    422: {"model": Detail, "description": "malformed body"},
    503: {"model": Detail, "description": "queue full (--max-queue), model loading, or shutting down; see Retry-After"},
    504: {"model": Detail, "description": "no answer within --request-timeout"},
}  # fmt: skip

# --- The models and their workers ------------------------------------------------------------------------------------


class Service:
    """The workers of every served model, and whether the server is shutting down."""

    def __init__(
        self,
        specs: list[ModelSpec],
        settings: ServerSettings,
        load: Callable[[ModelSpec, ServerSettings], Any],
        on_load_error: Callable[[str, str], None] | None,
    ) -> None:
        names = [spec.name for spec in specs]
        if not specs or len(set(names)) != len(names):
            raise ValueError(f"need one or more models with distinct names, got {names} (use NAME=DIR)")
        self.settings, self.specs, self.metrics = settings, {s.name: s for s in specs}, Metrics()
        self.draining = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.workers = {
            spec.name: ModelWorker(
                spec.name,
                lambda spec=spec: load(spec, settings),
                max_batch_size=settings.batch_size(spec.family),
                max_wait_s=settings.max_wait_ms / 1000,
                max_queue=settings.max_queue,
                metrics=self.metrics,
                on_load_error=on_load_error,
            )
            for spec in specs
        }

    @property
    def ready(self) -> bool:
        return not self.draining and all(w.ready for w in self.workers.values())

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for worker in self.workers.values():
            worker.start()

    def begin_drain(self) -> None:
        """Refuse new work from now on (503, and /readyz says no); queued texts still run, without waiting."""
        self.draining = True
        for worker in self.workers.values():
            worker.begin_drain()

    def begin_drain_threadsafe(self) -> None:
        """For a signal handler: schedules ``begin_drain`` on the server's event loop."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.begin_drain)

    async def shutdown(self) -> None:
        self.begin_drain()
        await asyncio.gather(*(w.drain() for w in self.workers.values()))
        await asyncio.gather(*(w.stop() for w in self.workers.values()))
        log.info("drained: every accepted text was answered")

    def pick(self, name: str | None) -> ModelWorker:
        if name is None:
            if len(self.workers) == 1:
                return next(iter(self.workers.values()))
            raise HTTPException(422, f'several models are served ({", ".join(self.workers)}): name one in "model"')
        if name not in self.workers:
            raise HTTPException(404, f"no model named {name!r}; served: {', '.join(self.workers)}")
        return self.workers[name]


async def _client_gone(request: Request) -> None:
    """Return when the client disconnects.  The body has been read by now, so the next ASGI message is the
    disconnect (uvicorn holds it back until then)."""
    while (await request.receive())["type"] != "http.disconnect":
        await asyncio.sleep(0.01)


async def _results(request: Request, worker: ModelWorker, futures: list[asyncio.Future], timeout: float) -> list | None:
    """The texts' results; None if the client went away; HTTPException 504 past ``timeout``.  A request that gives
    up takes its waiting texts off the queue, so they neither hold places nor cost model time."""
    answers = asyncio.gather(*futures)
    gone = asyncio.create_task(_client_gone(request))
    try:
        done, _ = await asyncio.wait({answers, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the server gave up on this request (graceful-shutdown timeout)
        worker.withdraw(futures)
        raise
    finally:
        gone.cancel()
    if answers in done:
        return answers.result()
    worker.withdraw(futures)
    if gone in done:
        return None
    raise HTTPException(504, f"no answer within {timeout:g} s (--request-timeout)")


# --- Middleware: metrics, the token and the body limit, before anything reads the body ------------------------------


class Gate:
    """A plain ASGI middleware (Starlette's BaseHTTPMiddleware would hide client disconnects from the handler)."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500  # if the app fails before it answers

        async def send_and_count(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = self.refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send_and_count)
            else:
                await self.app(scope, receive, send_and_count)
        finally:
            path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"  # bounded label values
            self.service.metrics.http_requests.labels(path, str(status)).inc()

    def refusal(self, scope: Scope) -> Response | None:
        settings = self.service.settings
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if settings.api_key is not None and scope["path"].startswith("/v1/"):
            scheme, _, token = headers.get("authorization", "").partition(" ")
            # Constant-time comparison, so response timing says nothing about how much of a guess was right.
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), settings.api_key.encode()):
                return JSONResponse(
                    {"detail": "missing or wrong bearer token (Authorization: Bearer $SMALL_LM_API_KEY)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > settings.max_body_bytes():
            return JSONResponse(
                {"detail": f"request body of {length} bytes is larger than any allowed request "
                           f"(--max-texts {settings.max_texts} of --max-chars {settings.max_chars})"},
                status_code=413,
            )  # fmt: skip
        return None


# --- The app ---------------------------------------------------------------------------------------------------------


def create_app(
    specs: list[ModelSpec],
    settings: ServerSettings,
    load: Callable[[ModelSpec, ServerSettings], Any] = load_served,
    on_load_error: Callable[[str, str], None] | None = None,
) -> FastAPI:
    """The server for ``specs``.  Models load in the background once it starts (``/readyz`` says when);
    ``on_load_error(name, reason)`` is called if one fails.  ``load`` is for tests."""
    service = Service(specs, settings, load, on_load_error)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        try:
            yield
        finally:
            await service.shutdown()

    app = FastAPI(
        title="small_lm",
        version="1",
        description="Reads scheduling emails: intent and entities (DATE, TIME, NAME, EMAIL, ...) per text.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(Gate, service=service)
    # Declared for the OpenAPI docs ("Authorize" in /docs); Gate enforces the token before the body is read.
    bearer = HTTPBearer(auto_error=False, description="SMALL_LM_API_KEY, when the server has one")

    @app.exception_handler(RequestValidationError)
    async def malformed_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        # What is wrong and where, never the input itself: bodies are neither logged nor echoed back.
        problems = []
        for e in exc.errors():
            if e["type"] == "json_invalid":  # loc is ("body", character offset)
                problems.append(f"not valid JSON at character {e['loc'][-1]} ({e.get('ctx', {}).get('error', '')})")
            else:
                problems.append(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}")
        return JSONResponse({"detail": "malformed request body: " + "; ".join(problems)}, status_code=422)

    @app.post(
        "/v1/extract",
        response_model=ExtractResponse,
        response_model_exclude_unset=True,  # a result has "error"/"warning" only when the CLI's would
        responses=ERRORS,
        dependencies=[Depends(bearer)],
        summary="Intent and entities of each text",
    )
    async def extract(body: ExtractRequest, request: Request) -> Any:
        started = time.perf_counter()
        worker = service.pick(body.model)
        if len(body.texts) > settings.max_texts:
            raise HTTPException(413, f"{len(body.texts)} texts; at most {settings.max_texts} (--max-texts)")
        for i, text in enumerate(body.texts):
            if len(text) > settings.max_chars:
                detail = f"text {i} has {len(text)} characters; at most {settings.max_chars} (--max-chars)"
                raise HTTPException(413, detail)
        if service.draining:
            raise HTTPException(503, "shutting down", headers={"Retry-After": "1", "Connection": "close"})
        if not worker.ready:
            state = f"failed to load ({worker.load_error})" if worker.load_error else "still loading"
            raise HTTPException(503, f"model {worker.name!r} is {state}", headers={"Retry-After": "5"})
        sources = [{"file": "<request>", "index": i} for i in range(len(body.texts))]
        try:
            futures = worker.submit(body.texts, sources)
        except QueueFull as err:
            raise HTTPException(503, f"{err}; retry later", headers={"Retry-After": "1"}) from None
        results = await _results(request, worker, futures, settings.request_timeout)
        if results is None:
            return Response(status_code=499)  # nobody is listening; the status is for the metrics
        service.metrics.request_seconds.labels(worker.name).observe(time.perf_counter() - started)
        return {"model": worker.name, "results": results}

    @app.get("/v1/models", response_model=ModelsResponse, dependencies=[Depends(bearer)], responses={401: ERRORS[401]})
    async def models() -> Any:
        out = []
        for name, worker in service.workers.items():
            tagger = worker.tagger
            out.append(ModelInfo(
                name=name, family=service.specs[name].family, ready=worker.ready,
                max_batch_size=worker.max_batch_size, backend=getattr(tagger, "backend", None),
                intents=getattr(tagger, "intents", None), entity_types=getattr(tagger, "entity_types", None),
            ))  # fmt: skip
        return {"models": out}

    @app.get("/healthz", summary="Alive (the process answers)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="200 once every model is loaded and warmed up; 503 before and while shutting down")
    async def readyz() -> JSONResponse:
        states = {
            name: "ready" if w.ready else (f"failed: {w.load_error}" if w.load_error else "loading")
            for name, w in service.workers.items()
        }
        if service.draining:
            states = {name: "shutting down" for name in states}
        return JSONResponse({"ready": service.ready, "models": states}, status_code=200 if service.ready else 503)

    @app.get("/metrics", summary="Prometheus text format")
    async def metrics() -> Response:
        return Response(service.metrics.exposition(), media_type=service.metrics.content_type)

    return app
