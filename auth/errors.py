"""Errors a client may see as-is. Anything else is masked by the GraphQL layer."""

from __future__ import annotations


class PublicError(Exception):
    """An error whose message and code are safe to show to the client.

    `retryable` tells a client that the same request may succeed later; `retry_after` is a
    hint in seconds when the server knows one.
    """

    code: str = "BAD_REQUEST"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
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
    code = "UNAUTHENTICATED"


class PermissionDenied(PublicError):
    code = "FORBIDDEN"


class NotFound(PublicError):
    code = "NOT_FOUND"
