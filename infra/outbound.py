"""HTTP requests to URLs our customers choose (webhooks), safe against SSRF.

A URL chosen by a customer must not reach our own network: loopback, private, link-local,
multicast or reserved addresses (the cloud metadata service at 169.254.169.254 among them).
Checking the name is not enough (a public name can resolve to 10.0.0.5), and checking the
resolution and then letting the HTTP client resolve again is not either (DNS rebinding: the
second answer differs). So `resolve_target` resolves the host once, checks *every* address it
got, and `post` connects to the first checked address itself: the URL it sends carries the
address, the `Host` header and TLS (SNI and certificate verification, httpcore's
`sni_hostname` request extension) carry the name.

Other limits: one total deadline per request, no redirects followed (a 3xx is an answer like
any other), at most `MAX_RESPONSE_BYTES` of the answer read, no proxies from the environment
(a proxy would resolve the name again), and no connection reuse (httpcore pools connections
by address: a connection verified for one name must not carry a request for another).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import httpx

MAX_URL_LENGTH = 2048
MAX_RESPONSE_BYTES = 4096
RESOLVE_TIMEOUT_SECONDS = 5.0
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
USER_AGENT = "CashCommandCenter-Webhooks/1"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


class UrlRefused(Exception):
    """The URL cannot be used. `policy`: it is a URL, but one the policy forbids (a private
    address, plain http in production); otherwise it is not a usable URL at all."""

    def __init__(self, reason: str, *, policy: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.policy = policy


class RequestFailed(Exception):
    """No HTTP answer: refused connection, TLS failure, timeout. `reason` is short and
    names no secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class UrlPolicy:
    require_https: bool
    allow_private: bool


@dataclass(frozen=True)
class Target:
    """Where a request goes: the URL's parts, and the checked address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str
    host_is_address: bool

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def pinned_url(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.path}"


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str


def address_problem(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address, or None when it is. IPv4 addresses
    embedded in IPv6 ones (mapped, NAT64, 6to4) are judged as the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_problem(embedded)
        if address.is_site_local:
            return "site-local"
    for problem, found in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if found:
            return problem
    return None if address.is_global else "not public"


def _a(problem: str) -> str:
    return ("an " if problem[0] in "aeiou" else "a ") + problem


def _parse(url: str, policy: UrlPolicy) -> tuple[str, str, int, str]:
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"at most {MAX_URL_LENGTH} characters", policy=False)
    if not url.isascii() or not url.isprintable() or " " in url or "\\" in url:
        raise UrlRefused(
            "printable ASCII only: write the host in its xn-- form and percent-encode the path",
            policy=False,
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("must start with https://", policy=False)
    if "@" in parts.netloc:
        raise UrlRefused("must not hold credentials (user@): deliveries are signed", policy=False)
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UrlRefused(f"bad host or port ({exc})", policy=False) from exc
    if not host:
        raise UrlRefused("has no host", policy=False)
    if scheme == "http" and policy.require_https:
        raise UrlRefused("must use https", policy=True)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), path


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`, in its order, without repeats."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: str, policy: UrlPolicy) -> None:
    """The checks that need no network (shape, scheme, an address written in the URL)."""
    _, host, _, _ = _parse(url, policy)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return
    problem = address_problem(literal)
    if problem and not policy.allow_private:
        raise UrlRefused(f"{host} is {_a(problem)} address", policy=True)


async def resolve_target(
    url: str, policy: UrlPolicy, *, resolver: Resolver = system_resolver
) -> Target:
    """Parse `url`, resolve its host once and check every address; raises UrlRefused."""
    scheme, host, port, path = _parse(url, policy)
    try:
        addresses = [str(ipaddress.ip_address(host))]
        host_is_address = True
    except ValueError:
        host_is_address = False
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                addresses = await resolver(host, port)
        except (OSError, UnicodeError, TimeoutError) as exc:
            raise UrlRefused(f"host {host} does not resolve", policy=False) from exc
    if not addresses:
        raise UrlRefused(f"host {host} does not resolve", policy=False)
    if not policy.allow_private:
        for address in addresses:
            try:
                problem = address_problem(ipaddress.ip_address(address))
            except ValueError:
                problem = "unparseable"
            if problem:
                shown = host if host_is_address else f"{host} resolves to {address}, which"
                raise UrlRefused(f"{shown} is {_a(problem)} address", policy=True)
    return Target(scheme, host, port, path, addresses[0], host_is_address)


@cache
def default_ssl_context() -> ssl.SSLContext:
    """httpx's default verification context, built once (loading the CA bundle is slow)."""
    return httpx.create_ssl_context()


async def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    seconds: float,
    ssl_context: ssl.SSLContext | None = None,
) -> Answer:
    """POST `body` to the checked address of `target` within `seconds` in total;
    the status and the first `MAX_RESPONSE_BYTES` of the answer. Raises RequestFailed."""
    sent = {
        **headers,
        "Host": target.host_header,
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
    }
    tls_name = target.scheme == "https" and not target.host_is_address
    extensions = {"sni_hostname": target.host} if tls_name else {}
    client = httpx.AsyncClient(
        verify=ssl_context or default_ssl_context(),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(seconds),
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    try:
        async with asyncio.timeout(seconds), client:
            request = client.build_request(
                "POST", target.pinned_url, content=body, headers=sent, extensions=extensions
            )
            response = await client.send(request, stream=True)
            try:
                kept = bytearray()
                async for chunk in response.aiter_raw():
                    kept += chunk
                    if len(kept) >= MAX_RESPONSE_BYTES:
                        break
            finally:
                await response.aclose()
    except TimeoutError as exc:
        raise RequestFailed(f"no answer within {seconds:g} s") from exc
    except httpx.TimeoutException as exc:
        raise RequestFailed(f"no answer within {seconds:g} s") from exc
    except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
        raise RequestFailed(_reason(exc)) from exc
    excerpt = bytes(kept[:MAX_RESPONSE_BYTES]).decode("utf-8", "replace")
    return Answer(status=response.status_code, excerpt=excerpt)


def _reason(exc: BaseException) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"connection failed: {detail}"[:200]
    return f"{type(exc).__name__}: {detail}"[:200]
