"""Polite, defensive HTTP: robots.txt, per-host limits, size/type caps, redirect cap, SSRF guard.

Why a class around one ``httpx.AsyncClient``: limits and caches (per-host semaphores and delays,
robots.txt parsers) are shared by every request of a run. Redirects are followed by hand so that
every hop goes through the SSRF guard and robots.txt, and so that loops are named as such.
Every refusal is an exception with a ``reason`` label, counted by the caller.

The per-host delay is paced at the moment the request headers go on the wire (httpx's ``trace``
extension, awaited by httpcore just before it writes them), not when a request is scheduled:
whatever comes between (opening a connection, the first use of a client, an event loop blocked by
a synchronous call) would otherwise eat into the delay, and the next request to that host would
reach the server too soon.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit

import httpcore
import httpx
from protego import Protego

from ingest.errors import PermanentError, TransientError
from ingest.settings import Settings
from ingest.urls import BadURL, validate_url
from ingest.warc import WarcArchive

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ROBOTS_MAX_BYTES = 500 * 1024  # what Google reads of a robots.txt
PDF_MAGIC = b"%PDF-"
# The only content codings we ask for and decode (ourselves, incrementally, under the byte cap).
ACCEPT_ENCODING = "gzip, deflate"
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


class FetchRefused(PermanentError):
    """We will not fetch this (blocked address, robots.txt, type, size, redirects, 4xx)."""

    reason = "fetch_refused"


class FetchFailed(TransientError):
    """The fetch failed in a way a later attempt may fix (timeout, 5xx, 429, DNS)."""

    reason = "fetch_failed"

    def __init__(self, message: str, *, reason: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fetched:
    """A complete response body (status 200), or an empty 304 for a conditional GET.

    ``moved_to``: where ``url`` permanently lives now (the target of its leading 301/308 hops;
    empty when the first hop was temporary or there was none): a poller stores it as the feed's URL.
    """

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    content_type: str
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    moved_to: str = ""


@dataclass(frozen=True)
class _Redirect:
    location: str
    status: int


PERMANENT_REDIRECTS = frozenset({301, 308})
HostGate = Callable[[str], Awaitable[None]]


class RobotsCache(Protocol):
    """robots.txt text per origin shared beyond one Fetcher (e.g. ``ingest.frontier.RobotsStore``)."""

    def get(self, origin: str) -> str | None: ...

    def put(self, origin: str, text: str) -> None: ...


# Earliest monotonic time of the next request start per host, shared by every Fetcher of this
# process: a pass polls many feeds of one host one after another, each with its own Fetcher, and the
# per-host delay must hold between them too. Across processes the frontier's host lease carries it
# (``hold_host`` on taking a lease, ``host_free_at`` on giving it back).
_HOST_NEXT_AT: dict[str, float] = {}


def hold_host(host: str, not_before: float) -> None:
    """No request to ``host`` from this process before ``not_before`` (wall clock, ``time.time()``):
    what the previous lease holder, maybe another process, left."""
    at = time.monotonic() + (not_before - time.time())
    _HOST_NEXT_AT[host] = max(_HOST_NEXT_AT.get(host, 0.0), at)


def host_free_at(host: str) -> float:
    """Wall-clock time from which this process's pacing lets the next request to ``host`` start."""
    return time.time() + max(0.0, _HOST_NEXT_AT.get(host, 0.0) - time.monotonic())


