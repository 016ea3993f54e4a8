"""Feed and sitemap parsing on the test site's files (and a few real ones from the fixtures)."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
from servers import site_file

from ingest.dev.paths import CorpusPaths
from ingest.feeds import FeedError, parse_feed, parse_sitemap
from ingest.urls import canonicalize

BASE = "http://news.example"


def feed(name: str):
    return parse_feed(site_file(name, BASE), source_id="afaq", feed_url=f"{BASE}/{name}")


def test_rss_items_have_canonical_links_dates_authors_tags_and_plain_summaries() -> None:
    parsed = feed("feed.xml")
    assert len(parsed.items) == 5 and parsed.malformed == "" and parsed.skipped == {}
    first = parsed.items[0]
    assert first.url == f"{BASE}/news/000.html?utm_source=rss&utm_medium=feed"
    assert first.canonical_url == "https://news.example/news/000.html"  # tracking params dropped
    assert parsed.items[1].canonical_url == "https://news.example/news/001.html"  # fragment dropped
    assert first.published_at == datetime(2021, 11, 16, 14, 0, tzinfo=UTC)
    assert first.authors == ("سارة المصري",) and first.tags == ("دولي",)
    assert first.summary.startswith("أعلنت وزارة الدفاع الأرمينية") and "<p>" not in first.summary


def test_atom_entries() -> None:
    parsed = feed("atom.xml")
    assert [i.canonical_url for i in parsed.items] == ["https://news.example/news/002.html",
                                                       "https://news.example/news/003.html"]
    assert parsed.items[0].authors == ("ليلى يوسف",)
    assert parsed.items[1].summary == "أنهت وساطة روسيا الاشتباكات."


def test_feed_without_dates_keeps_items_undated() -> None:
    parsed = feed("nodates.xml")
    assert len(parsed.items) == 2 and all(i.published_at is None for i in parsed.items)


def test_feed_without_links_skips_those_entries_by_reason() -> None:
    parsed = feed("nolinks.xml")
    assert [i.title for i in parsed.items] == ["خبر برابط سليم"]
    assert parsed.skipped == {"no_link": 2}


def test_malformed_feed_keeps_what_parses_and_says_why() -> None:
    parsed = feed("malformed.xml")
    assert parsed.malformed  # feedparser's reason, e.g. a SAX error
    assert "https://news.example/news/003.html" in [i.canonical_url for i in parsed.items]


def test_entity_expansion_bomb_is_refused_with_reason() -> None:
    with pytest.raises(FeedError) as err:
        feed("bomb.xml")
    assert err.value.reason == "xml_entities"


def test_entity_bomb_in_a_sitemap_is_refused_too() -> None:
    body = site_file("bomb.xml", BASE).replace(b"<rss", b"<urlset").replace(b"</rss>", b"</urlset>")
    with pytest.raises(FeedError) as err:
        parse_sitemap(body, source_id="afaq", sitemap_url=f"{BASE}/s.xml")
    assert err.value.reason == "xml_entities"


def test_not_xml_at_all_is_a_feed_error() -> None:
    with pytest.raises(FeedError) as err:
        parse_sitemap(b"this is not xml", source_id="afaq", sitemap_url=f"{BASE}/s.xml")
    assert err.value.reason == "malformed_xml"


def test_real_feed_with_public_dtd_doctype_still_parses() -> None:
    """A real feed declares a parameter entity pointing at the XHTML DTD: no bomb, keep it."""
    path = CorpusPaths().fixtures_dir / "feeds" / "real-world" / "hungarian_iso-8859-2.xml"
    parsed = parse_feed(path.read_bytes(), source_id="hu", feed_url="http://weblabor.hu/rss")
    assert [i.canonical_url for i in parsed.items] == [canonicalize("http://weblabor.hu/hirek/20051008/phpkapcsolat")]


def test_news_sitemap_items_with_news_metadata() -> None:
    parsed = parse_sitemap(site_file("news-sitemap.xml", BASE), source_id="afaq", sitemap_url=f"{BASE}/n.xml")
    assert [i.canonical_url for i in parsed.items] == ["https://news.example/news/000.html",
                                                       "https://news.example/news/004.html"]
    first, second = parsed.items
    assert first.title == "أرمينيا تعلن أسر 12 من جنودها"
    assert first.tags == ("أرمينيا", "أذربيجان", "حدود")
    assert first.published_at == datetime(2021, 11, 16, 14, 0, tzinfo=UTC)
    assert second.published_at == datetime(2021, 11, 16, 20, 0, tzinfo=UTC)  # from <lastmod>
    assert parsed.skipped == {"no_link": 1}


def test_gzipped_sitemap() -> None:
    body = gzip.compress(site_file("news-sitemap.xml", BASE))
    assert len(parse_sitemap(body, source_id="afaq", sitemap_url=f"{BASE}/n.xml.gz").items) == 2


def test_sitemap_index_lists_children_newest_first() -> None:
    body = site_file("sitemap-index.xml", BASE)
    parsed = parse_sitemap(body, source_id="afaq", sitemap_url=f"{BASE}/i.xml")
    assert parsed.items == () and parsed.children == (f"{BASE}/news-sitemap.xml", f"{BASE}/sitemaps/old.xml")
