"""Pipeline stages against the loopback test site (and the real node where state is involved)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch
from servers import ARTICLES, HTML, LoopbackServer, Request, Route, running, serve_site

from ingest import pipeline, store
from ingest.config import Source
from ingest.models import FeedItem
from ingest.settings import Settings, load_settings
from ingest.sourcestate import load_states
from ingest.urls import canonicalize

SITE = Path(__file__).parent / "fixtures" / "site"
LOCAL = {"allowed_networks": ["127.0.0.1/32"], "per_host_delay": 0.0, "read_timeout": 2.0}


@pytest.fixture
def site(seed_texts: dict[str, str]) -> Iterator[LoopbackServer]:
    for server in running():
        serve_site(server, seed_texts)
        yield server


def offline(**overrides: object) -> Settings:
    return load_settings(**{**LOCAL, **overrides})


def source(server: LoopbackServer, path: str, kind: str = "feed", sid: str = "afaq") -> Source:
    return Source(id=sid, name="الأفق الإخباري", url=server.url(path), kind=kind, country="LB")  # type: ignore[arg-type]


def item_for(server: LoopbackServer, path: str, summary: str = "") -> FeedItem:
    url = server.url(path)
    return FeedItem(source_id="afaq", feed_url=server.url("/feed.xml"), url=url,
                    canonical_url=canonicalize(url), title="عنوان", summary=summary)


# ---- polling without Elasticsearch (what `ingest sources check` does) -------------------------------

def test_poll_feed_finds_all_items(site: LoopbackServer) -> None:
    result = pipeline.poll_source(offline(), source(site, "/feed.xml"), persist=False)
    assert len(result.items) == 5 and result.error == ""
    assert result.summary.count("items_seen") == 5 and result.summary.count("new") == 5


def test_poll_sitemap_index_reads_the_children(site: LoopbackServer) -> None:
    result = pipeline.poll_source(offline(), source(site, "/sitemap-index.xml", "sitemap"), persist=False)
    assert sorted(urlsplit(i.url).path for i in result.items) == ["/news/000.html", "/news/004.html"]
    assert result.summary.skipped == {"poll:no_link": 1, "poll:child_http_404": 1}  # old.xml is missing


def test_poll_malformed_feed_keeps_items_and_records_why(site: LoopbackServer) -> None:
    result = pipeline.poll_source(offline(), source(site, "/malformed.xml"), persist=False)
    assert len(result.items) >= 1 and result.error == ""
    assert result.state.last_status == "malformed" and result.state.last_error
    assert result.summary.count("feeds_malformed") == 1


def test_poll_bomb_is_a_failure_with_reason(site: LoopbackServer) -> None:
    result = pipeline.poll_source(offline(), source(site, "/bomb.xml"), persist=False)
    assert result.items == () and result.summary.failed == {"poll:xml_entities": 1}
    assert result.state.failures == 1 and result.state.last_status == "xml_entities"


def test_poll_feed_without_dates_and_without_links(site: LoopbackServer) -> None:
    undated = pipeline.poll_source(offline(), source(site, "/nodates.xml"), persist=False)
    assert len(undated.items) == 2 and all(i.published_at is None for i in undated.items)
    linkless = pipeline.poll_source(offline(), source(site, "/nolinks.xml"), persist=False)
    assert len(linkless.items) == 1 and linkless.summary.skipped == {"poll:no_link": 2}


def test_poll_404_feed(site: LoopbackServer) -> None:
    result = pipeline.poll_source(offline(), source(site, "/missing.xml"), persist=False)
    assert result.summary.failed == {"poll:http_404": 1} and "404" in result.error


# ---- fetch + extract: one test per bad input ---------------------------------------------------------

def extract_one(server: LoopbackServer, path: str, route: Route | None, *, summary: str = "",
                **overrides: object) -> pipeline.ExtractResult:
    if route is not None:
        server.routes[path] = route
    return pipeline.fetch_and_extract(offline(**overrides), [item_for(server, path, summary)], sources=[])


def failed(result: pipeline.ExtractResult) -> dict[str, int]:
    assert result.articles == ()
    return dict(result.summary.failed)


def test_good_article_is_extracted_with_metadata(site: LoopbackServer) -> None:
    result = extract_one(site, "/news/002.html", None)
    (article,) = result.articles
    assert article.extraction_method == "trafilatura" and article.title == ARTICLES["002"][0]
    assert article.lang == "ar" and article.canonical_url == f"https://127.0.0.1:{site.port}/news/002.html"
    assert article.authors == ("ليلى يوسف",) and article.site_name == "الأفق الإخباري"
    assert "أعلنت" in article.body or len(article.body) > 1000


def test_404_page(site: LoopbackServer) -> None:
    assert failed(extract_one(site, "/news/gone.html", Route(404, body=b"gone"))) == {"fetch:http_404": 1}


def test_500_page(site: LoopbackServer) -> None:
    assert failed(extract_one(site, "/news/err.html", Route(500, body=b"err"))) == {"fetch:http_500": 1}


def test_timeout(site: LoopbackServer) -> None:
    route = Route(200, HTML, b"<p>late</p>", delay=2.0)
    assert failed(extract_one(site, "/news/slow.html", route, read_timeout=0.3)) == {"fetch:timeout": 1}


def test_redirect_loop(site: LoopbackServer) -> None:
    site.routes["/news/b.html"] = Route(302, {"Location": "/news/a.html"})
    route = Route(302, {"Location": "/news/b.html"})
    assert failed(extract_one(site, "/news/a.html", route)) == {"fetch:redirect_loop": 1}


def test_body_far_over_the_cap(site: LoopbackServer) -> None:
    route = Route(200, HTML, stream_bytes=100 * 1024 * 1024)
    assert failed(extract_one(site, "/news/huge.html", route, max_bytes=200_000)) == {"fetch:too_large": 1}


def test_pdf_served_as_article(site: LoopbackServer) -> None:
    route = Route(200, {"Content-Type": "application/pdf"}, b"%PDF-1.5 binary")
    assert failed(extract_one(site, "/news/report.pdf", route)) == {"fetch:content_type": 1}


def test_windows_1256_page_is_decoded_and_extracted(site: LoopbackServer) -> None:
    route = Route(200, {"Content-Type": "text/html"}, (SITE / "article_cp1256.html").read_bytes())
    (article,) = extract_one(site, "/news/cp1256.html", route).articles
    assert "انتخابات بلدية في المدينة" in article.title + article.body
    assert "charset_detected" in article.extraction_flags and "Ø" not in article.body


def test_item_pointing_at_the_elasticsearch_port_without_loopback_allowed(site: LoopbackServer) -> None:
    es_port = 9200  # whatever listens there, a feed must not make us call a local service
    item = FeedItem(source_id="afaq", feed_url=site.url("/feed.xml"), url=f"http://127.0.0.1:{es_port}/_search",
                    canonical_url=f"https://127.0.0.1:{es_port}/_search")
    result = pipeline.fetch_and_extract(offline(allowed_networks=[]), [item], sources=[])
    assert failed(result) == {"fetch:blocked_address": 1}


def test_robots_disallowed_page(site: LoopbackServer) -> None:
    route = Route(200, HTML, b"<html><body><p>secret</p></body></html>")
    assert failed(extract_one(site, "/private/secret.html", route)) == {"fetch:robots_disallowed": 1}
    assert site.hits("/private/secret.html") == 0


def test_empty_page_without_feed_summary(site: LoopbackServer) -> None:
    route = Route(200, HTML, b"<html><head><title></title></head><body></body></html>")
    assert failed(extract_one(site, "/news/empty.html", route)) == {"extract:extract_empty": 1}


def test_empty_page_with_feed_summary_falls_back(site: LoopbackServer) -> None:
    route = Route(200, HTML, b"<html><body></body></html>")
    summary = "أنهت وساطة روسيا مساء الثلاثاء الاشتباكات التي اندلعت بين قوات أذربيجان وأرمينيا."
    (article,) = extract_one(site, "/news/empty2.html", route, summary=summary).articles
    assert article.extraction_method == "feed_summary" and article.body == summary


def test_one_bad_item_does_not_stop_the_others(site: LoopbackServer) -> None:
    site.routes["/news/gone.html"] = Route(404, body=b"")
    items = [item_for(site, path) for path in ("/news/000.html", "/news/gone.html", "/news/001.html")]
    result = pipeline.fetch_and_extract(offline(), items, sources=[])
    assert len(result.articles) == 2 and result.summary.failed == {"fetch:http_404": 1}
    assert result.summary.count("fetched") == 2 and result.summary.count("extracted") == 2


# ---- with the real node: state, multi-get, indexing --------------------------------------------------

@pytest.fixture
def cfg(make_settings: Callable[..., Settings], es: Elasticsearch) -> Settings:
    settings = make_settings(**LOCAL, poll_max_failures=3)
    store.apply_templates(es, settings)
    return settings


@pytest.mark.integration
def test_run_once_twice_second_run_fetches_and_indexes_nothing(cfg: Settings, es: Elasticsearch,
                                                                site: LoopbackServer) -> None:
    sources = [source(site, "/feed.xml"), source(site, "/news-sitemap.xml", "sitemap", "afaq-news"),
               source(site, "/atom.xml", sid="afaq-atom")]
    first = pipeline.run_once(cfg, sources)
    # 5 + 2 + 2 items are new to their source; the same 5 articles are fetched once each
    assert (first.count("new"), first.count("fetched"), first.count("indexed")) == (9, 5, 5)
    assert first.failed == {}
    page_hits = sum(site.hits(f"/news/{slug}.html") for slug in ARTICLES)
    second = pipeline.run_once(cfg, sources)
    assert (second.count("new"), second.count("fetched"), second.count("indexed")) == (0, 0, 0)
    assert second.skipped["poll:known"] == 5 + 2 + 2
    assert sum(site.hits(f"/news/{slug}.html") for slug in ARTICLES) == page_hits
    alias = store.alias_name(cfg.index_prefix, "articles")
    es.indices.refresh(index=alias)
    assert es.count(index=alias)["count"] == 5


@pytest.mark.integration
def test_conditional_get_with_stored_etag(cfg: Settings, es: Elasticsearch, site: LoopbackServer) -> None:
    body = site.routes["/feed.xml"].body  # type: ignore[union-attr]

    def feed(request: Request) -> Route:
        if request.headers.get("if-none-match") == '"v1"':
            return Route(304, {"ETag": '"v1"'})
        return Route(200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}, body)

    site.routes["/feed.xml"] = feed
    first = pipeline.poll_source(cfg, source(site, "/feed.xml"), es=es)
    again = pipeline.poll_source(cfg, source(site, "/feed.xml"), es=es)
    assert len(first.items) == 5 and first.state.etag == '"v1"'
    assert again.items == () and again.summary.skipped == {"poll:not_modified": 1}
    assert site.requests[-1].headers["if-none-match"] == '"v1"'
    assert load_states(es, cfg, ["afaq"])["afaq"].last_status == "not_modified"


@pytest.mark.integration
def test_failures_back_off_honour_retry_after_and_disable(cfg: Settings, es: Elasticsearch,
                                                          site: LoopbackServer) -> None:
    site.routes["/down.xml"] = Route(503, {"Retry-After": "7200"}, b"")
    down = source(site, "/down.xml", sid="down")
    before = datetime.now(UTC)
    first = pipeline.poll_source(cfg, down, es=es)
    assert first.state.failures == 1 and first.state.next_poll_at >= before + timedelta(seconds=7200)
    for _ in range(2):
        pipeline.poll_source(cfg, down, es=es)
    stored = load_states(es, cfg, ["down"])["down"]
    assert stored.disabled and stored.disabled_reason == "3 consecutive failures, last: http_503"
    summary = pipeline.run_once(cfg, [down])
    assert summary.skipped == {"poll:source_disabled": 1} and site.hits("/down.xml") == 3
