"""Pipeline stages against the loopback test site (and the real node where state is involved)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch
from servers import ARTICLES, HTML, LoopbackServer, Request, Route, running, serve_site

from ingest import frontier, pipeline, store
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
    settings = make_settings(applied=True, **LOCAL, poll={"max_failures": 3, "disable_after": 4 * 3600})
    return settings


NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def page_hits(site: LoopbackServer) -> int:
    """Requests for the five article pages, whatever their query string (tracking parameters)."""
    pages = {f"/news/{slug}.html" for slug in ARTICLES}
    return sum(1 for r in site.requests if r.path.split("?")[0] in pages)


def indexed(es: Elasticsearch, cfg: Settings) -> dict[str, dict]:
    alias = store.alias_name(cfg.es.index_prefix, "articles")
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=100, query={"match_all": {}})["hits"]["hits"]
    return {urlsplit(h["_source"]["url"]).path: h["_source"] for h in hits}


def three_sources(site: LoopbackServer) -> list[Source]:
    return [source(site, "/feed.xml"), source(site, "/news-sitemap.xml", "sitemap", "afaq-news"),
            source(site, "/atom.xml", sid="afaq-atom")]


@pytest.mark.slow
@pytest.mark.integration
def test_second_run_polls_nothing_before_next_poll_at_and_force_polls_all(
        cfg: Settings, es: Elasticsearch, site: LoopbackServer) -> None:
    sources = three_sources(site)
    first = pipeline.run_once(cfg, sources, now=NOW)
    # 9 listings of 5 URLs: 5 new frontier entries, each fetched once, carrying every listing source
    assert (first.count("items_seen"), first.count("new"), first.count("fetched"), first.count("indexed")) \
        == (9, 5, 5, 5)
    assert first.failed == {} and page_hits(site) == 5
    docs = indexed(es, cfg)
    assert docs["/news/000.html"]["sources"] == ["afaq", "afaq-news"]
    assert docs["/news/002.html"]["sources"] == ["afaq", "afaq-atom"]
    assert docs["/news/001.html"]["sources"] == ["afaq"]
    feed_hits = site.hits("/feed.xml")
    second = pipeline.run_once(cfg, sources, now=NOW + timedelta(seconds=60))
    assert second.skipped == {"poll:not_due": 3} and second.count("sources_polled") == 0
    assert site.hits("/feed.xml") == feed_hits
    forced = pipeline.run_once(cfg, sources, now=NOW + timedelta(seconds=120), force=True)
    assert forced.count("sources_polled") == 3 and forced.skipped["poll:known"] == 9
    assert (forced.count("fetched"), forced.count("indexed")) == (0, 0) and page_hits(site) == 5
    assert len(indexed(es, cfg)) == 5


@pytest.mark.slow
@pytest.mark.integration
def test_etag_saved_only_after_discovery_so_an_aborted_pass_still_fetches_its_items(
        cfg: Settings, es: Elasticsearch, site: LoopbackServer) -> None:
    body = site.routes["/feed.xml"].body  # type: ignore[union-attr]

    def feed(request: Request) -> Route:
        if request.headers.get("if-none-match") == '"v1"':
            return Route(304, {"ETag": '"v1"'})
        return Route(200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'}, body)

    site.routes["/feed.xml"] = feed
    afaq = source(site, "/feed.xml")
    polled = pipeline.poll_source(cfg, afaq, es=es, now=NOW)  # the pass dies here: nothing fetched
    assert len(polled.items) == 5 and load_states(es, cfg, ["afaq"])["afaq"].etag == '"v1"'
    later = NOW + timedelta(hours=1)
    resumed = pipeline.run_once(cfg, [afaq], now=later)
    assert resumed.skipped.get("poll:not_modified") == 1  # the feed says nothing changed ...
    assert site.requests[-1].headers.get("if-none-match") == '"v1"' or site.hits("/feed.xml") == 2
    assert (resumed.count("fetched"), resumed.count("indexed")) == (5, 5)  # ... yet nothing was lost
    assert len(indexed(es, cfg)) == 5


@pytest.mark.slow
@pytest.mark.integration
def test_a_404_item_is_not_refetched_before_its_ttl(cfg: Settings, es: Elasticsearch,
                                                    site: LoopbackServer) -> None:
    site.routes["/gone.xml"] = Route(200, {"Content-Type": "application/rss+xml"}, (
        "<rss version='2.0'><channel><title>t</title><item><title>gone</title>"
        f"<link>{site.url('/news/gone.html')}</link></item></channel></rss>").encode())
    site.routes["/news/gone.html"] = Route(404, body=b"gone")
    gone = source(site, "/gone.xml", sid="gone")
    first = pipeline.run_once(cfg, [gone], now=NOW)
    assert first.failed == {"fetch:http_404": 1}
    for days in (1, 6):
        again = pipeline.run_once(cfg, [gone], now=NOW + timedelta(days=days), force=True)
        assert again.failed == {} and again.count("fetched") == 0
    assert site.hits("/news/gone.html") == 1
    after_ttl = pipeline.run_once(cfg, [gone], now=NOW + timedelta(days=7, seconds=1))
    assert after_ttl.failed == {"fetch:http_404": 1} and site.hits("/news/gone.html") == 2


@pytest.mark.slow
@pytest.mark.integration
def test_an_indexed_article_listed_by_another_feed_gains_the_source_without_a_refetch(
        cfg: Settings, es: Elasticsearch, site: LoopbackServer) -> None:
    pipeline.run_once(cfg, [source(site, "/feed.xml")], now=NOW)
    assert page_hits(site) == 5
    later = pipeline.run_once(cfg, [source(site, "/atom.xml", sid="other")], now=NOW + timedelta(hours=1))
    assert later.count("also_carried") == 2 and later.count("fetched") == 0 and page_hits(site) == 5
    docs = indexed(es, cfg)
    assert docs["/news/002.html"]["sources"] == ["afaq", "other"]
    assert docs["/news/000.html"]["sources"] == ["afaq"]


@pytest.mark.slow
@pytest.mark.integration
def test_an_expired_lease_is_offered_again(cfg: Settings, es: Elasticsearch, site: LoopbackServer) -> None:
    pipeline.poll_source(cfg, source(site, "/feed.xml"), es=es, now=NOW)
    host = frontier.host_key(site.url("/"))
    assert frontier.lease_host(es, cfg, host, owner="dead-worker", now=NOW) is not None
    assert len(frontier.lease_due(es, cfg, host, owner="dead-worker", now=NOW)) == 5  # then it dies
    soon = pipeline.fetch_due(cfg, [host], es=es, now=NOW + timedelta(seconds=60), sources=[])
    assert soon.summary.skipped == {"fetch:host_busy": 1} and page_hits(site) == 0
    expired = NOW + timedelta(seconds=cfg.frontier.lease_seconds + 1)
    assert frontier.due_hosts(es, cfg, now=expired) == [host]
    resumed = pipeline.fetch_due(cfg, [host], es=es, now=expired, sources=[])
    assert len(resumed.extracted) == 5 and page_hits(site) == 5
    assert len(pipeline.index_staged(cfg, es=es, now=expired).indexed) == 5


@pytest.mark.slow
@pytest.mark.integration
def test_robots_txt_is_fetched_once_per_host_across_chunks(cfg: Settings, es: Elasticsearch,
                                                            site: LoopbackServer) -> None:
    host = frontier.host_key(site.url("/"))
    pipeline.poll_source(cfg, source(site, "/news-sitemap.xml", "sitemap", "afaq-news"), es=es, now=NOW)
    pipeline.fetch_due(cfg, [host], es=es, now=NOW, sources=[])  # one task (its own Fetcher) ...
    pipeline.poll_source(cfg, source(site, "/atom.xml", sid="afaq-atom"), es=es, now=NOW)
    second = pipeline.fetch_due(cfg, [host], es=es, now=NOW + timedelta(minutes=5), sources=[])  # ... another
    assert len(second.extracted) == 2 and page_hits(site) == 4
    assert site.hits("/robots.txt") == 1
    pipeline.poll_source(cfg, source(site, "/feed.xml"), es=es, now=NOW)
    later = NOW + timedelta(seconds=cfg.fetch.robots_cache_ttl + 1)
    pipeline.fetch_due(cfg, [host], es=es, now=later, sources=[])
    assert site.hits("/robots.txt") == 2  # the shared copy expired


@pytest.mark.slow
@pytest.mark.integration
def test_transient_item_failures_back_off_then_give_up(make_settings: Callable[..., Settings],
                                                       es: Elasticsearch, site: LoopbackServer) -> None:
    cfg = make_settings(applied=True, **LOCAL, frontier={"max_attempts": 2, "retry_base": 600})
    site.routes["/busy.xml"] = Route(200, {"Content-Type": "application/rss+xml"}, (
        "<rss version='2.0'><channel><title>t</title><item><title>busy</title>"
        f"<link>{site.url('/news/busy.html')}</link></item></channel></rss>").encode())
    site.routes["/news/busy.html"] = Route(503, {"Retry-After": "1200"}, b"")
    busy = source(site, "/busy.xml", sid="busy")
    assert pipeline.run_once(cfg, [busy], now=NOW).failed == {"fetch:http_503": 1}
    early = pipeline.run_once(cfg, [busy], now=NOW + timedelta(seconds=1100), force=True)
    assert early.failed == {} and site.hits("/news/busy.html") == 1  # Retry-After (1200 s) > base
    last = pipeline.run_once(cfg, [busy], now=NOW + timedelta(seconds=1201), force=True)
    assert last.failed == {"fetch:gave_up:http_503": 1}
    never = pipeline.run_once(cfg, [busy], now=NOW + timedelta(days=1), force=True)
    assert never.failed == {} and site.hits("/news/busy.html") == 2


@pytest.mark.slow
@pytest.mark.integration
def test_retry_after_is_honoured_across_runs_and_a_disabled_source_is_probed_daily(
        cfg: Settings, es: Elasticsearch, site: LoopbackServer) -> None:
    site.routes["/down.xml"] = Route(503, {"Retry-After": "7200"}, b"")
    down = source(site, "/down.xml", sid="down")
    first = pipeline.run_once(cfg, [down], now=NOW)
    assert first.failed == {"poll:http_503": 1}
    assert pipeline.run_once(cfg, [down], now=NOW + timedelta(seconds=7199)).skipped == {"poll:not_due": 1}
    assert site.hits("/down.xml") == 1
    pipeline.run_once(cfg, [down], now=NOW + timedelta(seconds=7200))
    pipeline.run_once(cfg, [down], now=NOW + timedelta(seconds=14400))
    stored = load_states(es, cfg, ["down"])["down"]
    assert stored.disabled and stored.disabled_reason == "3 consecutive failures, last: http_503"
    assert site.hits("/down.xml") == 3
    probe_at = stored.next_poll_at
    assert probe_at == NOW + timedelta(seconds=14400 + 86400)
    assert pipeline.run_once(cfg, [down], now=probe_at - timedelta(seconds=1)).skipped == {"poll:not_due": 1}
    site.routes["/down.xml"] = site.routes["/feed.xml"]  # it recovers
    back = pipeline.run_once(cfg, [down], now=probe_at)
    assert back.count("indexed") == 5 and not load_states(es, cfg, ["down"])["down"].disabled


@pytest.mark.slow
@pytest.mark.integration
def test_an_unexpected_exception_in_one_source_is_contained_and_counted(
        cfg: Settings, es: Elasticsearch, site: LoopbackServer) -> None:
    # The config validator refuses unknown kinds (tests/test_config.py); constructed without it, this
    # source stands for any input that makes a stage raise something no one expected (a KeyError).
    broken = Source.model_construct(**{**source(site, "/feed.xml").model_dump(), "id": "broken",
                                       "kind": "no-such-kind"})
    summary = pipeline.run_once(cfg, [broken, source(site, "/feed.xml")], now=NOW)
    assert summary.failed == {"poll:internal:KeyError": 1}
    assert summary.count("indexed") == 5
    assert load_states(es, cfg, ["broken"])["broken"].last_status == "internal:KeyError"


# ---- redirects: a moved feed, a page on another host ------------------------------------------------

def rss_of(*links: str) -> Route:
    items = "".join(f"<item><title>t{i}</title><link>{link}</link></item>" for i, link in enumerate(links))
    return Route(200, {"Content-Type": "application/rss+xml"},
                 f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode())


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize(("status", "moves"), [(301, True), (308, True), (302, False), (307, False)])
def test_a_permanent_redirect_moves_the_feed_and_a_temporary_one_does_not(
        cfg: Settings, es: Elasticsearch, site: LoopbackServer, status: int, moves: bool) -> None:
    site.routes["/old.xml"] = Route(status, {"Location": "/new.xml"})
    site.routes["/new.xml"] = site.routes["/feed.xml"]
    feed = source(site, "/old.xml")
    first = pipeline.run_once(cfg, [feed], now=NOW)
    assert first.count("indexed") == 5 and (site.hits("/old.xml"), site.hits("/new.xml")) == (1, 1)
    assert first.skipped.get("poll:moved_permanently", 0) == int(moves)
    stored = load_states(es, cfg, ["afaq"])["afaq"]
    assert stored.moved_to == (site.url("/new.xml") if moves else "")
    assert ("moved to " + site.url("/new.xml") in stored.health) is moves
    pipeline.run_once(cfg, [feed], now=NOW + timedelta(hours=1), force=True)
    # the second pass goes straight to the new location only after a permanent move
    assert (site.hits("/old.xml"), site.hits("/new.xml")) == ((1, 2) if moves else (2, 2))
    edited = source(site, "/feed.xml")  # a person edits the URL: the stored move no longer applies
    pipeline.run_once(cfg, [edited], now=NOW + timedelta(hours=2), force=True)
    assert site.hits("/feed.xml") == 1 and load_states(es, cfg, ["afaq"])["afaq"].moved_to == ""


@pytest.fixture
def other_host() -> Iterator[LoopbackServer]:
    with LoopbackServer(host="127.0.0.2") as server:
        yield server


@pytest.mark.slow
@pytest.mark.integration
def test_a_redirect_to_another_host_waits_for_that_hosts_lease_and_delay(
        make_settings: Callable[..., Settings], es: Elasticsearch, site: LoopbackServer,
        other_host: LoopbackServer, seed_texts: dict[str, str]) -> None:
    cfg = make_settings(applied=True, **{**LOCAL, "allowed_networks": ["127.0.0.0/8"], "per_host_delay": 0.5})
    arrivals: list[float] = []
    page = site.routes["/news/000.html"]

    def target(request: Request) -> Route:
        arrivals.append(time.time())
        return page  # type: ignore[return-value]

    other_host.routes["/moved/000.html"] = target
    site.routes["/news/000.html"] = Route(302, {"Location": other_host.url("/moved/000.html")})
    site.routes["/one.xml"] = rss_of(site.url("/news/000.html"))
    here, there = frontier.host_key(site.url("/")), frontier.host_key(other_host.url("/"))
    pipeline.poll_source(cfg, source(site, "/one.xml"), es=es, now=NOW)
    held = frontier.lease_host(es, cfg, there, owner="other-worker", now=NOW)  # another worker is there
    assert held is not None
    busy = pipeline.fetch_due(cfg, [here], es=es, now=NOW, sources=[])
    assert busy.summary.failed == {"fetch:host_busy": 1} and arrivals == []
    left_at = time.time() + 1.0  # the other worker's last request was just now: next one in 1 s
    frontier.release_host(es, cfg, held, next_request_at=left_at)
    later = NOW + timedelta(seconds=cfg.frontier.retry_base + 1)
    done = pipeline.fetch_due(cfg, [here], es=es, now=later, sources=[])
    assert len(done.extracted) == 1 and len(arrivals) == 1 and arrivals[0] >= left_at - 0.01
    after = frontier.lease_host(es, cfg, there, owner="third", now=later)
    assert after is not None and after.not_before >= arrivals[0] + 0.5 - 0.01
    assert len(pipeline.index_staged(cfg, es=es, now=later).indexed) == 1
    assert "/news/000.html" in indexed(es, cfg)  # under the listed URL's document, with its source
