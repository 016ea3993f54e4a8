"""Freshness: time from an item appearing in a feed to the article being searchable.

Model: freshness = schedule wait + pipeline latency. The schedule wait is not measured (it is
arithmetic): the DAG polls every source on its cron schedule (default ``*/5 * * * *``), so an
item published at a uniformly random moment waits on average half an interval and at most one
interval before the next poll. The pipeline latency is measured: a loopback feed gains one new
item, then ``poll_source`` -> ``fetch_and_extract`` -> ``dedup_and_index`` run (as the DAG's
tasks do, minus Airflow's task start-up), until a search for the article's URL finds it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from croniter import croniter

from bench.common import ROBOTS, Context, Result, Stopwatch, page_server, percentile, scratch
from bench.corpus import perturbed, render_page
from ingest import pipeline, store
from ingest.config import Source
from ingest.dev.paths import CorpusPaths
from ingest.settings import load_settings

REPEATS = {"full": 7, "quick": 3, "tiny": 1}
ALREADY_IN_FEED = {"full": 20, "quick": 10, "tiny": 3}


class Feed:
    """One RSS feed on loopback whose items are the first ``shown`` perturbed articles."""

    def __init__(self, ctx: Context, total: int) -> None:
        self.articles = perturbed(CorpusPaths().fixtures_dir, total, seed=77, start=datetime.now(UTC))
        self.shown, self.base = 0, ""

    def resolve(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if path == "/robots.txt":
            return ROBOTS
        if path == "/feed.xml":
            return 200, {"Content-Type": "application/rss+xml; charset=utf-8"}, self.rss()
        i = int(path.removeprefix("/a/").removesuffix(".html"))
        return 200, {"Content-Type": "text/html; charset=utf-8"}, render_page(self.articles[i])

    def link(self, i: int) -> str:
        return f"{self.base}/a/{i}.html"

    def rss(self) -> bytes:
        now = datetime.now(UTC)
        items = "".join(
            f"<item><title>{i}</title><link>{self.link(i)}</link><guid>{self.link(i)}</guid>"
            f"<pubDate>{format_datetime(now - timedelta(minutes=self.shown - i))}</pubDate></item>"
            for i in reversed(range(self.shown))
        )
        return (
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>bench</title>'
            f"<link>{self.base}/</link>{items}</channel></rss>"
        ).encode()


def cycle(ctx: Context, cfg: Any, source: Source) -> int:
    """One poll -> fetch+extract -> dedup+index round; returns how many articles it indexed."""
    polled = pipeline.poll_source(cfg, source, es=ctx.es)
    extracted = pipeline.fetch_and_extract(cfg, list(polled.items), sources=[source])
    return len(pipeline.dedup_and_index(cfg, list(extracted.articles), es=ctx.es).indexed)


def searchable(ctx: Context, cfg: Any, url: str) -> bool:
    alias = store.alias_name(cfg.es.index_prefix, "articles")
    return ctx.es.count(index=alias, query={"term": {"url": url}})["count"] == 1


def schedule_interval(schedule: str) -> float:
    """Seconds between two runs of a cron schedule (first gap after a fixed reference time)."""
    it = croniter(schedule, datetime(2026, 1, 1, tzinfo=UTC))
    first = it.get_next(datetime)
    return (it.get_next(datetime) - first).total_seconds()


def run(ctx: Context) -> Result:
    repeats, backlog = ctx.size(REPEATS), ctx.size(ALREADY_IN_FEED)
    feed = Feed(ctx, backlog + repeats)
    latencies = []
    with page_server(feed.resolve) as server, scratch(ctx, allowed_networks=["127.0.0.0/8"]) as cfg:
        feed.base = server.url("").rstrip("/")
        source = Source(id="bench-fresh", name="Bench freshness", url=f"{feed.base}/feed.xml")
        feed.shown = backlog
        cycle(ctx, cfg, source)  # the feed's existing items are known before the clock starts
        for _ in range(repeats):
            feed.shown += 1
            with Stopwatch() as sw:
                indexed = cycle(ctx, cfg, source)
                found = searchable(ctx, cfg, feed.link(feed.shown - 1))
            assert indexed == 1 and found, f"new item not searchable (indexed {indexed})"
            latencies.append(sw.seconds)
    return _result(latencies, backlog)


def _result(latencies: list[float], backlog: int) -> Result:
    schedule = load_settings().dag.schedule
    interval = schedule_interval(schedule)
    p50 = percentile(latencies, 50)
    res = Result("freshness: feed item -> searchable", ["component", "seconds"])
    res.rows += [
        ["pipeline latency, one new item (median)", p50],
        ["pipeline latency (max of runs)", max(latencies)],
        [f"schedule wait, mean ({schedule}: interval/2)", interval / 2],
        ["schedule wait, max (one interval)", interval],
        ["expected freshness, mean", interval / 2 + p50],
        ["expected freshness, worst case", interval + max(latencies)],
    ]
    res.notes.append(
        f"{len(latencies)} runs, each one new item in a feed of {backlog}+ known items; "
        "Airflow's own task start-up (a few seconds per task) is not included"
    )
    res.metrics = {
        "latency_s": latencies,
        "schedule": schedule,
        "interval_s": interval,
        "mean_freshness_s": interval / 2 + p50,
        "max_freshness_s": interval + max(latencies),
    }
    res.summary = (
        f"freshness: pipeline latency {p50:.2f} s (median of {len(latencies)}) + schedule wait "
        f"{interval / 2:.0f} s mean / {interval:.0f} s max ({schedule}) = {interval / 2 + p50:.0f} s "
        f"mean, {interval + max(latencies):.0f} s worst case"
    )
    return res
