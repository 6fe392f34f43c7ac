"""Plain HTTP routes beside `/graphql`: a landing page, the docs, readiness, and CORS."""

from __future__ import annotations

import html
from pathlib import Path

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from config import Settings
from resolvers.system import readiness_problems

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"
CORS_HEADERS = ["Authorization", "Content-Type", "X-API-Key", "X-Request-Id"]
CORS_MAX_AGE_SECONDS = 600


def _doc_names() -> list[str]:
    return sorted(p.name for p in DOCS_DIR.glob("*.md")) if DOCS_DIR.is_dir() else []


def landing_page(settings: Settings) -> HTMLResponse:
    ide = (
        "GraphiQL is off in production; POST GraphQL requests to it."
        if settings.is_production
        else "open it in a browser for GraphiQL, the interactive IDE."
    )
    docs = "".join(
        f'<li><a href="/docs/{html.escape(n)}">{html.escape(n)}</a></li>' for n in _doc_names()
    )
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cash Command Center API</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>Cash Command Center API</h1>
<ul>
<li><a href="/graphql">/graphql</a>: the GraphQL endpoint (HTTP POST and WebSocket
 <code>graphql-transport-ws</code>); {ide}</li>
<li><a href="/healthz">/healthz</a>: liveness; <a href="/readyz">/readyz</a>: readiness
 (database, indexes, Redis)</li>
</ul>
<h2>Documentation</h2>
<ul>{docs or "<li>README.md and docs/ in the repository</li>"}</ul>
</body></html>
"""
    return HTMLResponse(body)


async def docs_page(request: Request) -> Response:
    """One Markdown file of docs/, as plain text (only the names that exist are served)."""
    name = request.path_params["name"]
    if name not in _doc_names():
        return PlainTextResponse("no such document", status_code=404)
    text = (DOCS_DIR / name).read_text(encoding="utf-8")
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


def routes(settings: Settings) -> list[Route]:
    async def landing(request: Request) -> Response:
        return landing_page(settings)

    async def readyz(request: Request) -> JSONResponse:
        """200 when this worker can serve; 503 naming each failing part otherwise."""
        problems = await readiness_problems(broadcast_url=settings.broadcast_url)
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ok"})

    return [
        Route("/", landing, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/docs/{name}", docs_page, methods=["GET"]),
    ]


class StrictCORS(CORSMiddleware):
    """Starlette's CORS middleware, except that a refused preflight carries no CORS header
    at all (Starlette's still lists the allowed methods and headers) and a JSON error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        return JSONResponse(
            {
                "errors": [
                    {
                        "message": "cross-origin request refused: the origin, method or "
                        "headers are not allowed (CORS_ALLOW_ORIGINS)",
                        "extensions": {"code": "CORS_REFUSED"},
                    }
                ]
            },
            status_code=400,
        )


def cors_options(settings: Settings) -> dict[str, object]:
    """Keyword arguments for `StrictCORS`: no origin is allowed unless configured."""
    return {
        "allow_origins": settings.cors_origins,
        "allow_methods": ["GET", "POST"],
        "allow_headers": CORS_HEADERS,
        "allow_credentials": True,
        "expose_headers": ["X-Request-Id"],
        "max_age": CORS_MAX_AGE_SECONDS,
    }
