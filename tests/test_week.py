"""A simulated day of crawling the simulated news web (ingest/dev/evaluation/simweb.py), and SIGKILLs.

Every expectation comes from the web's own publication plan and its request log, never from the
pipeline's output: what was published, who listed it, what each server answered and when. The
clock jumps between passes (no sleeping except the crawler's own per-host delay); the same ``now``
is given to ``run_once`` and to the servers.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from elasticsearch import Elasticsearch

from ingest import pipeline, store
from ingest.config import Source
from ingest.dev.evaluation import simweb
from ingest.dev.evaluation.server import LoopbackServer, Request, Route
from ingest.dev.evaluation.simweb import SimClock, SimWeb
from ingest.dev.paths import CorpusPaths
from ingest.settings import Settings, load_settings
from ingest.sourcestate import load_states
from ingest.summary import RunSummary

pytestmark = pytest.mark.integration

PASS_EVERY = timedelta(hours=1)
SETTLE = timedelta(hours=30)     # after the last publication: every probe and retry comes around
SETTLE_EVERY = timedelta(hours=2)
DELAY = 0.1
SLACK = 0.03                     # crawler-side start vs. server-side read of the request line
PERMANENT_TTL = timedelta(days=7)
ROBOTS_TTL = timedelta(hours=6)
RUNNER = Path(__file__).with_name("week_runner.py")


def sim_settings(es_url: str, **overrides: object) -> Settings:
    return load_settings(es={"url": es_url, "index_prefix": f"t{uuid.uuid4().hex[:10]}"},
                         fetch={"allowed_networks": ["127.0.0.0/8"],
                                "per_host_delay": DELAY,
                                "per_host_concurrency": 2,
                                "robots_cache_ttl": ROBOTS_TTL.total_seconds()},
                         poll={"min_interval": 3600.0},
                         **overrides)


@dataclass
class Pass:
    now: datetime
    due: set[str]
    polled: set[str]   # feeds requested
    tried: set[str]    # polled, or its host's robots.txt failed in this pass
    summary: RunSummary


@dataclass
class Day:
    web: SimWeb
    settings: Settings
    passes: list[Pass] = field(default_factory=list)
    last: datetime | None = None


def one_pass(day: Day, es: Elasticsearch, now: datetime) -> None:
    """Read the stored schedule, run one pass at ``now``, record which feeds the servers saw."""
    day.web.clock.now = now
    states = load_states(es, day.settings, day.web.source_ids())
    due = {sid for sid, state in states.items() if state.is_due(now)}
    first = len(day.web.hits)
    summary = pipeline.run_once(day.settings, day.web.sources(), now=now)
    hits = day.web.hits[first:]
    polled = {h.source_id for h in hits if h.kind == "feed" and h.source_id}
    # a due source whose host's robots.txt failed this pass was tried: no feed request can follow
    refused = {h.host for h in hits if h.kind == "robots" and (h.status == 0 or h.status >= 500)}
    tried = polled | {s.id for s in day.web.sources() if urlsplit(s.url).hostname in refused}
    day.passes.append(Pass(now, due, polled, tried, summary))
    day.last = now


@pytest.fixture(scope="module")
def day(es_url: str, es: Elasticsearch) -> Iterator[Day]:
    """One simulated day of publishing (a pass every hour), then quiet hours to settle."""
    settings = sim_settings(es_url)
    start = simweb.day_start(days_back=3)
    plan = simweb.build_plan(CorpusPaths().fixtures_dir, start=start, days=1.0, per_host_day=12)
    store.apply_templates(es, settings)
    try:
        with SimWeb(plan, SimClock(start)) as web:
            state = Day(web, settings)
            now = start
            while now <= plan.end:
                one_pass(state, es, now)
                now += PASS_EVERY
            while now <= plan.end + SETTLE:
                one_pass(state, es, now)
                now += SETTLE_EVERY
            yield state
    finally:
        store.drop_prefix(es, settings.es.index_prefix)


def indexed(es: Elasticsearch, settings: Settings) -> list[dict]:
    alias = store.alias_name(settings.es.index_prefix, "articles")
    es.indices.refresh(index=alias)
    response = es.search(index=alias, size=10000, source=["url", "sources", "duplicate_of"],
                         query={"match_all": {}})
    return [h["_source"] | {"_id": h["_id"]} for h in response["hits"]["hits"]]


# ---- the schedule ----------------------------------------------------------------------------

def test_each_pass_polls_exactly_the_sources_that_are_due(day: Day) -> None:
    wrong = [(p.now, sorted(p.polled - p.due)[:3], sorted(p.due - p.tried)[:3])
             for p in day.passes if p.polled - p.due or p.due - p.tried]
    assert not wrong, f"{len(wrong)} passes polled (early, missed): {wrong[:3]}"


def test_no_source_polled_twice_within_the_minimum_interval(day: Day) -> None:
    minimum = timedelta(seconds=day.settings.poll.min_interval)
    early = [(sid, a, b) for sid, times in simweb.polls(day.web.hits).items()
             for a, b in pairwise(times) if b - a < minimum]
    assert not early, early[:5]
    # most sources are polled far less often than every pass: the schedule adapts
    assert sum(len(t) for t in simweb.polls(day.web.hits).values()) < 0.5 * 110 * len(day.passes)


def test_retry_after_is_honoured_across_runs(day: Day) -> None:
    told = [h for h in day.web.hits if h.retry_after]
    assert {h.status for h in told} == {429, 503}  # the faults really happened
    assert simweb.retry_after_violations(day.web.hits) == []


def test_sources_that_recover_are_polled_again(day: Day) -> None:
    plan = day.web.plan
    for outlet, (_, recovered) in ((simweb.DOWN[0], plan.windows(*simweb.DOWN[1:3])[0]),
                                   (simweb.OVERLOAD[0], plan.windows(*simweb.OVERLOAD[1:3])[0])):
        host = simweb.host_address(simweb.OUTLETS.index(outlet))
        assert any(h.host == host and (h.status == 0 or h.status >= 500) for h in day.web.hits), outlet
        hits = [h for h in day.web.hits if h.kind == "feed" and h.source_id.startswith(outlet + "-")]
        after = {h.source_id for h in hits if h.at >= recovered and h.status in (200, 304)}
        assert after == {f"{outlet}-{f}" for f in simweb.FEEDS}, outlet
    throttled_until = plan.windows(*simweb.THROTTLE[1:3])[0][1]
    assert any(h.source_id == simweb.THROTTLE[0] and h.at >= throttled_until and h.status == 200
               for h in day.web.hits)


# ---- politeness ------------------------------------------------------------------------------

def test_per_host_concurrency_and_delay_hold(day: Day) -> None:
    busiest = max(h.in_flight for h in day.web.hits)
    assert busiest >= 1
    assert simweb.politeness_violations(day.web.hits, concurrency=day.settings.fetch.per_host_concurrency,
                                        delay=DELAY, slack=SLACK) == []


def test_robots_txt_fetched_at_most_once_per_host_per_ttl(day: Day) -> None:
    fetched = {h.host for h in day.web.hits if h.kind == "robots"}
    assert len(fetched) == len(simweb.OUTLETS)
    assert simweb.robots_violations(day.web.hits, ttl=ROBOTS_TTL) == []
    private = [h.path for h in day.web.hits if "/private-" in h.path]
    assert private == []


def test_permanent_failures_are_not_refetched_within_their_ttl(day: Day) -> None:
    dead = {a.path for a in day.web.plan.articles if a.broken}
    asked = Counter(h.path for h in day.web.hits if h.path in dead)
    assert asked and set(asked.values()) == {1}, asked
    assert simweb.refetch_violations(day.web.hits, ttl=PERMANENT_TTL) == []


def test_every_article_fetched_once_however_many_feeds_list_it(day: Day) -> None:
    ok = Counter(h.path for h in day.web.hits if h.kind == "article" and h.status == 200)
    assert ok and max(ok.values()) == 1, ok.most_common(3)


# ---- nothing lost, nothing doubled -----------------------------------------------------------

def test_every_published_article_indexed_exactly_once(day: Day, es: Elasticsearch) -> None:
    expected = {day.web.url(a) for a in day.web.plan.expected(day.web.plan.end)}
    by_now = {day.web.url(a) for a in day.web.plan.expected(day.last)}  # wire copies come later
    counts = Counter(d["url"] for d in indexed(es, day.settings))
    assert sorted(expected - set(counts))[:5] == [], f"{len(expected - set(counts))} lost"
    assert sorted(set(counts) - by_now)[:5] == []
    assert [u for u, n in counts.items() if n > 1] == []


def test_lying_etag_does_not_hide_new_items(day: Day, es: Elasticsearch) -> None:
    lying = {day.web.url(a) for a in day.web.plan.expected(day.web.plan.end)
             if simweb.LYING in a.listed_by()}
    assert lying
    assert lying <= {d["url"] for d in indexed(es, day.settings)}


def test_every_article_attributed_to_every_source_that_listed_it(day: Day, es: Elasticsearch) -> None:
    docs = {d["url"]: d for d in indexed(es, day.settings)}
    missing = {day.web.url(a): sorted(a.listed_by() - set(docs[day.web.url(a)].get("sources") or ()))
               for a in day.web.plan.expected(day.web.plan.end) if day.web.url(a) in docs}
    missing = {u: m for u, m in missing.items() if m}
    assert missing == {}, f"{len(missing)} articles miss sources, e.g. {list(missing.items())[:3]}"


def test_wire_republications_are_indexed_as_copies(day: Day, es: Elasticsearch) -> None:
    docs = {d["url"]: d for d in indexed(es, day.settings)}
    by_path = {urlsplit(u).path: d for u, d in docs.items()}
    copies = [a for a in day.web.plan.expected(day.web.plan.end) if a.wire_of]
    assert copies
    for copy in copies:
        mine, original = by_path[copy.path], by_path[copy.wire_of]
        assert original["_id"] in (mine.get("duplicate_of"), original.get("duplicate_of")) or \
            mine["_id"] == original.get("duplicate_of"), copy.path


# ---- SIGKILL at several points of a pass -----------------------------------------------------

class HoldingProxy:
    """A TCP proxy in front of the node that holds (never forwards) the first request whose bytes
    match ``pattern``, and says so: the moment to kill a worker in the middle of indexing."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 9200)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.pattern: re.Pattern[bytes] | None = None
        self.tripped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if watch and self.pattern is not None and not self.tripped.is_set() \
                        and self.pattern.search(chunk):
                    self.tripped.set()
                    return  # held: the worker waits for an answer until it is killed
                dst.sendall(chunk)
        except OSError:
            pass
        for sock in (src, dst):
            sock.close()


