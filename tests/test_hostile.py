"""Hostile servers on loopback: compression bombs, slowloris, bad redirects, SSRF and DNS rebinding.

Each test runs the real ``Fetcher`` (httpx over real sockets) against a server written to attack
it, and checks the refusal's reason and, where it matters, what the server side saw.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import pytest
from servers import HTML, LoopbackServer, Route

from ingest.fetch import Fetched, Fetcher, FetchFailed, FetchRefused, Resolver, is_restricted
from ingest.settings import Settings, load_settings

ROBOTS = Route(200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n")
PAGE = "<html><body><p>مرحبا بالعالم</p></body></html>".encode()


def cfg(**overrides: object) -> Settings:
    values: dict[str, object] = {"allowed_networks": ["127.0.0.0/8"], "per_host_delay": 0.0,
                                 "read_timeout": 5.0, "connect_timeout": 5.0}
    values.update(overrides)
    return load_settings(**values)


def get(settings: Settings, url: str, *, resolver: Resolver | None = None,
        deadline: float | None = None) -> Fetched:
    async def run() -> Fetched:
        async with Fetcher(settings, resolver=resolver, deadline=deadline) as fetcher:
            return await fetcher.get(url, accept=("text/html",))
    return asyncio.run(run())


def reason_of(settings: Settings, url: str, **kw: object) -> str:
    with pytest.raises((FetchRefused, FetchFailed)) as err:
        get(settings, url, **kw)  # type: ignore[arg-type]
    return err.value.reason


@pytest.fixture
def site() -> Iterator[LoopbackServer]:
    with LoopbackServer({"/robots.txt": ROBOTS}) as server:
        yield server


def _gzip_stream(zeros: int) -> bytes:
    """gzip of ``zeros`` zero bytes, built chunk by chunk (never holding the inflated data)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [comp.compress(block) for _ in range(zeros // len(block))]
    return b"".join(parts) + comp.flush()


# --- bounded decoding -------------------------------------------------------------------------

def test_gzip_and_deflate_bodies_are_decoded(site: LoopbackServer) -> None:
    site.routes["/gz.html"] = Route(200, {**HTML, "Content-Encoding": "gzip"}, gzip.compress(PAGE))
    site.routes["/df.html"] = Route(200, {**HTML, "Content-Encoding": "deflate"}, zlib.compress(PAGE))
    assert get(cfg(), site.url("/gz.html")).body == PAGE
    assert get(cfg(), site.url("/df.html")).body == PAGE
    assert site.requests[-1].headers["accept-encoding"] == "gzip, deflate"


def test_stacked_gzip_bomb_is_refused_without_inflating(site: LoopbackServer) -> None:
    """10 KB on the wire that would inflate to 200 MB after two gzip layers."""
    wire = gzip.compress(_gzip_stream(200 * 1024 * 1024))
    assert len(wire) < 10 * 1024
    site.routes["/bomb.html"] = Route(200, {**HTML, "Content-Encoding": "gzip, gzip"}, wire)
    tracemalloc.start()
    try:
        assert reason_of(cfg(), site.url("/bomb.html")) == "stacked_encoding"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024


def test_single_layer_bomb_is_cut_at_the_cap_while_inflating(site: LoopbackServer) -> None:
    """A 100 MB gzip bomb (about 100 KB on the wire) against a 1 MB cap: memory stays near the cap."""
    bomb = _gzip_stream(100 * 1024 * 1024)
    site.routes["/bomb.html"] = Route(200, {**HTML, "Content-Encoding": "gzip"}, bomb)
    tracemalloc.start()
    try:
        assert reason_of(cfg(max_bytes=1024 * 1024), site.url("/bomb.html")) == "too_large"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024  # the cap plus buffers; an unbounded decode would be ~100 MB


def test_unknown_or_corrupt_coding_is_refused(site: LoopbackServer) -> None:
    site.routes["/br.html"] = Route(200, {**HTML, "Content-Encoding": "br"}, b"\x0b\x02\x80")
    site.routes["/bad.html"] = Route(200, {**HTML, "Content-Encoding": "gzip"}, b"not gzip at all")
    assert reason_of(cfg(), site.url("/br.html")) == "bad_encoding"
    assert reason_of(cfg(), site.url("/bad.html")) == "bad_encoding"


# --- deadlines ---------------------------------------------------------------------------------

def serve_in_thread(sock: socket.socket, handle: Callable[[socket.socket], None]) -> None:
    """Accept connections on ``sock`` in a daemon thread until it is closed; one thread each."""
    def loop() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()


class Slowloris:
    """Answers robots.txt normally, then drips an article one byte every 0.2 s (each read is
    quick, so only a total deadline can stop it). Records when the client hung up."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.bytes_dripped = 0
        self.client_gone = threading.Event()
        serve_in_thread(self.sock, self._one)

    def _one(self, conn: socket.socket) -> None:
        with conn:
            request = conn.recv(65536)
            if b"/robots.txt" in request.split(b"\r\n", 1)[0]:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n")
            try:
                while True:
                    conn.sendall(b"x")
                    self.bytes_dripped += 1
                    time.sleep(0.2)
            except OSError:
                self.client_gone.set()

    def close(self) -> None:
        self.sock.close()


@pytest.mark.slow
def test_one_byte_at_a_time_is_cut_off_by_the_request_deadline() -> None:
    server = Slowloris()
    try:
        reason = reason_of(cfg(request_deadline=1.5, read_timeout=5.0),
                           f"http://127.0.0.1:{server.port}/slow.html")
        assert reason == "deadline"
        assert server.client_gone.wait(10), "the fetcher never closed the dripping connection"
        assert server.bytes_dripped < 100000
    finally:
        server.close()


@pytest.mark.slow
def test_source_deadline_bounds_a_chain_of_slow_answers(site: LoopbackServer) -> None:
    """Each hop answers after 0.4 s (well within the per-request deadline); the source's total
    budget of 1 s stops the chain before its end."""
    for n in range(5):
        site.routes[f"/hop{n}"] = Route(302, {"Location": f"/hop{n + 1}"}, delay=0.4)
    site.routes["/hop5"] = Route(200, HTML, PAGE)
    assert get(cfg(max_redirects=10), site.url("/hop0")).body == PAGE  # no source deadline: completes
    reason = reason_of(cfg(max_redirects=10), site.url("/hop0"), deadline=1.0)
    assert reason in ("source_deadline", "deadline")
    assert site.hits("/hop5") == 1  # only the unbounded run reached the end


# --- URLs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("location", ["http://[::1", "http://example.org:99999/", "javascript:alert(1)",
                                      "http://exa mple.org/", "https:///nohost", "ftp://a.example/"])
def test_bad_redirect_location_is_a_reason_not_a_traceback(site: LoopbackServer, location: str) -> None:
    site.routes["/r"] = Route(302, {"Location": location})
    assert reason_of(cfg(), site.url("/r")) == "bad_redirect"


# --- SSRF -------------------------------------------------------------------------------------

@pytest.mark.parametrize("address", [
    "100.64.0.1", "100.100.100.200",  # shared address space, incl. a cloud metadata address
    "2002:7f00:1::1", "2002:a9fe:a9fe::1",  # 6to4 wrapping loopback / link-local
    "fec0::1",  # site-local
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",  # NAT64 of loopback / metadata
    "::ffff:127.0.0.1", "::ffff:10.0.0.1",  # IPv4-mapped
    "::127.0.0.1",  # IPv4-compatible
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo (client 127.0.0.1)
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "::1", "fe80::1",
    "fc00::1", "ff02::1", "ff0e::1", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.1",
])
def test_every_not_globally_routable_address_is_restricted(address: str) -> None:
    assert is_restricted(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111",
                                     "64:ff9b::808:808", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert not is_restricted(ipaddress.ip_address(address))


class Victim:
    """A listener standing in for an internal service: counts every TCP connection it accepts."""

    def __init__(self, host: str, port: int = 0) -> None:
        self.sock = socket.create_server((host, port))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        serve_in_thread(self.sock, self._count)

    def _count(self, conn: socket.socket) -> None:
        self.connections += 1
        conn.close()

    def close(self) -> None:
        self.sock.close()


def fixed(*answers: str) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return list(answers)
    return resolve


def test_name_resolving_to_a_forbidden_address_never_connects() -> None:
    victim = Victim("127.0.0.3")
    try:
        for answer in ("127.0.0.3", "::ffff:127.0.0.3"):
            reason = reason_of(cfg(allowed_networks=["127.0.0.2/32"]), f"http://intranet.test:{victim.port}/",
                               resolver=fixed(answer))
            assert reason == "blocked_address"
        assert reason_of(cfg(allowed_networks=["127.0.0.2/32"]), f"http://intranet.test:{victim.port}/",
                         resolver=fixed("127.0.0.2", "127.0.0.3")) == "blocked_address"  # any answer
        assert victim.connections == 0
    finally:
        victim.close()


def test_dns_rebinding_connection_goes_to_the_checked_address() -> None:
    """The guard's lookup says 127.0.0.2 (allow-listed); a second lookup of ``localhost`` (what
    httpx would do on its own) says 127.0.0.1, where the victim listens on the same port."""
    good = LoopbackServer({"/robots.txt": ROBOTS, "/a.html": Route(200, HTML, PAGE)}, host="127.0.0.2")
    with good:
        victim = Victim("127.0.0.1", good.port)
        try:
            fetched = get(cfg(allowed_networks=["127.0.0.2/32"]), f"http://localhost:{good.port}/a.html",
                          resolver=fixed("127.0.0.2"))
            assert fetched.body == PAGE
            assert good.requests[-1].headers["host"] == f"localhost:{good.port}"  # the name is kept
            assert victim.connections == 0
        finally:
            victim.close()


def test_rebinding_between_hops_is_caught_on_the_next_hop(site: LoopbackServer) -> None:
    """First answer allowed, then the name rebinds to a forbidden address: the redirect hop to
    the same name is checked again and refused, and the victim sees nothing."""
    victim = Victim("127.0.0.3")
    answers = iter(["127.0.0.1", "127.0.0.1", "127.0.0.3"])

    async def rebinding(host: str, port: int) -> list[str]:
        return [next(answers)]

    site.routes["/start"] = Route(302, {"Location": f"http://news.test:{victim.port}/next"})
    try:
        reason = reason_of(cfg(allowed_networks=["127.0.0.1/32"]),
                           f"http://news.test:{site.port}/start", resolver=rebinding)
        assert reason == "blocked_address"
        assert site.hits("/start") == 1 and victim.connections == 0
    finally:
        victim.close()
