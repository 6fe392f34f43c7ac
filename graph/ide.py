"""GraphiQL from files in the repository (`graph/static/graphiql`), not from a CDN: the IDE
must work on a laptop without internet access. Served in development only (production has
no IDE and no introspection)."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

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


def ide_assets() -> Mount:
    return Mount(PREFIX, app=StaticFiles(directory=ASSETS), name="graphiql-assets")