@pytest.fixture
def proxy(es_url: str) -> Iterator[HoldingProxy]:
    holder = HoldingProxy(es_url)
    yield holder
    holder.listener.close()


def runner_env(settings: Settings, es_url: str) -> dict[str, str]:
    return {**os.environ, "INGEST_ES_URL": es_url, "INGEST_INDEX_PREFIX": settings.es.index_prefix,
            "INGEST_ALLOWED_NETWORKS": '["127.0.0.0/8"]', "INGEST_PER_HOST_DELAY": str(DELAY),
            "INGEST_POLL_MIN_INTERVAL": str(settings.poll.min_interval), "INGEST_ES_MAX_RETRIES": "0"}


@pytest.mark.parametrize("point", ["after_poll", "mid_fetch", "mid_index"])
def test_a_pass_killed_with_sigkill_loses_and_doubles_nothing(
        point: str, es_url: str, es: Elasticsearch, proxy: HoldingProxy, tmp_path: Path) -> None:
    settings = sim_settings(es_url)
    start = simweb.day_start(days_back=2)
    plan = simweb.build_plan(CorpusPaths().fixtures_dir, start=start, days=0.5, per_host_day=12, seed=12)
    store.apply_templates(es, settings)
    # after every planned fault of the day (all end by 11:00): the kill is the only trouble
    now = plan.end + timedelta(minutes=1)
    try:
        with SimWeb(plan, SimClock(now)) as web:
            sources = web.write_sources(tmp_path / "sources.yaml")
            if point == "mid_index":
                prefix = re.escape(store.alias_name(settings.es.index_prefix, "articles").encode())
                proxy.pattern = re.compile(rb'"_index"\s*:\s*"' + prefix + rb'["-]')
                tripped, es_for_worker = proxy.tripped, proxy.url
            else:
                article = web.trap(lambda h: h.kind == "article", after=1 if point == "after_poll" else 25)
                tripped, es_for_worker = article.tripped, es_url
            worker = subprocess.Popen([sys.executable, str(RUNNER), str(sources), now.isoformat()],
                                      env=runner_env(settings, es_for_worker), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT)
            try:
                for _ in range(240):  # bounded: 2 minutes
                    if tripped.wait(0.5) or worker.poll() is not None:
                        break
                assert tripped.is_set(), f"the pass never reached {point}: {worker.stdout.read()[-2000:]!r}"
                worker.send_signal(signal.SIGKILL)
                assert worker.wait(30) == -signal.SIGKILL
            finally:
                if worker.poll() is None:
                    worker.kill()
                worker.wait(30)
                for trap in web.traps:
                    trap.release.set()
            # the next passes (a worker restarted later by the scheduler) finish the job
            for step in range(1, 5):
                web.clock.now = now + step * timedelta(hours=1)
                pipeline.run_once(settings, web.sources(), now=web.clock.now)
            expected = {web.url(a) for a in plan.expected(plan.end)}
            counts = Counter(d["url"] for d in indexed(es, settings))
            assert expected - set(counts) == set(), f"{len(expected - set(counts))} of {len(expected)} lost"
            assert set(counts) - {web.url(a) for a in plan.expected(web.clock.now)} == set()
            assert [u for u, n in counts.items() if n > 1] == []
    finally:
        store.drop_prefix(es, settings.es.index_prefix)