class Fetcher:
    """Use as ``async with Fetcher(settings) as fetcher: await fetcher.get(url, accept=...)``."""

    def __init__(self, settings: Settings, *, deadline: float | None = None,
                 resolver: Resolver | None = None, robots_cache: RobotsCache | None = None,
                 gate: HostGate | None = None) -> None:
        """``deadline``: total seconds for everything this fetcher does (one source's poll);
        ``resolver``: host, port -> addresses (the system's by default); ``robots_cache``: robots.txt
        shared by every worker (the frontier's, in Elasticsearch); ``gate``: awaited once per host
        before its first request (the host lease across workers; it raises ``FetchFailed`` to keep
        the fetcher off a host another worker holds, e.g. a redirect target)."""
        self.settings = settings
        self._deadline_at = time.monotonic() + deadline if deadline is not None else None
        self._resolve = resolver or system_resolver
        self._pins: dict[tuple[str, int], str] = {}
        self._shared_robots = robots_cache
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self.agent_token = settings.fetch.user_agent.split("/")[0]
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in settings.fetch.allowed_networks]
        self._global = asyncio.Semaphore(settings.fetch.concurrency)
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._host_locks: dict[str, asyncio.Lock] = {}
        self._gate = gate
        self._entered: dict[str, asyncio.Task[None]] = {}
        self._next_at = _HOST_NEXT_AT
        self._robots: dict[str, tuple[Protego, float]] = {}
        self._warc = WarcArchive(settings.files.warc_dir) if settings.files.warc_dir else None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Fetcher:
        timeout = httpx.Timeout(self.settings.fetch.read_timeout, connect=self.settings.fetch.connect_timeout)
        transport = httpx.AsyncHTTPTransport(trust_env=False, verify=tls_context())
        pin_transport(transport, self._pins)
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False,
                                         transport=transport,
                                         headers={"User-Agent": self.settings.fetch.user_agent,
                                                  "Accept-Encoding": ACCEPT_ENCODING})
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def get(self, url: str, *, accept: Sequence[str], headers: Mapping[str, str] | None = None,
                  max_bytes: int | None = None) -> Fetched:
        """GET ``url`` following redirects by hand; raises ``FetchRefused`` / ``FetchFailed``."""
        return await self._follow(url, accept=accept, headers=headers or {},
                                  max_bytes=max_bytes or self.settings.fetch.max_bytes, robots=True)

    async def _follow(self, url: str, *, accept: Sequence[str], headers: Mapping[str, str],
                      max_bytes: int, robots: bool) -> Fetched:
        seen: set[str] = set()
        current, moved_to, permanent = url, "", True
        for _hop in range(self.settings.fetch.max_redirects + 1):
            if current in seen:
                raise FetchRefused(f"redirect loop at {current} (from {url})", reason="redirect_loop")
            seen.add(current)
            await self._guard(current)
            await self._enter(urlsplit(current).netloc)  # before robots.txt: it is a request too
            if robots:
                await self._check_robots(current)
            outcome = await self._request(current, accept=accept, headers=headers, max_bytes=max_bytes)
            if isinstance(outcome, Fetched):
                return Fetched(url, outcome.final_url, outcome.status, outcome.headers, outcome.body,
                               outcome.content_type, outcome.fetched_at, moved_to)
            try:
                current = validate_url(outcome.location, current)
            except BadURL as exc:
                raise FetchRefused(f"{current} redirects to an unusable Location: {exc}",
                                   reason="bad_redirect") from exc
            permanent = permanent and outcome.status in PERMANENT_REDIRECTS
            moved_to = current if permanent else moved_to
        raise FetchRefused(f"more than {self.settings.fetch.max_redirects} redirects from {url}",
                           reason="too_many_redirects")

    async def _guard(self, url: str) -> None:
        """SSRF guard: every address the host resolves to must be public, or allow-listed; the
        connection is then pinned to a checked address (no second lookup: DNS rebinding)."""
        try:
            parsed = httpx.URL(validate_url(url))
        except BadURL as exc:
            raise FetchRefused(str(exc), reason="bad_url") from exc
        host = parsed.raw_host.decode("ascii").lower()
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            answers = await self._resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise FetchFailed(f"cannot resolve {host}: {exc}", reason="dns_error") from exc
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in answers]
        if not addresses:
            raise FetchFailed(f"{host} resolves to no address", reason="dns_error")
        for address in addresses:
            if is_restricted(address) and not is_allowed(address, self._allowed):
                raise FetchRefused(f"{host} resolves to {address}, a non-public address "
                                   "(not in allowed_networks)", reason="blocked_address")
        self._pins[(host, port)] = str(addresses[0])

    async def _check_robots(self, url: str) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        async with self._robots_locks.setdefault(origin, asyncio.Lock()):  # one fetch per origin
            cached = self._robots.get(origin)
            if cached is None or cached[1] < time.monotonic():
                text = self._shared_robots.get(origin) if self._shared_robots is not None else None
                if text is None:
                    text = await self._load_robots(origin)
                    if self._shared_robots is not None:
                        self._shared_robots.put(origin, text)
                cached = (Protego.parse(text), time.monotonic() + self.settings.fetch.robots_cache_ttl)
                self._robots[origin] = cached
        if not cached[0].can_fetch(url, self.agent_token):
            raise FetchRefused(f"robots.txt of {origin} disallows {url}", reason="robots_disallowed")

    async def _load_robots(self, origin: str) -> str:
        """robots.txt text; 4xx means "no rules", 5xx/unreachable means "try later" (as Google does)."""
        try:
            fetched = await self._follow(f"{origin}/robots.txt", accept=(), headers={},
                                         max_bytes=ROBOTS_MAX_BYTES, robots=False)
        except FetchRefused as exc:
            if exc.reason.startswith("http_4") or exc.reason in ("too_large", "too_many_redirects"):
                return ""
            raise
        except FetchFailed as exc:
            raise FetchFailed(f"robots.txt of {origin} unavailable: {exc}", reason="robots_unavailable",
                              retry_after=exc.retry_after) from exc
        return fetched.body.decode("utf-8", errors="replace")

    async def _request(self, url: str, *, accept: Sequence[str], headers: Mapping[str, str],
                       max_bytes: int) -> Fetched | _Redirect:
        assert self._client is not None, "use Fetcher as an async context manager"
        host = urlsplit(url).netloc
        async with self._slot(host):
            budget = self._budget(url)
            try:
                async with asyncio.timeout(budget):
                    async with self._client.stream("GET", url, headers=dict(headers),
                                                   extensions={"trace": self._pacer(host)}) as response:
                        return await self._read(url, response, accept=accept, max_bytes=max_bytes)
            except TimeoutError as exc:
                raise FetchFailed(f"{url} not complete within its {budget:.0f}s deadline",
                                  reason="deadline") from exc
            except httpx.TimeoutException as exc:
                raise FetchFailed(f"timeout fetching {url} ({type(exc).__name__})", reason="timeout") from exc
            except (httpx.InvalidURL, httpx.RemoteProtocolError) as exc:
                # The request URL passed validate_url, so this is httpx parsing a redirect's Location.
                if isinstance(exc, httpx.InvalidURL) or str(exc).startswith("Invalid URL in location"):
                    raise FetchRefused(f"{url} redirects to an unusable Location: {exc}",
                                       reason="bad_redirect") from exc
                raise FetchFailed(f"protocol error fetching {url}: {exc}", reason="connect_error") from exc
            except httpx.DecodingError as exc:
                raise FetchRefused(f"undecodable content-encoding from {url}", reason="bad_encoding") from exc
            except httpx.TransportError as exc:
                raise FetchFailed(f"network error fetching {url}: {type(exc).__name__}: {exc}",
                                  reason="connect_error") from exc

    def _budget(self, url: str) -> float:
        """Seconds this request may take: the per-request deadline, within the fetcher's own."""
        budget = self.settings.fetch.request_deadline
        if self._deadline_at is not None:
            left = self._deadline_at - time.monotonic()
            if left <= 0:
                raise FetchFailed(f"source deadline passed before fetching {url}", reason="source_deadline")
            budget = min(budget, left)
        return budget

    async def _read(self, url: str, response: httpx.Response, *, accept: Sequence[str],
                    max_bytes: int) -> Fetched | _Redirect:
        status = response.status_code
        if status in REDIRECT_STATUSES and response.headers.get("location"):
            return _Redirect(response.headers["location"], status)
        check_status(url, response)
        content_type = response.headers.get("content-type", "")
        check_content_type(url, content_type, accept)
        check_declared_length(url, response.headers, max_bytes)
        decoder = CappedDecoder(url, response.headers.get("content-encoding", ""), max_bytes)
        body = await read_capped(url, decoder.decode_all(response.aiter_raw()), max_bytes)
        if body.startswith(PDF_MAGIC) and accept and "application/pdf" not in accept:
            raise FetchRefused(f"{url} is a PDF document", reason="content_type")
        headers = dict(response.headers)
        if self._warc is not None and status == 200:
            self._warc.write_response(str(response.url), status, headers, body)
        return Fetched(url, str(response.url), status, headers, body, mime_type(content_type))

    async def _enter(self, host: str) -> None:
        """The gate, once per host (every request to the host waits for that one call)."""
        if self._gate is None:
            return
        if host not in self._entered:
            self._entered[host] = asyncio.ensure_future(self._gate(host))
        await asyncio.shield(self._entered[host])

    @asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[None]:
        """Per-host concurrency, then the global limit (the per-host delay is ``_pacer``'s)."""
        slot = self._host_slots.setdefault(host, asyncio.Semaphore(self.settings.fetch.per_host_concurrency))
        async with slot, self._global:
            yield

    def _pacer(self, host: str) -> Callable[[str, Mapping[str, object]], Awaitable[None]]:
        """httpcore trace hook: just before the request headers are written, wait until the host's
        next allowed start, then move it ``per_host_delay`` on (see the module docstring)."""
        lock = self._host_locks.setdefault(host, asyncio.Lock())

        async def trace(event: str, info: Mapping[str, object]) -> None:
            if not event.endswith("send_request_headers.started"):
                return
            async with lock:
                wait = self._next_at.get(host, 0.0) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._next_at[host] = time.monotonic() + self.settings.fetch.per_host_delay

        return trace


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one loads the CA bundle (~50 ms), and every
    poll opens its own Fetcher."""
    return httpx.create_ssl_context(trust_env=False)


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's addresses for ``host`` (one lookup; the guard pins the answer)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries: IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64.

    Why: ``2002:7f00:1::`` (6to4) or ``64:ff9b::a9fe:a9fe`` (NAT64) reach the wrapped IPv4 host
    through a relay, and Python calls some of these forms global.
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address | None] = [address.ipv4_mapped, address.sixtofour]
    if address.teredo:
        found.extend(address.teredo)
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def is_restricted(address: Address) -> bool:
    """Anything not globally routable (``is_global``), multicast, site-local, shared (100.64/10),
    and every IPv6 form that wraps such an IPv4 address."""
    inner = embedded_ipv4(address)
    if any(is_restricted(i) for i in inner):
        return True
    if isinstance(address, ipaddress.IPv6Address) and (address.ipv4_mapped or address in NAT64):
        return False  # only a translation of the (public) IPv4 address; Python files these as reserved
    if not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return True
    return isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE


def is_allowed(address: Address, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Allow-listed: the address, or the IPv4 address it wraps, lies in one of ``networks``."""
    candidates = [address, *embedded_ipv4(address)]
    return any(a in net for a in candidates for net in networks if a.version == net.version)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the address the SSRF guard checked for (host, port), never to a fresh lookup.

    TLS (SNI, certificate check) and the Host header still use the name: only the TCP connect
    target changes. A host the guard has not checked is refused.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend, pins: Mapping[tuple[str, int], str]) -> None:
        self._inner, self._pins = inner, pins

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[object] | None = None) -> httpcore.AsyncNetworkStream:
        address = self._pins.get((host.lower(), port))
        if address is None:
            raise httpcore.ConnectError(f"{host}:{port} was not checked by the SSRF guard")
        return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                             socket_options=socket_options)  # type: ignore[arg-type]

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[object] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pin_transport(transport: httpx.AsyncHTTPTransport, pins: Mapping[tuple[str, int], str]) -> None:
    """Route the transport's TCP connects through ``pins`` (httpx exposes no backend parameter)."""
    pool = transport._pool  # the one place we reach into httpx
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpx/httpcore changed: cannot pin connections to checked addresses")
    pool._network_backend = _PinnedBackend(pool._network_backend, pins)


