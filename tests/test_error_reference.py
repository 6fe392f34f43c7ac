"""docs/errors.md lists every error code a client can see: a new code fails this test until it
is documented."""

from __future__ import annotations

import re
from pathlib import Path

import strawberry.subscriptions.protocols.graphql_transport_ws.handlers as strawberry_ws

import graph.app  # noqa: F401 - imports every module that defines an error class
from auth.errors import PublicError
from config import Settings
from graph.schema import build_schema
from tests.servers import REPO

DOC = REPO / "docs" / "errors.md"
SOURCES = ("graph", "resolvers", "auth", "models")
LITERAL_CODES = (
    re.compile(r"\bcode=\"([A-Z][A-Z_]+)\""),  # PublicError(..., code="BAD_RANGE")
    re.compile(r"\"code\"\s*:\s*\"([A-Z][A-Z_]+)\""),  # {"code": "CORS_REFUSED"}
    re.compile(r"\[\"code\"\]\s*=\s*\"([A-Z][A-Z_]+)\""),  # extensions["code"] = "..."
    re.compile(r"get\(\"code\",\s*\"([A-Z][A-Z_]+)\""),
)
CLOSE_CODES = re.compile(r"close\(\s*code=(\d{4})|CLOSE_CODE\s*=\s*(\d{4})")
STRAWBERRY_WS = Path(strawberry_ws.__file__)
SERVICE_RESTART = "1012"  # uvicorn closes open WebSockets with it when a worker stops


def documented_codes() -> set[str]:
    """Codes in backticks in the code column of the page's tables."""
    codes: set[str] = set()
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2:
            continue
        for cell in cells[:2]:
            codes.update(re.findall(r"`([A-Z0-9][A-Z0-9_]+)`", cell))
    return codes


def schema_enum(name: str) -> set[str]:
    return set(build_schema(Settings(app_env="test"))._schema.type_map[name].values)


def error_class_codes() -> set[str]:
    found: set[str] = set()
    pending = [PublicError]
    while pending:
        cls = pending.pop()
        found.add(cls.code)
        pending.extend(cls.__subclasses__())
    return found


def source_codes() -> set[str]:
    found: set[str] = set()
    for package in SOURCES:
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text()
            for pattern in LITERAL_CODES:
                found.update(pattern.findall(text))
    return found


def close_codes() -> set[str]:
    found = {SERVICE_RESTART}
    for path in [*(REPO / "graph").rglob("*.py"), STRAWBERRY_WS]:
        for pair in CLOSE_CODES.findall(path.read_text()):
            found.update(code for code in pair if code)
    return found


def test_every_user_error_and_rejection_code_is_documented() -> None:
    codes = (
        schema_enum("UserErrorCode")
        | schema_enum("RejectionCode")
        | schema_enum("TelemetryRejectionCode")
    )
    missing = codes - documented_codes()
    assert not missing, f"add to docs/errors.md: {sorted(missing)}"


def test_every_extensions_code_is_documented() -> None:
    codes = error_class_codes() | source_codes()
    assert {"UNAUTHENTICATED", "RATE_LIMITED", "GRAPHQL_VALIDATION_FAILED"} <= codes
    missing = codes - documented_codes()
    assert not missing, f"add to docs/errors.md: {sorted(missing)}"


def test_every_websocket_close_code_is_documented() -> None:
    codes = close_codes()
    assert {"4008", "4403", "4408"} <= codes
    missing = codes - documented_codes()
    assert not missing, f"add to docs/errors.md: {sorted(missing)}"
