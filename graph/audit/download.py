"""`GET /audit/export`: the audit bundle (or its CSV) as a download, for ORG_ADMIN and
AUDITOR (`Download.auditExport` in the permission table), in the caller's scope.

    curl -H "Authorization: Bearer $TOKEN" -o nov.jsonl \\
      "$API/audit/export?from=2026-11-01T00:00:00%2B01:00&to=2026-12-01T00:00:00%2B01:00"

A bundle of a month is large, so it streams as it is read; refused requests get the
GraphQL-shaped JSON error body (`extensions.code`, `field`) every other endpoint gives.
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from auth.errors import AuthenticationError, PublicError
from auth.principal import authenticate_bearer
from auth.rbac import authorize
from config import Settings
from graph.http import error_body, request_id_for
from resolvers.audit.bundle import bundle_lines, csv_lines, export_for
from resolvers.errors import CommonErrorCode, ServiceError

OPERATION = "Download.auditExport"
FORMATS = {
    "bundle": (bundle_lines, "application/x-ndjson", "jsonl"),
    "csv": (csv_lines, "text/csv; charset=utf-8", "csv"),
}
STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, CommonErrorCode.NOT_FOUND.value: 404}


def _refused(request: Request, code: str, message: str, field: str | None = None) -> Response:
    body = error_body(message, code=code, request_id=request_id_for(request.scope))
    if field is not None:
        body["errors"][0]["extensions"]["field"] = field
    return JSONResponse(body, status_code=STATUS.get(code, 400))


def _instant(request: Request, name: str) -> datetime:
    value = request.query_params.get(name)
    if value is None:
        raise ServiceError.of(CommonErrorCode.INVALID, f"{name} is required", field=name)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ServiceError.of(
            CommonErrorCode.BAD_TIMESTAMP, f"{name} must be an ISO 8601 instant", field=name
        ) from None


def download_routes(settings: Settings) -> list[Route]:
    async def audit_export(request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        try:
            if not authorization.lower().startswith("bearer "):
                raise AuthenticationError("send Authorization: Bearer <access token>")
            principal = await authenticate_bearer(authorization[7:].strip(), settings=settings)
            authorize(principal, OPERATION)
        except PublicError as exc:
            return _refused(request, exc.code.value, exc.message)
        kind = request.query_params.get("format", "bundle")
        if kind not in FORMATS:
            message = "format must be bundle or csv"
            return _refused(request, CommonErrorCode.INVALID.value, message, "format")
        lines, media_type, suffix = FORMATS[kind]
        try:
            period = await export_for(
                principal=principal,
                start=_instant(request, "from"),
                end=_instant(request, "to"),
                shop_id=request.query_params.get("shopId"),
            )
        except ServiceError as exc:
            return _refused(request, exc.first.code.value, exc.first.message, exc.first.field)
        name = f"audit-{principal.org_id}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.{suffix}"
        return StreamingResponse(
            lines(period, settings=settings),
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return [Route("/audit/export", audit_export, methods=["GET"])]
