"""GraphiQL from files in the repository (`graph/static/graphiql`), not from a CDN: the IDE
must work on a laptop without internet access. Served in development only (production has
no IDE and no introspection).

The vendored files are kept gzip-compressed (600 KB instead of 1.5 MB in the repository) and
sent as they are with `Content-Encoding: gzip`; a client that does not take gzip gets them
decompressed."""

from __future__ import annotations

import gzip
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

ASSETS = Path(__file__).resolve().parent / "static" / "graphiql"
PREFIX = "/graphiql-assets"

IDE_HTML = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Cash Command Center: GraphiQL</title>
<link rel="stylesheet" href="{PREFIX}/graphiql.min.css">
<style>body {{ margin: 0; height: 100vh; }} #graphiql {{ height: 100vh; }}
#note {{ font-family: sans-serif; padding: 2em; }}</style>
</head>
<body>
<div id="graphiql"><p id="note">Loading GraphiQL from {PREFIX}/ ... If this stays, the
browser could not load those files from this server or has JavaScript off; the API itself
works: POST JSON to /graphql (see README.md, docs/errors.md).</p></div>
<script src="{PREFIX}/react.production.min.js"></script>
<script src="{PREFIX}/react-dom.production.min.js"></script>
<script src="{PREFIX}/graphiql.min.js"></script>
<script>
  const fetcher = GraphiQL.createFetcher({{ url: window.location.href }});
  const headers = JSON.stringify({{ Authorization: "Bearer <accessToken from login>" }}, null, 2);
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {{
      fetcher,
      defaultEditorToolsVisibility: true,
      headers,
      defaultQuery: "# Log in, then put the accessToken into the Headers tab below.\\n"
        + "# Shops' local systems send X-API-Key instead. Subscriptions need a WebSocket\\n"
        + "# client (graphql-transport-ws, docs/live.md).\\n"
        + "mutation Login {{\\n  login(email: \\"admin@demo.local\\", "
        + "password: \\"demo-password-123\\") {{\\n    accessToken\\n"
        + "    userErrors {{ code message }}\\n  }}\\n}}\\n",
    }}),
  );
</script>
</body>
</html>
"""


CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


async def _asset(request: Request) -> Response:
    name = request.path_params["name"]
    path = ASSETS / f"{name}.gz"
    kind = CONTENT_TYPES.get(Path(name).suffix)
    if kind is None or "/" in name or not path.is_file():
        return Response("no such asset", status_code=404, media_type="text/plain")
    body = path.read_bytes()
    headers = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(body, media_type=kind, headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(body), media_type=kind, headers=headers)


def ide_assets() -> Mount:
    return Mount(PREFIX, routes=[Route("/{name}", _asset, methods=["GET"])], name="graphiql-assets")
