"""The simulated news web and its checks on their own (no pipeline): its plan, what it serves,
and the politeness / retry / refetch / robots checks the week tests apply to its request log."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from week_support import T0

from ingest.dev.evaluation import simweb
from ingest.dev.evaluation.simweb import SimClock, SimWeb
from ingest.dev.paths import CorpusPaths

# ---- the simulated web and its checks, on their own (no pipeline) ----------------------------



def hit(minutes: float, path: str = "/a/x.html", *, host: str = "127.0.0.2", started: float = 0.0,
        status: int = 200, in_flight: int = 1, kind: str = "article", retry_after: float = 0.0) -> simweb.Hit:
    return simweb.Hit(T0 + timedelta(minutes=minutes), started, host, path, status, in_flight, kind,
                      retry_after=retry_after)


def test_politeness_check_flags_crowding_and_close_starts() -> None:
    fine = [hit(0, started=1.0), hit(0, started=1.06), hit(0, started=1.0, host="127.0.0.3")]
    assert simweb.politeness_violations(fine, concurrency=2, delay=0.05) == []
    crowded = [*fine, hit(0, started=5.0, in_flight=3)]
    assert len(simweb.politeness_violations(crowded, concurrency=2, delay=0.05)) == 1
    close = [*fine, hit(0, started=1.08)]
    assert len(simweb.politeness_violations(close, concurrency=2, delay=0.05, slack=0.01)) == 1


def test_retry_after_refetch_and_robots_checks() -> None:
    told = [hit(0, "/f.xml", status=429, retry_after=3600), hit(30, "/f.xml"), hit(61, "/f.xml")]
    assert len(simweb.retry_after_violations(told)) == 1
    dead = [hit(0, status=404), hit(60, status=404), hit(8 * 24 * 60, status=404)]
    assert len(simweb.refetch_violations(dead, ttl=timedelta(days=7))) == 1
    robots = [hit(m, "/robots.txt", kind="robots") for m in (0, 60, 7 * 60)]
    assert len(simweb.robots_violations(robots, ttl=timedelta(hours=6))) == 1


@pytest.mark.slow
def test_the_web_serves_its_plan_and_its_faults() -> None:
    import httpx

    plan = simweb.build_plan(CorpusPaths().fixtures_dir, start=T0, days=1.0, per_host_day=12)
    clock = SimClock(T0 + timedelta(hours=12))
    with SimWeb(plan, clock) as web, httpx.Client() as client:
        feed = web.base_url("okaz") + "/okaz/latest.xml"
        first = client.get(feed)
        assert first.status_code == 200 and b"<item>" in first.content
        assert client.get(feed, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
        listed = web.listed("okaz-latest", clock.now)
        assert listed and all(a.published <= clock.now for a in listed)
        page = client.get(web.url(listed[0]))
        assert page.status_code == 200 and listed[0].page.paragraphs[0].encode() in page.content
        lying = web.base_url("okaz") + simweb.feed_path(simweb.LYING)
        etag = client.get(lying).headers["etag"]
        clock.advance(timedelta(hours=6))
        assert client.get(lying, headers={"If-None-Match": etag}).status_code == 304
        assert client.get(lying).headers["etag"] == etag  # the lie: same tag, newer content
        moved = client.get(web.base_url("alyaum") + simweb.feed_path(simweb.MOVED[0]))
        assert moved.status_code == 301 and moved.headers["location"] == simweb.MOVED[1]
        robots = client.get(web.base_url("aleqtisadiya") + "/robots.txt").text
        assert "Disallow: /aleqtisadiya/private-" in robots
        dead = next(a for a in plan.articles if a.broken)
        clock.now = dead.published
        assert client.get(web.url(dead)).status_code == dead.broken
        clock.now = T0 + simweb.DOWN[1] + timedelta(minutes=1)
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(web.base_url(simweb.DOWN[0]) + "/robots.txt")
        clock.now = T0 + simweb.OVERLOAD[1] + timedelta(minutes=1)
        busy = client.get(web.base_url(simweb.OVERLOAD[0]) + "/robots.txt")
        assert busy.status_code == 503 and busy.headers["retry-after"] == str(simweb.OVERLOAD[3])
    kinds = Counter((h.kind, h.status) for h in web.hits)
    assert kinds[("feed", 304)] == 2 and kinds[("robots", 0)] == 1 and kinds[("robots", 503)] == 1


@pytest.mark.slow
def test_the_plan_has_every_fault_and_enough_sources() -> None:
    plan = simweb.build_plan(CorpusPaths().fixtures_dir, start=T0, days=1.0, per_host_day=12)
    with SimWeb(plan, SimClock(T0)) as web:
        assert len(web.sources()) >= 100 and len({urlsplit(s.url).hostname for s in web.sources()}) >= 10
    assert any(a.wire_of for a in plan.articles)
    assert {a.broken for a in plan.articles} == {0, 404, 410}
    assert any(a.private for a in plan.articles)
    assert all(a.published < plan.end for a in plan.articles if not a.wire_of)
