"""Errors about the request rather than the operation: credentials, permissions, limits,
malformed input. A client may see their message as is; anything else that is not a
`resolvers.errors.ServiceError` is masked by the GraphQL layer.

Every code is a member of `RequestErrorCode`, which the schema exposes (docs/errors.md).
"""

from __future__ import annotations

from enum import StrEnum


class RequestErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    BAD_REQUEST = "BAD_REQUEST"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    QUERY_TOO_EXPENSIVE = "QUERY_TOO_EXPENSIVE"
    TIMEOUT = "TIMEOUT"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    # Answers before GraphQL runs (HTTP statuses, docs/errors.md section 4).
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    CORS_REFUSED = "CORS_REFUSED"


class PublicError(Exception):
    """An error whose message and code are safe to show to the client.

    `retryable` tells a client that the same request may succeed later; `retry_after` is a
    hint in seconds when the server knows one.
    """

    code: RequestErrorCode = RequestErrorCode.BAD_REQUEST

    def __init__(
        self,
        message: str,
        *,
        code: RequestErrorCode | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


class AuthenticationError(PublicError):
    code = RequestErrorCode.UNAUTHENTICATED


class PermissionDenied(PublicError):
    code = RequestErrorCode.FORBIDDEN