# ---- two worker processes polling one host at once ------------------------------------------

def test_polls_from_two_processes_share_the_per_host_delay(es_url: str, es: Elasticsearch,
                                                           tmp_path: Path) -> None:
    """The DAG polls every due source in its own task, so two workers may poll feeds of one host at
    the same moment; from the server's log: starts never closer than the delay, never crowded."""
    settings = sim_settings(es_url)
    store.apply_templates(es, settings)
    seen: list[tuple[float, int, str]] = []
    server = LoopbackServer(host="127.0.0.13")
    empty = b"<rss version='2.0'><channel><title>t</title></channel></rss>"

    def handle(request: Request) -> Route:
        seen.append((time.monotonic(), server.in_flight, request.path))
        return Route(200, {"Content-Type": simweb.RSS}, empty)

    server.default = handle
    try:
        with server:
            runs = []
            for name in ("a", "b"):
                feeds = [Source(id=f"{name}{i}", name=f"{name}{i}", url=server.url(f"/{name}{i}.xml"),
                                kind="feed") for i in range(15)]
                path = tmp_path / f"{name}.yaml"
                path.write_text(yaml.safe_dump({"sources": [f.model_dump(mode="json") for f in feeds]}))
                runs.append(path)
            start_at = str(time.time() + 4.0)  # both past their imports
            workers = [subprocess.Popen([sys.executable, str(RUNNER), str(path), T0.isoformat(), start_at],
                                        env=runner_env(settings, es_url), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT) for path in runs]
            outputs = [w.communicate(timeout=120)[0] for w in workers]
            assert [w.returncode for w in workers] == [0, 0], outputs
    finally:
        store.drop_prefix(es, settings.es.index_prefix)
    feeds = [(t, path) for t, _, path in seen if path.endswith(".xml")]
    assert len(feeds) == 30
    a = [t for t, path in feeds if path.startswith("/a")]
    b = [t for t, path in feeds if path.startswith("/b")]
    assert max(a[0], b[0]) < min(a[-1], b[-1]), "the two workers did not poll at the same time"
    starts = sorted(t for t, _, _ in seen)
    gaps = [round(y - x, 3) for x, y in pairwise(starts)]
    assert min(gaps) >= DELAY - SLACK, gaps
    assert max(n for _, n, _ in seen) <= settings.fetch.per_host_concurrency


# ---- the simulated web and its checks, on their own (no pipeline) ----------------------------

T0 = simweb.day_start(days_back=2)


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


def test_the_plan_has_every_fault_and_enough_sources() -> None:
    plan = simweb.build_plan(CorpusPaths().fixtures_dir, start=T0, days=1.0, per_host_day=12)
    with SimWeb(plan, SimClock(T0)) as web:
        assert len(web.sources()) >= 100 and len({urlsplit(s.url).hostname for s in web.sources()}) >= 10
    assert any(a.wire_of for a in plan.articles)
    assert {a.broken for a in plan.articles} == {0, 404, 410}
    assert any(a.private for a in plan.articles)
    assert all(a.published < plan.end for a in plan.articles if not a.wire_of)