class CappedDecoder:
    """Undo one ``Content-Encoding`` incrementally, never producing more than the byte cap.

    Why not httpx's decoders: they inflate each network chunk whole, so 10 KB of ``gzip, gzip``
    becomes gigabytes before any cap is checked. Stacked or unknown codings are refused.
    """

    def __init__(self, url: str, content_encoding: str, max_bytes: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1:
            raise FetchRefused(f"{url} stacks content codings ({content_encoding})",
                               reason="stacked_encoding")
        coding = codings[0] if codings else ""
        if coding not in ("", "gzip", "x-gzip", "deflate"):
            raise FetchRefused(f"{url} uses content coding {coding!r}", reason="bad_encoding")
        self.url, self.coding, self.max_bytes, self.produced = url, coding, max_bytes, 0
        self._zlib: zlib._Decompress | None = None
        if coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)

    async def decode_all(self, raw: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in raw:
            yield self.decode(chunk)

    def decode(self, chunk: bytes) -> bytes:
        if not self.coding:
            return chunk
        if self._zlib is None:  # deflate: zlib-wrapped as specified, raw as some servers send
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if chunk[:1] == b"\x78" else -zlib.MAX_WBITS)
        try:
            out = self._zlib.decompress(chunk, self.max_bytes - self.produced + 1)
        except zlib.error as exc:
            raise FetchRefused(f"undecodable {self.coding} body from {self.url}",
                               reason="bad_encoding") from exc
        self.produced += len(out)
        if self._zlib.unconsumed_tail or self.produced > self.max_bytes:
            raise FetchRefused(f"{self.url} inflates past the {self.max_bytes}-byte cap", reason="too_large")
        return out


