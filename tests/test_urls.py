"""URL canonicalisation: every spelling of one article gives one canonical URL (one id)."""

from __future__ import annotations

import pytest

from ingest.models import doc_id_for
from ingest.urls import BadURL, canonical_link, canonicalize, host_of

CANONICAL = "https://example.com/news/2022/09/13/clashes.html?id=42"


@pytest.mark.parametrize("variant", [
    "https://example.com/news/2022/09/13/clashes.html?id=42",
    "HTTPS://EXAMPLE.com/news/2022/09/13/clashes.html?id=42",
    "https://www.example.com/news/2022/09/13/clashes.html?id=42",
    "https://m.example.com/news/2022/09/13/clashes.html?id=42",
    "http://example.com:80/news/2022/09/13/clashes.html?id=42",
    "https://example.com:443/news/2022/09/13/clashes.html?id=42#comments",
    "https://example.com/news/2022/09/13/clashes.html?utm_source=rss&id=42&utm_medium=feed",
    "https://example.com/news/2022/09/13/clashes.html?id=42&fbclid=IwAR0abc&ref=rss",
    "  https://example.com/news/2022/09/13/clashes.html?id=42  ",
])
def test_variants_collapse_to_one_canonical_url(variant: str) -> None:
    assert canonicalize(variant) == CANONICAL
    assert doc_id_for(canonicalize(variant)) == doc_id_for(CANONICAL)


def test_meaningful_parameters_and_non_default_ports_are_kept() -> None:
    assert canonicalize("https://example.com/a?page=2&id=7") == "https://example.com/a?id=7&page=2"
    assert canonicalize("http://example.com:8080/a") == "https://example.com:8080/a"
    assert canonicalize("https://example.com/a?id=7") != canonicalize("https://example.com/a?id=8")


def test_arabic_path_is_percent_encoded_once() -> None:
    raw = "https://www.example.com/أرمينيا"
    encoded = "https://example.com/%D8%A3%D8%B1%D9%85%D9%8A%D9%86%D9%8A%D8%A7"
    assert canonicalize(raw) == encoded
    assert canonicalize(encoded) == encoded


def test_relative_link_resolved_against_base() -> None:
    assert canonicalize("../b.html", base="https://www.example.com/x/y/a.html") == "https://example.com/x/b.html"


@pytest.mark.parametrize("bad", ["javascript:void(0)", "mailto:a@b.c", "/relative/only", "ftp://example.com/f"])
def test_non_http_links_are_refused_with_reason(bad: str) -> None:
    with pytest.raises(BadURL) as err:
        canonicalize(bad)
    assert err.value.reason == "bad_url"


def test_host_of_drops_www_and_port() -> None:
    assert host_of("https://www.Example.com:8443/x") == "example.com"


def test_rel_canonical_is_read_and_canonicalised() -> None:
    page = '<html><head><link rel="canonical" href="/news/1.html?utm_campaign=x"></head><body></body></html>'
    assert canonical_link(page, "https://m.example.com/amp/news/1.html") == "https://example.com/news/1.html"


def test_rel_canonical_to_another_site_is_not_trusted() -> None:
    page = '<html><head><link rel="canonical" href="https://other.example.org/x"></head></html>'
    with pytest.raises(BadURL, match="another site"):
        canonical_link(page, "https://example.com/x")


def test_missing_rel_canonical_raises() -> None:
    with pytest.raises(BadURL, match="no rel=canonical"):
        canonical_link("<html><body><p>نص</p></body></html>", "https://example.com/x")
