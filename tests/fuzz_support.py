"""Shared machinery of the fuzz suite (tests/test_fuzz_*.py): hypothesis profiles, the checks
every answer must pass, raw JSON encoding, the callers and the tenant the fuzz runs in.

The checks are the hardening issue's: no 5xx, no INTERNAL_SERVER_ERROR, every GraphQL error
carries `extensions.code`, and a request under SMALL_REQUEST_BYTES is answered within
SLOW_ANSWER_SECONDS. A check that fails raises AssertionError naming the request and the
answer, so hypothesis shrinks it and prints the minimal falsifying example.

Examples per test: FUZZ_CI_EXAMPLES, deterministic (`derandomize`), unless the environment sets
FUZZ_EXAMPLES=<n>: then n examples per test from a random seed (fix one with pytest's
`--hypothesis-seed=<seed>`), and failing examples are kept in .hypothesis/ for the next run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, Phase
from hypothesis.database import DirectoryBasedExampleDatabase

import auth.passwords
from config import Settings
from models.db import Database
from models.identity import Role
from tests.factories import Factory, Tenant
from tests.identity_helpers import app_client

FUZZ_EXAMPLES_ENV = "FUZZ_EXAMPLES"
FUZZ_CI_EXAMPLES = 4

# The one timing check of the suite ("any response slower than 1 s for a document under
# 10 KB"). Parsing, validating and costing a small document is cheap whatever its shape; typical
# answers here take 5 to 50 ms, so a second leaves a loaded CI machine a wide margin while any
# work that grows exponentially with nesting (validation or cost walks over fragment spreads)
# crosses it at a few hundred bytes.
SLOW_ANSWER_SECONDS = 1.0
SMALL_REQUEST_BYTES = 10_000
INTERNAL = "INTERNAL_SERVER_ERROR"


def _register_profiles() -> str:
    """`fuzz-ci` (bounded, deterministic) and, with FUZZ_EXAMPLES, `fuzz-deep` (random seed)."""
    ci = hypothesis.settings(
        max_examples=FUZZ_CI_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,  # SLOW_ANSWER_SECONDS is the timing check; examples include setup
        print_blob=True,
        # No `explain` phase: it traces coverage, which made shrinking several times slower.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )
    hypothesis.settings.register_profile("fuzz-ci", ci)
    deep = os.environ.get(FUZZ_EXAMPLES_ENV)
    if not deep:
        return "fuzz-ci"
    hypothesis.settings.register_profile(
        "fuzz-deep",
        ci,
        max_examples=int(deep),
        derandomize=False,
        database=DirectoryBasedExampleDatabase(".hypothesis/fuzz"),
    )
    return "fuzz-deep"


FUZZ_PROFILE = _register_profiles()


def fuzz_settings(scale: float = 1.0) -> hypothesis.settings:
    """The active profile, with `scale` times its examples (for tests whose inputs are cheap)."""
    profile = hypothesis.settings.get_profile(FUZZ_PROFILE)
    return hypothesis.settings(
        profile, max_examples=max(1, math.ceil(profile.max_examples * scale))
    )


# --- raw JSON ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawNumber:
    """A JSON number written as is, e.g. 5,000 digits (Python's json refuses to write those)."""

    text: str


def dump_json(value: Any) -> str:
    """JSON text of `value`; RawNumber leaves are written verbatim, strings are escaped ASCII
    (so lone surrogates travel as `\\udXXX`)."""
    if isinstance(value, RawNumber):
        return value.text
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}:{dump_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dump_json(v) for v in value) + "]"
    return json.dumps(value)


def graphql_body(query: str, variables: Any = None) -> bytes:
    variables_text = "{}" if variables is None else dump_json(variables)
    return f'{{"query":{json.dumps(query)},"variables":{variables_text}}}'.encode()


# --- checks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What came back for one request, as the checks see it."""

    status: int | None  # None: no answer at all (timeout or dropped connection)
    body: bytes
    seconds: float
    request_bytes: int