def check_status(url: str, response: httpx.Response) -> None:
    """2xx and 304 pass; 429/5xx are transient (with Retry-After); other codes are permanent."""
    status = response.status_code
    if status == 304 or 200 <= status < 300:
        return
    reason = f"http_{status}"
    if status == 429 or status >= 500:
        raise FetchFailed(f"{url} answered {status}", reason=reason,
                          retry_after=retry_after_seconds(response.headers.get("retry-after", "")))
    raise FetchRefused(f"{url} answered {status}", reason=reason)


def check_content_type(url: str, content_type: str, accept: Sequence[str]) -> None:
    """Refuse a declared type outside the allow-list (an empty allow-list accepts anything)."""
    mime = mime_type(content_type)
    if accept and mime and mime not in accept:
        raise FetchRefused(f"{url} is {mime}, not one of {', '.join(accept)}", reason="content_type")


def check_declared_length(url: str, headers: Mapping[str, str], max_bytes: int) -> None:
    length = headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > max_bytes:  # not "²": int() refuses it
        raise FetchRefused(f"{url} declares {length} bytes, over the {max_bytes}-byte cap",
                           reason="too_large")


async def read_capped(url: str, chunks: AsyncIterator[bytes], max_bytes: int) -> bytes:
    """Read a streamed (decompressed) body, stopping as soon as it passes ``max_bytes``."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer.extend(chunk)
        if len(buffer) > max_bytes:
            raise FetchRefused(f"{url} body exceeds the {max_bytes}-byte cap", reason="too_large")
    return bytes(buffer)


def mime_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def retry_after_seconds(value: str, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now (delta-seconds or an HTTP date); ``None`` when absent."""
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
