"""A simulated day of crawling the simulated news web (ingest/dev/evaluation/simweb.py).

Every expectation comes from the web's own publication plan and its request log, never from the
pipeline's output: what was published, who listed it, what each server answered and when. The
clock jumps between passes (no sleeping except the crawler's own per-host delay); the same ``now``
is given to ``run_once`` and to the servers. The day is built once (a module fixture, minutes):
slow. SIGKILLs and two worker processes: test_week_faults.py; the web on its own: test_simweb.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from urllib.parse import urlsplit

import pytest
from elasticsearch import Elasticsearch
from week_support import DELAY, PERMANENT_TTL, ROBOTS_TTL, SLACK, indexed, sim_settings

from ingest import pipeline, store
from ingest.dev.evaluation import simweb
from ingest.dev.evaluation.simweb import SimClock, SimWeb
from ingest.dev.paths import CorpusPaths
from ingest.settings import Settings
from ingest.sourcestate import load_states
from ingest.summary import RunSummary

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASS_EVERY = timedelta(hours=1)
SETTLE = timedelta(hours=30)     # after the last publication: every probe and retry comes around
SETTLE_EVERY = timedelta(hours=2)


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
