"""The loopback server's own log (ingest/dev/evaluation/server.py): what the politeness checks read."""

from __future__ import annotations

import socket
import time

import httpx

from ingest.dev.evaluation.server import SO_TIMESTAMPNS, LoopbackServer, Request, Route, arrival


def test_arrival_is_when_the_bytes_came_not_when_they_were_read() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        time.sleep(0.1)  # the kernel turns receive stamping on a moment later (deferred work)
        with socket.create_connection(listener.getsockname()) as client:
            conn, _ = listener.accept()
            with conn:
                sent = time.time()
                client.sendall(b"GET / HTTP/1.1\r\n\r\n")
                time.sleep(0.3)  # a handler thread that got its turn late
                came = arrival(conn)
                assert conn.recv(100).startswith(b"GET /")  # peeked, not consumed
    assert abs(came - sent) < 0.05, came - sent


def test_each_request_on_a_kept_alive_connection_gets_its_own_arrival() -> None:
    seen: list[Request] = []

    def handle(request: Request) -> Route:
        seen.append(request)
        return Route(200, {"Content-Type": "text/plain"}, b"ok")

    with LoopbackServer(default=handle) as server, httpx.Client() as client:
        before = time.time()
        client.get(server.url("/a"))
        time.sleep(0.25)
        client.get(server.url("/b"))
        after = time.time()
    assert [r.path for r in seen] == ["/a", "/b"]
    assert before <= seen[0].received < seen[1].received <= after
    assert seen[1].received - seen[0].received >= 0.25