def error_problems(errors: Any) -> list[str]:
    """Problems of a list of GraphQL error objects: each needs a string `extensions.code`
    other than INTERNAL_SERVER_ERROR."""
    if errors is None:
        return []
    if not isinstance(errors, list):
        return [f"`errors` is not a list: {errors!r:.200}"]
    found = []
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        message = str(error.get("message") if isinstance(error, dict) else error)[:160]
        if not isinstance(code, str):
            found.append(f"error without extensions.code: {message!r}")
        elif code == INTERNAL:
            found.append(f"{INTERNAL}: {message!r}")
    return found


def result_problems(payload: Any) -> list[str]:
    """Problems of a decoded response body: one GraphQL result or a batch of them."""
    results = payload if isinstance(payload, list) else [payload]
    found = []
    for result in results:
        if isinstance(result, dict):
            found.extend(error_problems(result.get("errors")))
    return found


def answer_problems(answer: Answer) -> list[str]:
    """Every way `answer` breaks the issue's rules. A 4xx with a body that is not JSON (an
    HTTP-level refusal such as 405 or an unparsable body) carries no GraphQL error to check."""
    found = []
    if answer.status is None:
        found.append(f"no answer: {answer.body.decode(errors='replace')}")
    elif answer.status >= 500:
        found.append(f"HTTP {answer.status}")
    if answer.request_bytes < SMALL_REQUEST_BYTES and answer.seconds > SLOW_ANSWER_SECONDS:
        found.append(f"answered in {answer.seconds:.2f} s (limit {SLOW_ANSWER_SECONDS} s)")
    with contextlib.suppress(ValueError):
        found.extend(result_problems(json.loads(answer.body)))
    return found


def assert_clean(what: str, answer: Answer) -> None:
    """Fail (for hypothesis to shrink) when `answer` has any problem."""
    found = answer_problems(answer)
    if found:
        body = answer.body[:600].decode(errors="replace")
        raise AssertionError(f"{what}\n  problems: {found}\n  answer: HTTP {answer.status} {body}")


async def _timed(
    http: httpx.AsyncClient, method: str, path: str, body: bytes, headers: dict[str, str]
) -> Answer:
    start = time.perf_counter()
    try:
        response = await http.request(method, path, content=body or None, headers=headers)
    except httpx.TransportError as exc:
        return Answer(None, repr(exc).encode(), time.perf_counter() - start, len(body))
    except Exception as exc:
        return Answer(500, f"app raised {exc!r}".encode(), time.perf_counter() - start, len(body))
    return Answer(response.status_code, response.content, time.perf_counter() - start, len(body))


