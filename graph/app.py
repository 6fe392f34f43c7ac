"""The ASGI application: Starlette routes, the GraphQL view, and start-up/shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from auth.errors import PublicError
from config import Settings, get_settings
from graph.audit.download import download_routes
from graph.context import Context, build_context
from graph.errors import shape_error
from graph.framework import LiveTransportWSHandler, decode_json
from graph.http import decode_request_body, http_error_response, unavailable_response
from graph.http_routes import StrictCORS, cors_options, routes
from graph.ide import IDE_HTML, ide_assets
from graph.limits import BodySizeLimit, OperationTimeout
from graph.metrics import metrics_route, observe_operations
from graph.request_log import RequestLog, configure_logging, note
from graph.schema import build_schema
from graph.ws_auth import authenticate_credential, credential_from, require_credential
from infra.live.hub import LiveHub, get_hub, make_broadcast, set_hub
from infra.metrics import AUTH_FAILURES
from resolvers.alerts.evaluator import run_alert_evaluator, run_forecast_sweeper
from resolvers.audit.keys import key_ring
from resolvers.audit.scheduler import CheckpointScheduler
from resolvers.health.evaluator import run_evaluator
from resolvers.system import DatabaseError, SchemaBehind, close_database, open_database
from resolvers.webhooks.worker import run_delivery_worker

log = logging.getLogger("cashcc")
GC_GEN0_THRESHOLD = 50_000


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context (principal resolved once per request)."""

    graphql_transport_ws_handler_class = LiveTransportWSHandler

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide=None if settings.is_production else "graphiql",
            allow_queries_via_get=False,
            # graphql-transport-ws only: the legacy graphql-ws protocol would need its own
            # authentication path and tests.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(
                seconds=settings.ws_connection_init_timeout_seconds
            ),
            max_subscriptions_per_connection=settings.live_max_subscriptions_per_connection,
        )
        self.settings = settings
        # The HTTP requests this worker runs at once (MAX_CONCURRENT_REQUESTS).
        self.slots = asyncio.Semaphore(settings.max_concurrent_requests)

    @property
    def graphql_ide_html(self) -> str:
        return IDE_HTML  # assets from the repository, not a CDN (graph/ide.py)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return await build_context(request, response, settings=self.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry's view, with refused HTTP requests answered as GraphQL-shaped JSON
        (`extensions.code`, `requestId`) instead of plain text."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.settings.request_queue_seconds):
                await self.slots.acquire()
        except TimeoutError:
            busy = "the server is at capacity; retry shortly"
            await unavailable_response(busy, code="BUSY", scope=scope)(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            response = http_error_response(exc, scope)
        except ClientDisconnect:
            # Gone before its body arrived (an agent's timeout, a killed client): nobody to
            # answer, nothing was run; the request log records it without a status.
            return
        except DatabaseError:
            # Before execution (authentication reads the key): execution maps its own.
            log.warning("database unavailable while reading the caller", exc_info=True)
            response = unavailable_response(
                "the database is unavailable; retry shortly", code="UNAVAILABLE", scope=scope
            )
        finally:
            self.slots.release()
        await response(scope, receive, send)

    def parse_json(self, data: str | bytes) -> Any:
        return decode_request_body(data)

    def decode_json(self, data: str | bytes) -> Any:
        return decode_json(data)

    async def execute_operation(  # type: ignore[override]
        self,
        request: Any,
        request_adapter: Any,
        request_data: Any,
        context: Context,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        """Run the HTTP operation (or batch) under the per-operation timeout.

        On timeout the work is cancelled and the client gets a retryable TIMEOUT error; an
        ingest cut off this way either committed or did not (it is one transaction), and a
        retry with the same idempotency key is safe.
        """
        seconds = self.settings.operation_timeout_seconds
        started = time.perf_counter()
        batch = isinstance(request_data, list)
        requests = request_data if batch else [request_data]
        results: list[Any] | None = None
        try:
            async with asyncio.timeout(seconds):
                result = await super().execute_operation(
                    request, request_adapter, request_data, context, root_value, sub_response
                )
            results = result if batch else [result]
            await context.after_operation()
            return result
        except TimeoutError:
            timeout = OperationTimeout(
                f"operation did not finish within {seconds:g} s", retryable=True
            )
            error = shape_error(
                GraphQLError(timeout.message, original_error=timeout),
                request_id=context.request_id,
                operation=None,
            )
            results = [ExecutionResult(data=None, errors=[error])] * len(requests)
            return results if batch else results[0]
        finally:
            pairs = observe_operations(requests, results, time.perf_counter() - started)
            note(context.request.scope.setdefault("state", {}), **context.log_fields(pairs))

    async def on_ws_connect(self, context: Context) -> None:
        """Authenticate the WebSocket in `connection_init`; a missing or invalid credential
        closes the socket (4403 Forbidden)."""
        try:
            credential = require_credential(
                credential_from(context.connection_params or {}, context.request.headers)
            )
            principal = await authenticate_credential(credential, settings=self.settings)
        except PublicError as exc:
            log.info("WebSocket connection refused: %s", exc.message)
            AUTH_FAILURES.labels(kind="websocket").inc()
            raise ConnectionRejectionError({"code": exc.code, "message": exc.message}) from exc
        context.principal = replace(principal, client_address=context.client_address)
        context.auth_error, context.credential = None, credential
        context.auth_checked_at = time.monotonic()
        note(context.request.scope.setdefault("state", {}), **context.log_fields([]))


async def healthz(request: Request) -> JSONResponse:
    """Liveness, plus this process's live subscriber count (operations and tests use it)."""
    hub = get_hub()
    return JSONResponse(
        {"status": "ok", "liveSubscribers": hub.subscriber_count if hub is not None else 0}
    )


def create_app(settings: Settings | None = None, *, manage_database: bool = True) -> Starlette:
    """The application. With `manage_database` the lifespan connects to the database on
    start-up, runs the checkpoint scheduler (AUDIT_SCHEDULER) and disconnects on exit (tests
    that connect themselves pass False)."""
    settings = settings or get_settings()
    key_ring(settings)  # a key ring that cannot sign stops the worker here, not at midnight
    graphql = GraphQLApp(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_database:
            try:
                await open_database(settings)
            except SchemaBehind as exc:
                log.critical("worker not started: %s", exc)
                raise
        hub = LiveHub(make_broadcast(settings.broadcast_url), queue_size=settings.live_queue_size)
        await hub.start()
        set_hub(hub)
        # Background work of every worker: safe to run in many at once (each effect is a
        # conditional write in the database, docs/health.md; deliveries are leased,
        # docs/alerts.md#webhooks).
        background: list[asyncio.Task] = []
        if settings.health_evaluator_interval_seconds > 0:
            background.append(asyncio.create_task(run_evaluator(settings), name="evaluator"))
        if settings.alert_evaluator_interval_seconds > 0:
            background.append(asyncio.create_task(run_alert_evaluator(settings), name="alerts"))
            background.append(asyncio.create_task(run_forecast_sweeper(), name="forecasts"))
        if settings.webhook_delivery_interval_seconds > 0:
            background.append(
                asyncio.create_task(run_delivery_worker(settings), name="webhook-deliveries")
            )
        if manage_database and settings.audit_scheduler:
            background.append(
                asyncio.create_task(
                    CheckpointScheduler(settings).run_forever(), name="audit-checkpoints"
                )
            )
        # Everything built at start-up (schema, models, modules) lives for the whole process:
        # move it out of the collector's view so full collections stay short.
        gc.collect()
        gc.freeze()
        # Fan-out allocates many short-lived objects per event; with the default threshold
        # (700) the collector runs hundreds of times per event at 1,000 subscribers, and its
        # full passes over every connection's objects were the live-view latency tail.
        gc.set_threshold(GC_GEN0_THRESHOLD, 20, 100)
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            set_hub(None)
            await hub.stop()
            if manage_database:
                await close_database()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            *routes(settings),
            *download_routes(settings),
            metrics_route(settings),
            *([] if settings.is_production else [ide_assets()]),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(StrictCORS, **cors_options(settings))
    app.add_middleware(RequestLog)
    configure_logging(settings)
    if settings.forwarded_allow_ips:
        # Client addresses (login throttle per address, security log) come from
        # X-Forwarded-For only when the peer is one of these proxies; the server runs with
        # uvicorn's own proxy-header handling off, so no other peer is trusted by default.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    return app
