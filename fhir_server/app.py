"""The ASGI application: routes under the base URL's path, the store's lifetime, errors."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from fhir_server.api.audit import AuditMiddleware
from fhir_server.api.fast_lane import FastLane
from fhir_server.api.http import shared_context
from fhir_server.api.outcomes import failure_response
from fhir_server.api.routes import router
from fhir_server.config import Settings
from fhir_server.errors import (
    BadRequest,
    FhirError,
    MethodNotAllowed,
    NotFound,
)
from fhir_server.indexing.reindex import ensure_index
from fhir_server.search.registry import warm as warm_search
from fhir_server.serving import configure as configure_serving
from fhir_server.storage import Store, open_store, redacted
from fhir_server.storage.records import StorageError
from fhir_server.validation import warm_up
from fhir_server.workflows.events import remove_sink
from fhir_server.workflows.webhook import start_webhook
from smart_auth.audit import AuditTrail
from smart_auth.routes import auth_routes
from smart_auth.service import open_auth_service

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, store: Store | None = None) -> FastAPI:
    """The server for ``settings``; ``store`` overrides the engine the database URL names."""
    engine = store if store is not None else open_store(settings.database_url)
    auth = open_auth_service(settings)
    configure_serving(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(warm_up)
        await asyncio.to_thread(warm_search)
        await engine.open()
        await asyncio.to_thread(auth.store.open)
        trail = AuditTrail(auth.store)
        await trail.start()
        app.state.audit_trail = trail
        webhook = await start_webhook(settings.webhook_url, settings.webhook_secret)
        await ensure_index(engine, base_url=settings.base_url)
        app.state.store = engine
        app.state.shared_context = shared_context(
            settings, engine, auth_url=None if settings.insecure_no_auth else auth.config.auth_url
        )
        # Models, spec data and compiled expressions live as long as the process: keep them
        # out of the garbage collector's full passes, which otherwise stall every request.
        gc.collect()
        gc.freeze()
        log.info(
            "serving FHIR R4 at %s (database %s)",
            settings.base_url,
            redacted(settings.database_url),
        )
        if settings.insecure_no_auth:
            log.warning("!" * 72)
            log.warning("AUTHORIZATION IS OFF (--insecure-no-auth): anyone may read and change")
            log.warning("every record. Never run this way with real data.")
            log.warning("!" * 72)
        else:
            log.info("SMART authorization server at %s", auth.config.auth_url)
        try:
            yield
        finally:
            app.state.audit_trail = None
            await trail.close()
            if webhook is not None:
                remove_sink(webhook)
                await webhook.close()
            await engine.close()
            await asyncio.to_thread(auth.store.close)

    app = _Server(
        mount_path=settings.mount_path,
        title="mhs-fhir",
        summary="FHIR R4 server for military health beneficiaries",
        lifespan=lifespan,
        docs_url=f"{settings.mount_path}/_docs",
        redoc_url=None,
        openapi_url=f"{settings.mount_path}/_openapi.json",
        # FastAPI's native OpenTelemetry asks the global providers on every request (10 µs of
        # a 70 µs read) although the server configures none.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.auth_service = auth
    app.state.auth_guard = None if settings.insecure_no_auth else auth.store
    app.state.audit_trail = None
    app.include_router(router, prefix=settings.mount_path)
    app.router.routes[0:0] = auth_routes(settings.mount_path)

    async def on_error(request: Request, exc: Exception) -> Response:
        return failure_response(request, exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error: FhirError
        if exc.status_code == 404:
            error = NotFound(f"{request.url.path} is not a FHIR endpoint of this server")
        elif exc.status_code == 405:
            allowed = _allowed_methods(settings.mount_path, request)
            error = MethodNotAllowed(
                f"{request.method} is not allowed on {request.url.path};"
                f" allowed: {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        else:
            error = BadRequest(str(exc.detail))
        return failure_response(request, error)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        return failure_response(request, BadRequest(f"invalid request: {exc}"))

    # Browser apps (SMART apps, the portal) call the API and the token endpoint from other
    # origins with bearer tokens, never cookies: any origin, no credentials.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Accept",
            "If-Match",
            "If-None-Match",
            "If-Modified-Since",
            "If-None-Exist",
            "Prefer",
        ],
        expose_headers=["Location", "Content-Location", "ETag", "Last-Modified"],
        max_age=600,
    )
    app.add_middleware(
        AuditMiddleware,
        mount_path=settings.mount_path,
        trail=lambda: app.state.audit_trail,
    )
    app.add_exception_handler(FhirError, on_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StorageError, on_error)
    app.add_exception_handler(Exception, on_error)
    return app


class _Server(FastAPI):
    """FastAPI with read and create answered ahead of its middleware stack
    (:mod:`fhir_server.api.fast_lane`)."""

    def __init__(self, *, mount_path: str, **options: Any) -> None:
        super().__init__(**options)
        self.mount_path = mount_path

    def build_middleware_stack(self) -> ASGIApp:
        return FastLane(
            super().build_middleware_stack(),
            mount_path=self.mount_path,
            trail=lambda: self.state.audit_trail,
        )


def _allowed_methods(mount_path: str, request: Request) -> list[str]:
    """Every method some FHIR route serves at this path (the Allow header of a 405)."""
    path = request.url.path.removeprefix(mount_path)
    methods: set[str] = set()
    for route in router.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            methods.update(route.methods or ())
    return sorted(methods)


def app_from_env() -> FastAPI:
    """ASGI factory for ``uvicorn --factory`` (and ``mhs-fhir serve --workers N``)."""
    return create_app(Settings())
