"""Property test: generated feeds, URLs, headers and HTML fed to the stage functions.

Whatever the input, each function either returns its result or raises one of the documented
``IngestError`` subclasses (which the pipeline counts by ``reason``); nothing else escapes, and
every feed entry ends either as an item or in a skip counter. Example counts are bounded so the
whole module runs in seconds.
"""

from __future__ import annotations

import contextlib
import html
import zlib

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.charset import decode_html
from ingest.errors import IngestError
from ingest.extract import select
from ingest.feeds import parse_feed
from ingest.fetch import CappedDecoder, check_content_type, check_declared_length, retry_after_seconds
from ingest.hygiene import clean_line
from ingest.urls import canonicalize, validate_url

BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hostile_urls = st.one_of(
    st.text(max_size=80),
    st.builds(lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
              st.sampled_from(["http", "https", "javascript", "ftp", "HTTP", ""]),
              st.one_of(st.sampled_from(["a.example", "[::1", "[::1]", "exa mple.org", "", "xn--",
                                         "例子.测试", "127.0.0.1", "user:pw@host", "%00"]),
                        st.text(max_size=20)),
              st.sampled_from(["", ":80", ":99999", ":0", ":abc", ":-1", ":"]),
              st.sampled_from(["/", "/a b", "/\x00", "/%zz", "?q=1#f", "/" + "x" * 5000, ""])),
)
xml_safe = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)


def _rss(entries: list[tuple[str, str]]) -> bytes:
    items = "".join(f"<item><title>{html.escape(title)}</title><link>{html.escape(link)}</link></item>"
                    for title, link in entries)
    return f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>t</title>{items}" \
           "</channel></rss>".encode()


@BOUNDED
@given(url=hostile_urls)
def test_url_functions_return_or_raise_bad_url(url: str) -> None:
    for call in (lambda: validate_url(url), lambda: canonicalize(url),
                 lambda: canonicalize(url, "https://b.example/x/")):
        try:
            assert isinstance(call(), str)
        except IngestError as exc:
            assert exc.reason == "bad_url"


@BOUNDED
@given(entries=st.lists(st.tuples(xml_safe, hostile_urls), max_size=8))
def test_every_feed_entry_ends_as_an_item_or_a_counted_skip(entries: list[tuple[str, str]]) -> None:
    try:
        parsed = parse_feed(_rss(entries), source_id="s", feed_url="https://feed.example/rss")
    except IngestError:
        return
    assert len(parsed.items) + sum(parsed.skipped.values()) == len(entries)


@BOUNDED
@given(body=st.binary(max_size=2000))
def test_arbitrary_feed_bytes_never_escape_as_foreign_errors(body: bytes) -> None:
    with contextlib.suppress(IngestError):
        parse_feed(body, source_id="s", feed_url="https://feed.example/rss")


@BOUNDED
@given(content_type=st.text(max_size=60), length=st.text(max_size=20), retry_after=st.text(max_size=40),
       encoding=st.text(max_size=30), payload=st.binary(max_size=200))
@example(content_type="", length="²", retry_after="", encoding="", payload=b"")  # a digit to isdigit()
@example(content_type="", length="", retry_after="²", encoding="", payload=b"")  # found by hypothesis
def test_header_checks_return_or_raise_documented_errors(content_type: str, length: str, retry_after: str,
                                                         encoding: str, payload: bytes) -> None:
    for call in (lambda: check_content_type("u", content_type, ("text/html",)),
                 lambda: check_declared_length("u", {"content-length": length}, 1000),
                 lambda: retry_after_seconds(retry_after),
                 lambda: CappedDecoder("u", encoding, 1000).decode(payload),
                 lambda: CappedDecoder("u", encoding, 1000).decode(zlib.compress(payload))):
        with contextlib.suppress(IngestError):
            call()


@BOUNDED
@given(body=st.one_of(st.binary(max_size=3000),
                      st.builds(lambda t, cs: f"<html><head><meta charset='{cs}'><title>{t}</title></head>"
                                              f"<body><p>{t}</p></body></html>".encode("utf-8", "replace"),
                                st.text(max_size=300),
                                st.sampled_from(["utf-8", "windows-1256", "bogus", ""]))),
       content_type=st.sampled_from(["", "text/html", "text/html; charset=utf-8", "text/html; charset=nope"]))
def test_html_decode_and_extract_return_or_raise_documented_errors(body: bytes, content_type: str) -> None:
    try:
        text = decode_html(body, content_type).text
    except IngestError:
        return
    try:
        candidate = select(text, "https://a.example/1")
    except IngestError:
        return
    assert clean_line(candidate.title) == clean_line(clean_line(candidate.title))
