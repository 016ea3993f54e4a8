"""The reading room over HTTP: the real app under uvicorn on 127.0.0.1, the real node, the demo data.

The data is what `make run DEMO=1` produces: the demo news site on loopback polled by
``pipeline.run_once`` (four working outlets, one broken), the demo alert rules evaluated over what was
indexed, plus one hostile article (markup, a ``javascript:`` link and bidi overrides in its title).
Expected values come from the demo manifest (ingest/dev/data/demo/site.json), not from the app.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from elasticsearch import Elasticsearch
from markupsafe import Markup

from ingest import pipeline, store
from ingest.alerts.evaluate import evaluate
from ingest.cli.serve import port_free
from ingest.config import load_sources
from ingest.dev import demo
from ingest.dev.evaluation.dedup import make_article
from ingest.dev.paths import CorpusPaths
from ingest.errors import ConfigError
from ingest.settings import Settings, load_settings
from ingest.web import views
from ingest.web.app import create_app
from ingest.web.views import BIDI_CONTROLS

pytestmark = pytest.mark.integration
SITE = demo.load_site(CorpusPaths().seeds_dir)
HOSTILE_TITLE = "عاجل \u202eزيارة\u202c <script>alert('x')</script> <b>سرية</b> كوكبانية"
NAMES = {o.id: o.name for o in SITE.outlets}
# The manifest's first story (seeds 000, 004, 003 and the wire's 000) by publication time.
ORDER = ["demo-sahil", "demo-wire", "demo-rased", "demo-madar"]


@contextmanager
def live(settings: Settings, es: Elasticsearch) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, es=es), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):  # bounded wait for startup
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def load_demo(es_url: str, es: Elasticsearch, tmp: Path) -> Settings:
    """A fresh prefix holding the demo run (articles, source states, alerts) and the hostile article."""
    settings = load_settings(es={"url": es_url, "index_prefix": f"t{uuid.uuid4().hex[:10]}"},
                             fetch={"per_host_delay": 0, "allowed_networks": ["127.0.0.1/32"]},
                             alerts={"log_file": tmp / "alerts.jsonl",
                                     "rules_file": demo.DATA_DIR / "alert_rules.yaml"})
    with demo.demo_server(SITE) as server:
        sources = load_sources(demo.write_sources(SITE, server.base_url, tmp / "sources.yaml"))
        pipeline.run_once(settings, sources)
    hostile = dataclasses.replace(
        make_article("hostile", "evil", HOSTILE_TITLE, "نص عن زيارة كوكبانية سرية لم تحدث قط.\n" * 3,
                     datetime(2026, 1, 7, 8, tzinfo=UTC)),
        url="javascript:alert(1)", source_name="مصدر \u202eمريب")
    pipeline.dedup_and_index(settings, [hostile], es=es)
    # Storage strips bidi controls (ingest.hygiene); an index another writer filled may still hold
    # them, so put the hostile title back to prove the page cleans its display on its own.
    es.update(index=store.alias_name(settings.es.index_prefix, "articles"), id=hostile.doc_id,
              doc={"title": HOSTILE_TITLE})
    es.indices.refresh(index=store.alias_name(settings.es.index_prefix, "articles"))
    ids = [h["_id"] for h in es.search(index=store.alias_name(settings.es.index_prefix, "articles"),
                                       size=100, query={"match_all": {}})["hits"]["hits"]]
    evaluate(settings, ids)
    return settings


@pytest.fixture(scope="module")
def demo_settings(es_url: str, es: Elasticsearch,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = load_demo(es_url, es, tmp_path_factory.mktemp("web"))
    yield settings
    store.drop_prefix(es, settings.es.index_prefix)


@pytest.fixture(scope="module")
def web(demo_settings: Settings, es: Elasticsearch) -> Iterator[httpx.Client]:
    with live(demo_settings, es) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def story_of(client: httpx.Client, slug: str) -> dict[str, Any]:
    """The /api/story of the demo article ``slug`` (found by its URL in a search with copies)."""
    article = next(a for a in SITE.articles if a.slug == slug)
    hits = client.get("/api/search", params={"q": article.title, "copies": "1", "size": 50}).json()["hits"]
    hit = next(h for h in hits if h["url"].endswith(article.path))
    return client.get(f"/api/story/{hit['story_id']}").json()


def test_pages_are_arabic_rtl_and_read_only(web: httpx.Client) -> None:
    for path in ("/", "/?window=7d", "/search", "/sources", "/alerts"):
        page = web.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert '<html lang="ar" dir="rtl">' in page.text
    assert web.post("/search", data={"q": "x"}).status_code == 405
    assert web.delete("/api/story/x").status_code == 405


def test_top_stories_rank_the_caucasus_story_first_with_its_first_publisher(web: httpx.Client) -> None:
    top = web.get("/api/stories", params={"window": "24h"}).json()
    assert top["window"] == "24h"
    first = top["stories"][0]
    # manifest: seeds 000/003/004 + the wire's 000 = one story in sahil, rased, madar, wire (4 outlets);
    # the seed 001/002 story has madar, rased, wire (3). First published: sahil, 2021-11-16 08:30.
    assert first["outlets"] == 4 and first["first_publisher"] == NAMES["demo-sahil"]
    assert first["first_seen"].startswith("2021-11-16T08:30")
    assert [s["outlets"] for s in top["stories"][1:3]] == [3, 1]
    page = web.get("/").text
    assert "4 مصادر" in page and "3 مصادر" in page and page.count('<svg class="timeline"') >= 2


def test_story_page_lists_every_article_in_time_order_with_tiers_in_words(web: httpx.Client) -> None:
    story = story_of(web, "armenia-soldiers-captured")
    times = [a["event_at"] for a in story["articles"]]
    assert times == sorted(times)
    assert [a["source_id"] for a in story["articles"]] == ORDER
    tiers = [a["decision"]["tier"] for a in story["articles"]]
    assert tiers == ["new", "near", "story", "story"]
    page = web.get(f"/story/{story['story_id']}").text
    order = [page.index(f"<bdi>{NAMES[s]}</bdi></strong>") for s in ORDER]
    assert order == sorted(order)
    assert "نسخة شبه مطابقة" in page and "الخبر نفسه" in page and "الأصل" in page
    assert f"مقارنةً بمقال {NAMES['demo-sahil']}" in page  # the wire copy's reason names the original
    assert page.count('class="dot') == 4 and "<svg" in page


def test_story_accepts_an_article_id_and_unknown_story_is_404(web: httpx.Client) -> None:
    story = story_of(web, "shelling-decreases")
    copy = next(a for a in story["articles"] if a["source_id"] == "demo-wire")
    assert copy["decision"]["tier"] == "exact"
    assert web.get(f"/api/story/{copy['doc_id']}").json()["story_id"] == story["story_id"]
    missing = web.get("/api/story/no-such-story")
    assert missing.status_code == 404 and "no-such-story" in missing.json()["message"]
    assert web.get("/story/no-such-story").status_code == 404


def test_search_highlights_and_collapses_copies(web: httpx.Client) -> None:
    page = web.get("/search", params={"q": "القصف"})
    assert page.status_code == 200
    assert "<mark>" in page.text
    result = web.get("/api/search", params={"q": "القصف"}).json()
    rased = next(h for h in result["hits"] if h["source_id"] == "demo-rased" and "القصف" in h["title"])
    assert rased["carried_by"] == ["demo-wire"]  # the wire's exact copy is folded into rased's original
    assert not any(h["source_id"] == "demo-wire" and h["title"] == rased["title"] for h in result["hits"])
    assert "نقله أيضًا مصدر آخر" in page.text


def test_search_filters_outlet_dates_language(web: httpx.Client) -> None:
    def outlets(**params: str) -> set[str]:
        body = web.get("/api/search", params={"q": "أرمينيا", "size": "50", **params})
        assert body.status_code == 200, body.text
        return {h["source_id"] for h in body.json()["hits"]}

    assert outlets() >= {"demo-sahil", "demo-madar", "demo-rased"}
    assert outlets(source="demo-madar") == {"demo-madar"}
    assert outlets(since="2022-01-01") <= {"demo-madar", "demo-rased", "demo-wire"}
    assert outlets(until="2021-11-17") == {"demo-sahil", "demo-rased"}
    assert outlets(lang="en") == set()
    assert outlets(lang="ar") == outlets()


def test_empty_results_and_empty_form(web: httpx.Client) -> None:
    assert web.get("/api/search", params={"q": "كلمةلاوجودلها"}).json() == {"total": 0, "hits": []}
    assert "لا نتائج" in web.get("/search", params={"q": "كلمةلاوجودلها"}).text
    assert "<ol class=\"hits\">" not in web.get("/search").text


@pytest.mark.parametrize("path, params, words", [
    ("/api/search", {"q": "أرمينيا", "since": "next tuesday"}, "since"),
    ("/api/search", {"q": "أرمينيا", "since": "2022-01-01", "until": "2021-01-01"}, "before"),
    ("/api/search", {"q": "(أرمينيا AND"}, "refused"),
    ("/api/search", {"q": "أرمينيا", "size": "-3"}, "size"),
    ("/api/search", {"q": "أرمينيا", "size": "100000"}, "size"),
    ("/api/search", {"q": "أرمينيا", "offset": "x"}, "offset"),
    ("/api/search", {"q": "أرمينيا", "size": "²"}, "size"),  # a digit to str.isdigit, not to int()
    ("/api/stories", {"window": "1y"}, "window"),
    ("/search", {"q": "أرمينيا", "until": "someday"}, "until"),
])
def test_bad_parameters_are_400_with_a_message(web: httpx.Client, path: str, params: dict[str, str],
                                                words: str) -> None:
    response = web.get(path, params=params)
    assert response.status_code == 400, response.text[:300]
    message = response.json()["message"] if path.startswith("/api/") else response.text
    assert words in message


def test_hostile_title_is_escaped_and_bidi_controls_are_removed(web: httpx.Client) -> None:
    page = web.get("/search", params={"q": "كوكبانية"}).text
    assert "<script>" not in page and "<b>سرية</b>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;" in page
    assert not BIDI_CONTROLS.search(page)
    assert 'href="javascript:' not in page
    story = web.get("/api/search", params={"q": "كوكبانية"}).json()["hits"][0]
    assert story["title"] == HOSTILE_TITLE  # the data itself is kept; only the display is cleaned
    story_page = web.get(f"/story/{story['story_id']}").text
    assert "<script>" not in story_page and not BIDI_CONTROLS.search(story_page)


def test_sources_page_shows_the_broken_outlet_failing(web: httpx.Client) -> None:
    report = web.get("/api/sources").json()
    assert report["failing"] == ["demo-broken"]
    rows = {s["source_id"]: s for s in report["sources"]}
    assert rows["demo-broken"]["failures"] == 1 and rows["demo-broken"]["last_success_at"] is None
    assert sum(rows["demo-wire"]["items_per_day"].values()) == 3  # three wire articles in the manifest
    page = web.get("/sources").text
    assert "يفشل" in page and "لم ينجح بعد" in page


def test_alerts_grouped_by_rule_and_story(web: httpx.Client) -> None:
    rules = {g["rule"]: g["alerts"] for g in web.get("/api/alerts").json()["rules"]}
    assert set(rules) == {"demo-caucasus-border-clashes", "demo-heavy-rain"}
    caucasus = rules["demo-caucasus-border-clashes"]
    assert len({a["story_id"] for a in caucasus}) == len(caucasus) == 2  # two stories, one alert each
    only = web.get("/api/alerts", params={"rule": "demo-heavy-rain"}).json()["rules"]
    assert [g["rule"] for g in only] == ["demo-heavy-rain"]
    page = web.get("/alerts").text
    assert "demo-caucasus-border-clashes" in page and page.count('class="alert"') == 3


def test_busy_port_is_a_clear_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is busy"):
            port_free("127.0.0.1", port)


# --- pure presentation rules (no server) ---

@pytest.mark.parametrize("n, words", [
    (1, "مصدر واحد"), (2, "مصدران"), (3, "3 مصادر"), (10, "10 مصادر"), (11, "11 مصدرًا"),
    (99, "99 مصدرًا"), (100, "100 مصدر"), (102, "102 مصدر"), (103, "103 مصادر"), (111, "111 مصدرًا"),
])
def test_outlet_counts_agree_in_arabic(n: int, words: str) -> None:
    assert views.count(n, views.OUTLET) == words


def test_also_carried_by_line() -> None:
    assert views.carried_by(0) == ""
    assert views.carried_by(1) == "نقله أيضًا مصدر آخر"
    assert views.carried_by(2) == "نقله أيضًا مصدران آخران"
    assert views.carried_by(5) == "نقله أيضًا 5 مصادر أخرى"
    assert views.carried_by(12) == "نقله أيضًا 12 مصدرًا آخر"


def test_reason_in_words_names_the_matched_outlet() -> None:
    outlets = {"a1": "الساحل نيوز"}
    near = {"tier": "near", "score": 0.873, "matched_id": "a1"}
    assert views.reason_words(near, outlets) == \
        "النص نفسه تقريبًا مع تعديلات طفيفة، مقارنةً بمقال الساحل نيوز، درجة التشابه 0.87"
    assert views.reason_words({"tier": "new", "score": 0.1, "matched_id": None}, outlets) == \
        "أول من نشر هذا الخبر"
    assert views.tier_label("story") == "الخبر نفسه" and views.tier_label("exact") == "نسخة مطابقة"


def test_strip_bidi_and_inert_links() -> None:
    assert views.strip_bidi("a\u202eb\u2066c\u2069\u200f") == "abc"
    assert views.strip_bidi(None) == "" and views.strip_bidi(3) == 3
    marked = views.strip_bidi(Markup("<mark>\u202ex</mark>"))
    assert isinstance(marked, Markup) and str(marked) == "<mark>x</mark>"
    assert views.link("javascript:alert(1)") == "#" and views.link(" data:text/html,x") == "#"
    assert views.link("https://x.example/a") == "https://x.example/a"


def test_timeline_runs_right_to_left_from_the_first_article() -> None:
    events = [("2021-11-16T11:00:00+00:00", "b", "story"), ("2021-11-16T09:00:00+00:00", "a", "new"),
              ("2021-11-16T10:00:00+00:00", "c", "near"), (None, "undated", "")]
    line = views.timeline(events, width=200, margin=20)
    assert [(d.label, d.x) for d in line.dots] == [("a", 180.0), ("c", 100.0), ("b", 20.0)]
    assert line.start == "2021-11-16 09:00 UTC" and line.end == "2021-11-16 11:00 UTC"
    assert views.timeline([]).dots == ()


@pytest.mark.slow
def test_cli_serves_on_loopback_and_refuses_a_busy_port(demo_settings: Settings) -> None:
    cli = Path(sys.executable).with_name("ingest")
    env = {**os.environ, "INGEST_ES_URL": demo_settings.es.url or "",
           "INGEST_INDEX_PREFIX": demo_settings.es.index_prefix}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([str(cli), "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        page = None
        for _ in range(300):  # bounded wait for uvicorn to listen
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/?window=7d", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.1)
        assert page is not None and page.status_code == 200 and "4 مصادر" in page.text
        busy = subprocess.run([str(cli), "serve", "--port", str(port)], env=env, capture_output=True,
                              text=True, timeout=60)
        assert busy.returncode == 2
        assert f"port {port} on 127.0.0.1 is busy" in " ".join(busy.stdout.split())
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_an_uninitialised_store_is_503_with_the_reason(make_settings, es: Elasticsearch) -> None:
    with live(make_settings(), es) as base:  # a fresh prefix: no index was ever created
        api, page = httpx.get(f"{base}/api/search", params={"q": "أرمينيا"}), httpx.get(f"{base}/")
    assert api.status_code == 503 and "ingest es init" in api.json()["message"]
    assert page.status_code == 503 and "ingest es init" in page.text
