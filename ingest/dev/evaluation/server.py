"""A real HTTP server on 127.0.0.1 serving canned responses, for tests and the crawl evaluation.

Why in the package (not only in tests/): ``ingest eval crawl`` serves the real fixture pages over
loopback through the same pipeline code, and the test-suite reuses it (tests/servers.py). Routes
can delay (timeouts), redirect, or stream a body of any size without holding it in memory.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Route:
    """One canned response. ``stream_bytes`` > 0 sends that many filler bytes, chunk by chunk,
    without a Content-Length; ``delay`` waits before the status line is sent."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    stream_bytes: int = 0


@dataclass(frozen=True)
class Request:
    """What the server saw: path (with query), headers (lower-cased names), when its first
    bytes arrived (``received``: the kernel's receive timestamp, ``time.time()`` seconds), the
    method and the body (POST: webhooks, Kibana's import API)."""

    path: str
    headers: Mapping[str, str]
    received: float = 0.0
    method: str = "GET"
    body: bytes = b""


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python names it from 3.12 on


def arrival(sock: socket.socket) -> float:
    """When the next request's first bytes reached this host: the kernel's timestamp of them, not
    the moment a handler thread got round to reading them. A politeness check compares request
    starts 0.1 s apart; under load a handler waits tens of milliseconds for the GIL, and two
    requests sent 0.1 s apart were logged 0.06 s apart. Blocks until those bytes are there (as
    reading the request line would); clients here never pipeline, so none are already buffered."""
    try:
        _, ancillary, _, _ = sock.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
    except OSError:
        return time.time()
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            if seconds:  # 0: the packet came before the kernel began stamping (it does so lazily)
                return seconds + nanoseconds / 1e9
    return time.time()


Handler = Callable[[Request], Route]


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up early (a timeout, a size cap, a killed worker) is what the tests
    provoke on purpose: no traceback on stderr for it. Connections carry receive timestamps
    (``arrival``); accepted sockets inherit the option from the listener."""

    def server_bind(self) -> None:
        with contextlib.suppress(OSError):  # no timestamps: ``arrival`` falls back to the clock
            self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        super().server_bind()

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


NOT_FOUND = Route(404, {"Content-Type": "text/plain"}, b"not found")


class LoopbackServer:
    """``with LoopbackServer({"/feed.xml": Route(...)}) as server: server.url("/feed.xml")``."""

    def __init__(self, routes: Mapping[str, Route | Handler] | None = None, *,
                 default: Route | Handler = NOT_FOUND, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: dict[str, Route | Handler] = dict(routes or {})
        self.default = default
        self.requests: list[Request] = []
        self.in_flight = 0  # requests being answered right now (read by handlers: concurrency logs)
        self._in_flight_lock = threading.Lock()
        self._httpd = _QuietServer((host, port), _handler_class(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        # serve_forever checks for shutdown every poll_interval (0.5 s by default): every test's
        # server stop waited that long
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"{self.base_url}{path}"

    def hits(self, path: str) -> int:
        """How many requests asked for ``path`` (query included)."""
        return sum(1 for r in self.requests if r.path == path)

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (``ingest demo serve``)."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def resolve(self, request: Request) -> Route:
        route = self.routes.get(request.path) or self.routes.get(request.path.split("?")[0]) or self.default
        return route(request) if callable(route) else route


def _handler_class(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        received = 0.0

        def handle_one_request(self) -> None:
            self.received = arrival(self.connection)
            super().handle_one_request()

        def do_GET(self) -> None:
            self._answer(b"")

        def do_POST(self) -> None:
            self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def _answer(self, body: bytes) -> None:
            request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, self.received,
                              self.command, body)
            server.requests.append(request)
            with server._in_flight_lock:
                server.in_flight += 1
            try:
                route = server.resolve(request)
                if route.delay:
                    time.sleep(route.delay)
                _send(self, route)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                with server._in_flight_lock:
                    server.in_flight -= 1

        def log_message(self, format: str, *args: object) -> None:
            return

    return _Handler


def _send(handler: BaseHTTPRequestHandler, route: Route) -> None:
    if route.status == 0:
        handler.close_connection = True
        return
    handler.send_response(route.status)
    for name, value in route.headers.items():
        handler.send_header(name, value)
    if route.stream_bytes:
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        sent = 0
        while sent < route.stream_bytes:
            size = min(CHUNK, route.stream_bytes - sent)
            handler.wfile.write(b"x" * size)
            sent += size
        return
    if not any(k.lower() == "content-length" for k in route.headers):
        handler.send_header("Content-Length", str(len(route.body)))
    handler.end_headers()
    handler.wfile.write(route.body)
