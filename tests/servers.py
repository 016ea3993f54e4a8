"""Loopback HTTP servers for tests: a real server on 127.0.0.1 with canned routes.

Reusable by every team: ``from servers import LoopbackServer, Route`` (tests/ is on sys.path), or
the ``loopback`` fixture below. Routes can delay (timeouts), redirect, stream huge bodies, or be a
handler computing the response from the request (e.g. honouring If-None-Match). ``serve_site``
publishes the Arabic test site in tests/fixtures/site/ (feeds, sitemaps, article pages built from
the seed texts with realistic boilerplate).
"""

from __future__ import annotations

import html
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ingest.dev.evaluation.server import NOT_FOUND, LoopbackServer, Request, Route


class NodeProxy:
    """A TCP proxy on 127.0.0.1 in front of the Elasticsearch node at ``target``. Each chunk a
    client sends goes through ``on_request``, which says what becomes of it: forwarded, cut (both
    sockets closed: the node is unreachable for that request) or held (never answered). Clients
    send one request at a time per connection, so a chunk starts with its request line."""

    FORWARD, CUT, HOLD = "forward", "cut", "hold"

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def on_request(self, chunk: bytes) -> str:
        return self.FORWARD

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        try:
            while chunk := src.recv(65536):
                action = self.on_request(chunk) if watch else self.FORWARD
                if action == self.HOLD:
                    return  # the client waits for an answer that never comes
                if action == self.CUT:
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        for sock in (src, dst):
            sock.close()


SITE = Path(__file__).parent / "fixtures" / "site"
HTML = {"Content-Type": "text/html; charset=utf-8"}
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
XML = {"Content-Type": "application/xml"}

# slug -> (title, author, date) of the five seed articles as published by the test site.
ARTICLES = {
    "000": ("أرمينيا تعلن أسر 12 من جنودها في معارك على الحدود مع أذربيجان", "سارة المصري", "2021-11-16"),
    "001": ("الاشتباكات بين أرمينيا وأذربيجان في أسوأ توقيت لبوتين", "كريم حداد", "2022-09-13"),
    "002": ("تراجع القصف على الحدود وأذربيجان تعلن سقوط 50 قتيلا", "ليلى يوسف", "2022-09-13"),
    "003": ("وساطة روسية تنهي التصعيد بين أرمينيا وأذربيجان", "عمر الخطيب", "2021-11-17"),
    "004": ("يريفان تعلن سقوط ضحايا مع اندلاع القتال", "نور الهدى", "2021-11-16"),
}

__all__ = ["ARTICLES", "HTML", "NOT_FOUND", "RSS", "SITE", "XML", "LoopbackServer", "Request", "Route",
           "article_page", "loopback", "running", "serve_site", "site_file"]


def running() -> Iterator[LoopbackServer]:
    """A started loopback server with no routes, stopped afterwards; a test module's fixture is
    ``@pytest.fixture def loopback(): yield from running()``."""
    with LoopbackServer() as server:
        yield server


loopback = pytest.fixture(running, name="loopback")


def site_file(name: str, base: str) -> bytes:
    """A file of the test site with ``{base}`` replaced by the server's base URL."""
    return (SITE / name).read_text(encoding="utf-8").replace("{base}", base).encode("utf-8")


def article_page(base: str, slug: str, text: str) -> bytes:
    """An article page: the template's boilerplate around ``text`` (one <p> per paragraph)."""
    title, author, date = ARTICLES[slug]
    paragraphs = "\n".join(f"        <p>{html.escape(p.strip())}</p>" for p in text.split("\n") if p.strip())
    first = html.escape(text.strip().split("\n")[0][:160])
    page = (SITE / "article_template.html").read_text(encoding="utf-8")
    for key, value in {"{title}": html.escape(title), "{author}": author, "{date}": date, "{slug}": slug,
                       "{description}": first, "{paragraphs}": paragraphs, "{base}": base}.items():
        page = page.replace(key, value)
    return page.encode("utf-8")


def serve_site(server: LoopbackServer, seed_texts: Mapping[str, str]) -> None:
    """Publish feeds, sitemaps, robots.txt and the five seed articles on ``server``."""
    base = server.url("").rstrip("/")
    for name in ("feed.xml", "atom.xml", "nodates.xml", "nolinks.xml", "malformed.xml", "bomb.xml"):
        server.routes[f"/{name}"] = Route(200, RSS, site_file(name, base))
    for name in ("news-sitemap.xml", "sitemap-index.xml"):
        server.routes[f"/{name}"] = Route(200, XML, site_file(name, base))
    server.routes["/robots.txt"] = Route(200, {"Content-Type": "text/plain"}, site_file("robots.txt", base))
    for stem, text in seed_texts.items():
        slug = stem[:3]
        server.routes[f"/news/{slug}.html"] = Route(200, HTML, article_page(base, slug, text))
