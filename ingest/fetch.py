"""Polite, defensive HTTP: robots.txt, per-host limits, size/type caps, redirect cap, SSRF guard.

Why a class around one ``httpx.AsyncClient``: limits and caches (per-host semaphores and delays,
robots.txt parsers) are shared by every request of a run. Redirects are followed by hand so that
every hop goes through the SSRF guard and robots.txt, and so that loops are named as such.
Every refusal is an exception with a ``reason`` label, counted by the caller.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from ingest.errors import PermanentError, TransientError
from ingest.settings import Settings
from ingest.warc import WarcArchive

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ROBOTS_MAX_BYTES = 500 * 1024  # what Google reads of a robots.txt
PDF_MAGIC = b"%PDF-"


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
    """A complete response body (status 200), or an empty 304 for a conditional GET."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]
    body: bytes
    content_type: str
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class _Redirect:
    location: str


class RobotsCache(Protocol):
    """robots.txt text per origin shared beyond one Fetcher (e.g. ``ingest.frontier.RobotsStore``)."""

    def get(self, origin: str) -> str | None: ...

    def put(self, origin: str, text: str) -> None: ...


class Fetcher:
    """Use as ``async with Fetcher(settings) as fetcher: await fetcher.get(url, accept=...)``."""

    def __init__(self, settings: Settings, *, robots_cache: RobotsCache | None = None) -> None:
        self.settings = settings
        self._shared_robots = robots_cache
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self.agent_token = settings.user_agent.split("/")[0]
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in settings.allowed_networks]
        self._global = asyncio.Semaphore(settings.concurrency)
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._host_locks: dict[str, asyncio.Lock] = {}
        self._next_at: dict[str, float] = {}
        self._robots: dict[str, tuple[Protego, float]] = {}
        self._warc = WarcArchive(settings.warc_dir) if settings.warc_dir else None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Fetcher:
        timeout = httpx.Timeout(self.settings.read_timeout, connect=self.settings.connect_timeout)
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False,
                                         headers={"User-Agent": self.settings.user_agent})
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def get(self, url: str, *, accept: Sequence[str], headers: Mapping[str, str] | None = None,
                  max_bytes: int | None = None) -> Fetched:
        """GET ``url`` following redirects by hand; raises ``FetchRefused`` / ``FetchFailed``."""
        return await self._follow(url, accept=accept, headers=headers or {},
                                  max_bytes=max_bytes or self.settings.max_bytes, robots=True)

    async def _follow(self, url: str, *, accept: Sequence[str], headers: Mapping[str, str],
                      max_bytes: int, robots: bool) -> Fetched:
        seen: set[str] = set()
        current = url
        for _hop in range(self.settings.max_redirects + 1):
            if current in seen:
                raise FetchRefused(f"redirect loop at {current} (from {url})", reason="redirect_loop")
            seen.add(current)
            await self._guard(current)
            if robots:
                await self._check_robots(current)
            outcome = await self._request(current, accept=accept, headers=headers, max_bytes=max_bytes)
            if isinstance(outcome, Fetched):
                return Fetched(url, outcome.final_url, outcome.status, outcome.headers, outcome.body,
                               outcome.content_type, outcome.fetched_at)
            current = urljoin(current, outcome.location)
        raise FetchRefused(f"more than {self.settings.max_redirects} redirects from {url}",
                           reason="too_many_redirects")

    async def _guard(self, url: str) -> None:
        """SSRF guard: every address the host resolves to must be public, or allow-listed."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchRefused(f"not an http(s) URL: {url}", reason="bad_url")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchFailed(f"cannot resolve {parts.hostname}: {exc}", reason="dns_error") from exc
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if is_restricted(address) and not any(address in net for net in self._allowed):
                raise FetchRefused(f"{parts.hostname} resolves to {address}, a non-public address "
                                   "(not in allowed_networks)", reason="blocked_address")

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
                cached = (Protego.parse(text), time.monotonic() + self.settings.robots_cache_ttl)
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
        async with self._slot(urlsplit(url).netloc):
            try:
                async with self._client.stream("GET", url, headers=dict(headers)) as response:
                    return await self._read(url, response, accept=accept, max_bytes=max_bytes)
            except httpx.TimeoutException as exc:
                raise FetchFailed(f"timeout fetching {url} ({type(exc).__name__})", reason="timeout") from exc
            except httpx.DecodingError as exc:
                raise FetchRefused(f"undecodable content-encoding from {url}", reason="bad_encoding") from exc
            except httpx.TransportError as exc:
                raise FetchFailed(f"network error fetching {url}: {type(exc).__name__}: {exc}",
                                  reason="connect_error") from exc

    async def _read(self, url: str, response: httpx.Response, *, accept: Sequence[str],
                    max_bytes: int) -> Fetched | _Redirect:
        status = response.status_code
        if status in REDIRECT_STATUSES and response.headers.get("location"):
            return _Redirect(response.headers["location"])
        check_status(url, response)
        content_type = response.headers.get("content-type", "")
        check_content_type(url, content_type, accept)
        check_declared_length(url, response.headers, max_bytes)
        body = await read_capped(url, response.aiter_bytes(), max_bytes)
        if body.startswith(PDF_MAGIC) and accept and "application/pdf" not in accept:
            raise FetchRefused(f"{url} is a PDF document", reason="content_type")
        headers = dict(response.headers)
        if self._warc is not None and status == 200:
            self._warc.write_response(str(response.url), status, headers, body)
        return Fetched(url, str(response.url), status, headers, body, mime_type(content_type))

    @asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[None]:
        """Per-host concurrency and minimum delay between request starts, then the global limit."""
        slot = self._host_slots.setdefault(host, asyncio.Semaphore(self.settings.per_host_concurrency))
        lock = self._host_locks.setdefault(host, asyncio.Lock())
        async with slot:
            async with lock:
                wait = self._next_at.get(host, 0.0) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._next_at[host] = time.monotonic() + self.settings.per_host_delay
            async with self._global:
                yield


def is_restricted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local, multicast, reserved or unspecified (also IPv4-mapped IPv6)."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return (address.is_loopback or address.is_private or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified)


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
    if length.isdigit() and int(length) > max_bytes:
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
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
