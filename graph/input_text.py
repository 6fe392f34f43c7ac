"""Every text argument of an operation must be valid Unicode: an unpaired surrogate (`"\\ud800"`
arrives through JSON escapes) cannot be stored or hashed, and would fail deep inside a write.

`check_text_arguments` walks the coerced arguments of a root field (strings, lists, input
objects as graphql-core hands them over: dicts keyed by GraphQL names) and raises a
BAD_USER_INPUT error naming the first offending argument. Lists of records that are validated
one by one (`RECORD_LISTS`) are left to that validation, so one bad record is rejected on its
own and the good ones of the batch are kept.
"""

from __future__ import annotations

from typing import Any

from strawberry.utils.str_converters import to_camel_case

from auth.errors import PublicError, RequestErrorCode
from resolvers.validation import is_text

# Operation -> argument path of a list whose records are checked one by one (text included).
RECORD_LISTS: dict[str, str] = {
    "Mutation.ingestTransactions": "input.transactions",
    "Mutation.reportMachineTelemetry": "input.messages",
}


class InvalidText(PublicError):
    code = RequestErrorCode.BAD_USER_INPUT


def _first_invalid(value: Any, path: str, skip: str | None = None) -> str | None:
    if path == skip:
        return None
    if isinstance(value, str):
        return None if is_text(value) else path
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _first_invalid(item, f"{path}[{index}]", skip)
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_invalid(item, f"{path}.{key}", skip)
            if found:
                return found
        return None
    return None


def check_text_arguments(operation: str, arguments: dict[str, Any]) -> None:
    skip = RECORD_LISTS.get(operation)
    for name, value in arguments.items():
        path = _first_invalid(value, to_camel_case(name), skip)
        if path is not None:
            raise InvalidText(f"{path}: text must be valid Unicode (no unpaired surrogates)")
