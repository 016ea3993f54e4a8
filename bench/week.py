"""The week: a simulated week of the simulated news web (ingest/dev/evaluation/simweb.py), crawled by
``run_once`` every 5 simulated minutes as the DAG schedules it.

Baselines measured in the same run: the requests a naive crawler makes (every source polled every
5 minutes, every article fetched once), and the cost of a pass on day 1 (a pass on the last day
must cost the same: state grows, the work per pass must not). Lost / doubled / violations come from
the web's own plan and request log, never from the pipeline's output. Time is compressed: the clock
jumps between passes; the only real waiting is the crawler's per-host delay.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from bench.common import Context, Result, Stopwatch, scratch, verdict
from ingest import pipeline, store
from ingest.dev.evaluation import simweb
from ingest.dev.evaluation.simweb import SimClock, SimWeb
from ingest.dev.paths import CorpusPaths
from ingest.settings import Settings

DAYS = {"full": 7.0, "quick": 2.0, "tiny": 0.25}
PER_HOST_DAY = {"full": 20, "quick": 20, "tiny": 8}
EVERY = {"full": timedelta(minutes=5), "quick": timedelta(minutes=5), "tiny": timedelta(minutes=30)}
# quiet hours after the last publication, hourly passes: daily probes and retries come around
SETTLE = {"full": timedelta(hours=30), "quick": timedelta(hours=30), "tiny": timedelta(hours=3)}
NAIVE_EVERY = timedelta(minutes=5)
DELAY = 0.05
ROBOTS_TTL = timedelta(hours=6)
PERMANENT_TTL = timedelta(days=7)


def run(ctx: Context) -> Result:
    days, every = ctx.size(DAYS), ctx.size(EVERY)
    start = simweb.day_start(days_back=int(days) + 3)
    with scratch(ctx, allowed_networks=["127.0.0.0/8"], per_host_delay=DELAY, per_host_concurrency=2,
                 robots_cache_ttl=ROBOTS_TTL.total_seconds()) as cfg:
        plan = simweb.build_plan(CorpusPaths().fixtures_dir, start=start, days=days,
                                 per_host_day=ctx.size(PER_HOST_DAY))
        with SimWeb(plan, SimClock(start)) as web:
            sources = web.sources()
            costs: list[tuple[float, float, int]] = []  # (day, seconds, requests)
            now = start
            while now <= plan.end + ctx.size(SETTLE):
                web.clock.now, first = now, len(web.hits)
                with Stopwatch() as sw:
                    pipeline.run_once(cfg, sources, now=now)
                if now < plan.end:
                    costs.append(((now - start) / timedelta(days=1), sw.seconds, len(web.hits) - first))
                now += every if now < plan.end else timedelta(hours=1)
            return _result(ctx, cfg, web, costs, days)


def _result(ctx: Context, cfg: Settings, web: SimWeb, costs: list[tuple[float, float, int]],
            days: float) -> Result:
    alias = store.alias_name(cfg.es.index_prefix, "articles")
    ctx.es.indices.refresh(index=alias)
    docs = ctx.es.search(index=alias, size=10000, source=["url"], query={"match_all": {}})["hits"]["hits"]
    counts = Counter(d["_source"]["url"] for d in docs)
    expected = {web.url(a) for a in web.plan.expected(web.plan.end)}
    missing = sorted(expected - set(counts))
    lost = len(missing)
    # a wire copy may appear after the last publishing day: unexpected only if not published by now
    published_by_now = {web.url(a) for a in web.plan.expected(web.clock.now)}
    doubled = sum(n - 1 for n in counts.values()) + len(set(counts) - published_by_now)
    violations = {
        "politeness": simweb.politeness_violations(web.hits, concurrency=cfg.fetch.per_host_concurrency,
                                                   delay=DELAY, slack=0.02),
        "robots": simweb.robots_violations(web.hits, ttl=ROBOTS_TTL),
        "retry_after": simweb.retry_after_violations(web.hits),
        "refetch": simweb.refetch_violations(web.hits, ttl=PERMANENT_TTL),
    }
    published = len(web.plan.published(web.plan.end))
    naive = int(len(web.sources()) * timedelta(days=days) / NAIVE_EVERY) + published
    first_day = [s for d, s, _ in costs if d < 1.0] or [s for _, s, _ in costs]
    last_day = [s for d, s, _ in costs if d >= days - 1.0] or first_day
    day1, day_n = sum(first_day) / len(first_day), sum(last_day) / len(last_day)
    title = f"week: {days:g} simulated days, {len(web.sources())} sources on {len(simweb.OUTLETS)} hosts"
    res = Result(title, ["measure", "value"])
    res.rows += [
        ["articles published (plan)", published],
        ["articles expected indexed (not dead, not robots-disallowed)", len(expected)],
        ["articles lost", lost],
        ["articles doubled", doubled],
        *[[f"violations: {k}", len(v)] for k, v in violations.items()],
        ["requests made", len(web.hits)],
        ["requests, naive every-5-minute polling", naive],
        ["passes", len(costs)],
        ["cost per pass, day 1 (s)", day1],
        [f"cost per pass, day {days:g} (s)", day_n],
    ]
    saving = res.ratio("naive_requests_per_request", naive, len(web.hits), target=3.0)
    flat = res.ratio("day1_cost_per_last_day_cost", day1, day_n, target=0.8)
    res.notes += [f"first {k} violation: {v[0]}" for k, v in violations.items() if v]
    res.notes += [_why_lost(ctx, cfg, web, url) for url in missing[:5]]
    res.metrics = {"lost": lost, "doubled": doubled, "requests": len(web.hits), "naive_requests": naive,
                   "violations": {k: len(v) for k, v in violations.items()},
                   "pass_seconds_day1": day1, "pass_seconds_last_day": day_n}
    res.summary = (f"week: {len(web.hits)} requests vs {naive} naive ({saving:.1f}x fewer), lost {lost}, "
                   f"doubled {doubled}, per-host violations {sum(len(v) for v in violations.values())}, "
                   f"cost per pass day 1 {day1:.2f} s vs day {days:g} {day_n:.2f} s (ratio {flat:.2f}, "
                   f"{verdict(flat, 0.8)})")
    return res


def _why_lost(ctx: Context, cfg: Settings, web: SimWeb, url: str) -> str:
    """What the frontier and the server know of an article that was never indexed (the bench drops
    its indices at the end, so this is the only trace a run leaves)."""
    frontier = store.alias_name(cfg.es.index_prefix, "frontier")
    ctx.es.indices.refresh(index=frontier)
    hits = ctx.es.search(index=frontier, size=1, query={"term": {"url": url}},
                         source=["status", "attempts", "last_reason", "first_seen"])["hits"]["hits"]
    entry = hits[0]["_source"] if hits else "not in the frontier"
    path = url.split("/", 3)[-1]
    served = [(h.at.isoformat(timespec="minutes"), h.status) for h in web.hits if h.path.endswith(path)]
    return f"lost {url}: frontier {entry}; server saw {served[:5]}"
