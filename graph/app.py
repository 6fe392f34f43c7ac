"""The ASGI application: Starlette routes, the GraphQL view, and start-up/shutdown."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from config import Settings, get_settings
from graph.context import Context, build_context
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
                database_uri(settings),
                settings.mongodb_db,
                retention_days=settings.retention_days,
                max_concurrent_transactions=settings.max_concurrent_transactions,
            )
        try:
            yield
        finally:
            if manage_database:
                await disconnect()

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
