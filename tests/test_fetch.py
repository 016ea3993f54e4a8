"""The polite fetcher against a real loopback server: every refusal has its own test and reason."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import HTML, LoopbackServer, Request, Route, running, site_file
from warcio.archiveiterator import ArchiveIterator

from ingest.charset import arabic_share, decode_html, mojibake_count
from ingest.dev.paths import CorpusPaths
from ingest.fetch import Fetched, Fetcher, FetchFailed, FetchRefused, retry_after_seconds
from ingest.settings import Settings, load_settings

SITE = Path(__file__).parent / "fixtures" / "site"
PAGE = Route(200, HTML, "<html><body><p>مرحبا</p></body></html>".encode())


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    yield from running()


def cfg(**overrides: object) -> Settings:
    values: dict[str, object] = {"allowed_networks": ["127.0.0.1/32"], "per_host_delay": 0.0,
                                 "read_timeout": 5.0, "connect_timeout": 5.0}
    values.update(overrides)
    return load_settings(**values)


def get(settings: Settings, url: str, accept: tuple[str, ...] = ("text/html",), **kw: object) -> Fetched:
    async def run() -> Fetched:
        async with Fetcher(settings) as fetcher:
            return await fetcher.get(url, accept=accept, **kw)  # type: ignore[arg-type]
    return asyncio.run(run())


def refused(settings: Settings, url: str, **kw: object) -> str:
    with pytest.raises((FetchRefused, FetchFailed)) as err:
        get(settings, url, **kw)  # type: ignore[arg-type]
    return err.value.reason


def test_ok_page(loopback: LoopbackServer) -> None:
    loopback.routes["/a.html"] = PAGE
    fetched = get(cfg(), loopback.url("/a.html"))
    assert fetched.status == 200 and fetched.body == PAGE.body and fetched.content_type == "text/html"
    assert loopback.requests[-1].headers["user-agent"].startswith("ArabicNewsIngest/")


def test_loopback_refused_unless_allow_listed(loopback: LoopbackServer) -> None:
    """An item pointing at a local service (say Elasticsearch on 127.0.0.1) is an SSRF attempt."""
    loopback.routes["/_cluster/health"] = Route(200, {"Content-Type": "application/json"}, b"{}")
    assert refused(cfg(allowed_networks=[]), loopback.url("/_cluster/health")) == "blocked_address"
    assert loopback.requests == []  # not even robots.txt was asked for


@pytest.mark.parametrize("host", ["10.1.2.3", "192.168.0.10", "169.254.169.254", "224.0.0.1", "0.0.0.0",
                                  "[::1]"])
def test_private_link_local_multicast_unspecified_addresses_refused(host: str) -> None:
    assert refused(cfg(allowed_networks=[]), f"http://{host}/latest/meta-data/") == "blocked_address"


def test_404_is_permanent_and_500_transient_with_retry_after(loopback: LoopbackServer) -> None:
    loopback.routes["/gone"] = Route(404, body=b"no")
    loopback.routes["/busy"] = Route(503, {"Retry-After": "120"}, b"later")
    assert refused(cfg(), loopback.url("/gone")) == "http_404"
    with pytest.raises(FetchFailed) as err:
        get(cfg(), loopback.url("/busy"))
    assert err.value.reason == "http_503" and err.value.retry_after == 120.0


def test_500_is_transient(loopback: LoopbackServer) -> None:
    loopback.routes["/boom"] = Route(500, body=b"error")
    with pytest.raises(FetchFailed) as err:
        get(cfg(), loopback.url("/boom"))
    assert err.value.reason == "http_500"


def test_read_timeout(loopback: LoopbackServer) -> None:
    loopback.routes["/slow"] = Route(200, HTML, b"late", delay=3.0)
    assert refused(cfg(read_timeout=0.5), loopback.url("/slow")) == "timeout"


def test_redirect_followed_and_loop_detected(loopback: LoopbackServer) -> None:
    loopback.routes["/old"] = Route(301, {"Location": "/a.html"})
    loopback.routes["/a.html"] = PAGE
    loopback.routes["/loop1"] = Route(302, {"Location": "/loop2"})
    loopback.routes["/loop2"] = Route(302, {"Location": "/loop1"})
    fetched = get(cfg(), loopback.url("/old"))
    assert fetched.final_url == loopback.url("/a.html") and fetched.url == loopback.url("/old")
    assert refused(cfg(), loopback.url("/loop1")) == "redirect_loop"


def test_redirect_cap(loopback: LoopbackServer) -> None:
    for i in range(5):
        loopback.routes[f"/hop{i}"] = Route(302, {"Location": f"/hop{i + 1}"})
    loopback.routes["/hop5"] = PAGE
    assert refused(cfg(max_redirects=3), loopback.url("/hop0")) == "too_many_redirects"
    assert get(cfg(max_redirects=5), loopback.url("/hop0")).status == 200


def test_redirect_to_a_blocked_address_is_refused(loopback: LoopbackServer) -> None:
    loopback.routes["/jump"] = Route(302, {"Location": "http://169.254.169.254/latest/meta-data/"})
    assert refused(cfg(), loopback.url("/jump")) == "blocked_address"


def test_body_far_over_the_cap_is_cut_while_streaming(loopback: LoopbackServer) -> None:
    """200 MB without Content-Length: refused after ~cap bytes, not after downloading it all."""
    loopback.routes["/huge"] = Route(200, HTML, stream_bytes=200 * 1024 * 1024)
    assert refused(cfg(max_bytes=256 * 1024), loopback.url("/huge")) == "too_large"


def test_declared_length_over_the_cap_is_refused_before_reading(loopback: LoopbackServer) -> None:
    loopback.routes["/big"] = Route(200, HTML, b"x" * 5000)
    assert refused(cfg(max_bytes=1000), loopback.url("/big")) == "too_large"


def test_pdf_served_as_article_is_refused(loopback: LoopbackServer) -> None:
    loopback.routes["/doc.pdf"] = Route(200, {"Content-Type": "application/pdf"}, b"%PDF-1.7 ...")
    loopback.routes["/sneaky.html"] = Route(200, HTML, b"%PDF-1.4\n1 0 obj")
    assert refused(cfg(), loopback.url("/doc.pdf")) == "content_type"
    assert refused(cfg(), loopback.url("/sneaky.html")) == "content_type"


def test_robots_disallow_honoured_and_robots_fetched_once(loopback: LoopbackServer) -> None:
    loopback.routes["/robots.txt"] = Route(200, {"Content-Type": "text/plain"}, site_file("robots.txt", ""))
    loopback.routes["/private/x.html"] = PAGE
    loopback.routes["/a.html"] = PAGE

    async def run() -> tuple[str, int]:
        async with Fetcher(cfg()) as fetcher:
            await fetcher.get(loopback.url("/a.html"), accept=["text/html"])
            await fetcher.get(loopback.url("/a.html"), accept=["text/html"])
            try:
                await fetcher.get(loopback.url("/private/x.html"), accept=["text/html"])
            except FetchRefused as exc:
                return exc.reason, loopback.hits("/robots.txt")
        return "fetched", loopback.hits("/robots.txt")

    assert asyncio.run(run()) == ("robots_disallowed", 1)
    assert loopback.hits("/private/x.html") == 0


def test_robots_5xx_means_try_later(loopback: LoopbackServer) -> None:
    loopback.routes["/robots.txt"] = Route(503, body=b"")
    loopback.routes["/a.html"] = PAGE
    assert refused(cfg(), loopback.url("/a.html")) == "robots_unavailable"


def test_conditional_get_returns_304(loopback: LoopbackServer) -> None:
    def handler(request: Request) -> Route:
        if request.headers.get("if-none-match") == '"v1"':
            return Route(304, {"ETag": '"v1"'})
        return Route(200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}, b"<rss/>")

    loopback.routes["/feed.xml"] = handler
    first = get(cfg(), loopback.url("/feed.xml"), accept=("application/rss+xml",))
    again = get(cfg(), loopback.url("/feed.xml"), accept=("application/rss+xml",),
                headers={"If-None-Match": '"v1"'})
    assert (first.status, first.headers["etag"], again.status, again.body) == (200, '"v1"', 304, b"")


def test_per_host_concurrency_limit(loopback: LoopbackServer) -> None:
    """Count requests in flight at the server: with a per-host limit of 1 there is never more than 1."""
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def handler(request: Request) -> Route:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return PAGE

    for i in range(6):
        loopback.routes[f"/p{i}"] = handler

    async def run(limit: int) -> None:
        async with Fetcher(cfg(per_host_concurrency=limit)) as fetcher:
            await asyncio.gather(*(fetcher.get(loopback.url(f"/p{i}"), accept=["text/html"])
                                   for i in range(6)))

    asyncio.run(run(1))
    assert state["max"] == 1
    state["max"] = 0
    asyncio.run(run(3))
    assert state["max"] > 1


def test_warc_archive_keeps_raw_responses(loopback: LoopbackServer, tmp_path: Path) -> None:
    loopback.routes["/a.html"] = PAGE
    get(cfg(warc_dir=tmp_path), loopback.url("/a.html"))
    records = []
    for path in tmp_path.glob("*.warc.gz"):
        with path.open("rb") as stream:  # read back with warcio itself, as any WARC tool would
            records += [(r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read())
                        for r in ArchiveIterator(stream) if r.rec_type == "response"]
    assert records == [(loopback.url("/a.html"), PAGE.body)]


def test_retry_after_http_date() -> None:
    from datetime import UTC, datetime
    now = datetime(2022, 9, 13, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Tue, 13 Sep 2022 12:02:00 GMT", now=now) == 120.0
    assert retry_after_seconds("", now=now) is None


# ---- charset detection on real Arabic bytes --------------------------------------------------------

ARABIC_START = "انتخابات بلدية في المدينة وسط إقبال واسع"


def test_windows_1256_page_without_declaration() -> None:
    decoded = decode_html((SITE / "article_cp1256.html").read_bytes(), "text/html")
    assert decoded.encoding == "cp1256"
    assert ARABIC_START in decoded.text and mojibake_count(decoded.text) == 0


def test_windows_1256_page_mislabelled_as_latin1() -> None:
    decoded = decode_html((SITE / "article_cp1256.html").read_bytes(), "text/html; charset=iso-8859-1")
    assert decoded.encoding == "cp1256" and ARABIC_START in decoded.text


def test_iso_8859_6_bytes_of_the_same_text() -> None:
    body = (SITE / "article_cp1256.html").read_bytes().decode("cp1256").encode("iso8859_6")
    decoded = decode_html(body)
    assert decoded.encoding == "iso8859-6" and ARABIC_START in decoded.text


def test_declared_charset_is_used() -> None:
    body = (SITE / "article_cp1256.html").read_bytes()
    assert decode_html(body, "text/html; charset=windows-1256").method == "declared"


@pytest.mark.parametrize(("name", "encoding"), [("chromium_windows-1256_no_charset.html", "cp1256"),
                                                ("chromium_iso-8859-6_no_charset.html", "iso8859-6")])
def test_real_legacy_arabic_pages_from_the_fixtures(name: str, encoding: str) -> None:
    body = (CorpusPaths().fixtures_dir / "pages" / "encoding" / name).read_bytes()
    decoded = decode_html(body)
    assert decoded.encoding == encoding
    assert "كتائب الشهيد عز الدين القسام" in decoded.text and arabic_share(decoded.text) > 0.95


def test_utf8_arabic_and_mojibake_detector() -> None:
    text = "أعلنت وزارة الدفاع"
    assert decode_html(text.encode("utf-8")).text == text
    assert mojibake_count(text.encode("utf-8").decode("latin-1")) > 0 and mojibake_count(text) == 0


def test_moved_to_is_the_target_of_the_leading_permanent_hops(loopback: LoopbackServer) -> None:
    loopback.routes["/a"] = Route(301, {"Location": "/b"})
    loopback.routes["/b"] = Route(308, {"Location": "/c"})
    loopback.routes["/c"] = Route(302, {"Location": "/d"})
    loopback.routes["/d"] = PAGE
    loopback.routes["/t"] = Route(307, {"Location": "/a"})
    assert get(cfg(), loopback.url("/a")).moved_to == loopback.url("/c")
    assert get(cfg(), loopback.url("/t")).moved_to == ""
    assert get(cfg(), loopback.url("/d")).moved_to == ""


FRESH_PROCESS_FETCH = """
import asyncio, sys
from ingest.fetch import Fetcher
from ingest.settings import load_settings
async def run():
    async with Fetcher(load_settings(allowed_networks=["127.0.0.1/32"], per_host_delay=0.2)) as f:
        for url in sys.argv[1:]:
            await f.get(url, accept=())
asyncio.run(run())
"""


def test_per_host_delay_is_paced_at_the_wire_not_when_scheduled(loopback: LoopbackServer) -> None:
    """A fresh process's first request (robots.txt) spends ~0.1 s between taking its turn and
    writing its headers (first connection, lazy set-up in httpx/httpcore): paced when scheduled, the
    next request reached the server 0.14 s after it with a 0.2 s delay. Seen from the server."""
    arrivals: list[float] = []

    def page(request: Request) -> Route:
        arrivals.append(request.received)
        return PAGE

    for path in ("/robots.txt", "/1", "/2"):
        loopback.routes[path] = page
    subprocess.run([sys.executable, "-c", FRESH_PROCESS_FETCH, loopback.url("/1"), loopback.url("/2")],
                   check=True, timeout=60)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) == 3 and min(gaps) >= 0.2 - 0.01, gaps
