"""Types shared by every domain: user errors and page info."""

from __future__ import annotations

import strawberry

from resolvers.errors import ErrorCode, UserError

UserErrorCode = strawberry.enum(
    ErrorCode, name="UserErrorCode", description="Why a mutation could not do what was asked."
)


@strawberry.type(name="UserError", description="A problem the caller can fix, as data.")
class UserErrorType:
    field: str | None = strawberry.field(description="Input path, e.g. `input.machineId`.")
    code: UserErrorCode  # type: ignore[valid-type]
    message: str
    retryable: bool = strawberry.field(
        description="True when the same request may succeed if retried later."
    )

    @classmethod
    def from_error(cls, error: UserError) -> UserErrorType:
        return cls(
            field=error.field,
            code=error.code,
            message=error.message,
            retryable=error.retryable,
        )


def user_errors(errors: list[UserError]) -> list[UserErrorType]:
    return [UserErrorType.from_error(e) for e in errors]


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
