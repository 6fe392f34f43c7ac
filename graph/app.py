"""The ASGI application: Starlette routes, the GraphQL view, and start-up/shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.types import ExecutionResult

from config import Settings, get_settings
from graph.context import Context, build_context
from graph.errors import shape_error
from graph.limits import BodySizeLimit, OperationTimeout
from graph.schema import build_schema
from models.db import connect, disconnect
from models.embedded import start_server

log = logging.getLogger("cashcc")


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context (principal resolved once per request)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide=None if settings.is_production else "graphiql",
            allow_queries_via_get=False,
        )
        self.settings = settings

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return await build_context(request, response, settings=self.settings)

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
        try:
            async with asyncio.timeout(seconds):
                result = await super().execute_operation(
                    request, request_adapter, request_data, context, root_value, sub_response
                )
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
            result = ExecutionResult(data=None, errors=[error])
            return [result] * len(request_data) if isinstance(request_data, list) else result


def database_uri(settings: Settings) -> str:
    """`MONGODB_URI`, or the embedded server under `VAR_DIR` (started on demand)."""
    if settings.mongodb_uri:
        return settings.mongodb_uri
    return start_server(settings.embedded_db_dir, settings.var_dir).uri


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None, *, manage_database: bool = True) -> Starlette:
    """The application. With `manage_database` the lifespan connects to the database on
    start-up and disconnects on exit (tests that connect themselves pass False)."""
    settings = settings or get_settings()
    graphql = GraphQLApp(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_database:
            await connect(
                database_uri(settings), settings.mongodb_db, retention_days=settings.retention_days
            )
        try:
            yield
        finally:
            if manage_database:
                await disconnect()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