async def send(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Answer:
    """Send one request and time the answer.

    An exception escaping the in-process app is what a real server turns into HTTP 500, so it
    is reported as one; a real server that does not answer (timeout, dropped connection) gives
    status None. A small request answered slowly is sent once more and the faster time counts:
    a document that is slow to handle is slow twice, a stall of a loaded machine rarely is.
    """
    answer = await _timed(http, method, path, body, headers or {})
    if answer.request_bytes < SMALL_REQUEST_BYTES and answer.seconds > SLOW_ANSWER_SECONDS:
        again = await _timed(http, method, path, body, headers or {})
        answer = dataclasses.replace(answer, seconds=min(answer.seconds, again.seconds))
    return answer


async def post(
    http: httpx.AsyncClient, body: bytes, headers: dict[str, str] | None = None
) -> Answer:
    """`send` a JSON POST to /graphql."""
    return await send(
        http, "POST", "/graphql", body, {"content-type": "application/json", **(headers or {})}
    )


# --- callers and the fuzz tenant --------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]


@dataclass
class FuzzWorld:
    """A tenant the fuzz may change at will: its admin and key are the callers; a spare key and
    a spare employee are there to be rotated, revoked and deactivated."""

    tenant: Tenant
    spare_key_id: str
    spare_user_id: str
    callers: dict[str, Caller] = field(default_factory=dict)

    @property
    def shop_id(self) -> str:
        return str(self.tenant.shops[0].id)

    @property
    def machine_id(self) -> str:
        return self.tenant.machine_id

    def known_ids(self) -> list[str]:
        """Real ids of the tenant, so generated ids also hit existing records."""
        return [self.shop_id, self.machine_id, self.spare_key_id, self.spare_user_id]

    def caller_for(self, rule: Any) -> Caller:
        """The caller the permission `rule` lets in: ORG_ADMIN, else the API key, else nobody."""
        if Role.ORG_ADMIN in rule.roles:
            return self.callers["admin"]
        if rule.api_keys:
            return self.callers["api_key"]
        return self.callers["anonymous"]


CALLER_NAMES = ("anonymous", "admin", "api_key")


async def build_world(factory: Factory) -> FuzzWorld:
    tenant = await factory.tenant(shops=1, machines_per_shop=1)
    spare_key = await factory.issue_key(tenant, name="spare")
    spare_user, _ = await factory.user(tenant, Role.EMPLOYEE, [0])
    world = FuzzWorld(tenant, str(spare_key.api_key.id), str(spare_user.id))
    world.callers = {
        "anonymous": Caller("anonymous", {}),
        "admin": Caller("admin", {"Authorization": f"Bearer {tenant.admin_token}"}),
        "api_key": Caller("api_key", {"X-API-Key": tenant.api_key}),
    }
    return world


def fuzz_app_settings(settings_: Settings) -> Settings:
    """The test settings with throttles out of the way, so generated requests reach the
    operations instead of RATE_LIMITED (the throttles have their own tests)."""
    unlimited = 10**9
    return settings_.model_copy(
        update={
            "api_key_rate_burst": unlimited,
            "api_key_rate_per_second": float(unlimited),
            "login_account_burst": unlimited,
            "login_account_per_minute": float(unlimited),
            "login_address_burst": unlimited,
            "login_address_per_minute": float(unlimited),
        }
    )


@contextlib.asynccontextmanager
async def fuzz_client(settings_: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The in-process app under fuzz_app_settings, warmed up so the first timed request does
    not pay for building caches."""
    async with app_client(fuzz_app_settings(settings_)) as http:
        with cheap_password_hashing(), quiet_validation_log():
            await http.post("/graphql", json={"query": "{ __typename }"})
            yield http


@pytest.fixture(scope="module", name="world")
async def fuzz_world(client: httpx.AsyncClient, settings: Settings) -> FuzzWorld:
    """Fixture `world`, one per fuzz module that imports it."""
    return await build_world(Factory(client=client, settings=settings))


@pytest.fixture(scope="module", name="http")
async def fuzz_http(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """Fixture `http`, one per fuzz module that imports it: `fuzz_client` on the test database."""
    async with fuzz_client(settings) as client:
        yield client


@contextlib.contextmanager
def cheap_password_hashing() -> Iterator[None]:
    """argon2id at its lowest cost while the fuzz runs in-process. Login, createUser and
    acceptInvite hash on every call (about 0.4 s each at the production cost); the fuzz sends
    them hundreds of requests to test input handling, not the hash's cost, which
    bench/auth_overhead.py measures. The code paths stay the same."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth.passwords, "_hasher", cheap)
        patch.setattr(auth.passwords, "_DUMMY_HASH", cheap.hash("not-a-real-password"))
        yield


@contextlib.contextmanager
def quiet_validation_log() -> Iterator[None]:
    """Strawberry logs every error of every operation with its stack trace; under fuzz that is
    thousands of expected validation errors. Unexpected errors still reach the `cashcc.graphql`
    log (graph/errors.py) with their trace."""
    logger = logging.getLogger("strawberry.execution")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def fresh(prefix: str = "fuzz") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def describe(items: Iterable[str]) -> str:
    return "\n".join(f"  - {item}" for item in items)
