"""Memory: resident set size of one worker process handling 10k articles, sampled at checkpoints.
It must not grow with the number of articles processed (ratio RSS@early / RSS@end >= 0.9).

The worker runs the stage functions on batches of feed items served over loopback: every batch
through ``fetch_and_extract`` (HTTP, charset, extraction chain), dedup fingerprints and
``bulk_write`` of the documents; and at every checkpoint one slice through the full
``dedup_and_index`` (Elasticsearch-backed decisions), which alone would take too long for 10k.
Pages are perturbed real Arabic texts in a news-page template (so 10k are distinct articles).
"""

from __future__ import annotations

import resource
from datetime import UTC, datetime
from typing import Any

from bench.common import ROBOTS, Context, Result, page_server, run_workers, scratch, slope
from bench.corpus import perturbed, render_page
from ingest.dev.paths import CorpusPaths

SIZES = {"full": 10_000, "quick": 1_000, "tiny": 20}
CHECKPOINTS = 10
BATCH = {"full": 100, "quick": 50, "tiny": 2}
DEDUP_SLICE = {"full": 20, "quick": 10, "tiny": 2}
TARGET = 0.9


class Pages:
    """``/m/<i>.html`` is the i-th perturbed article, rendered as a page."""

    def __init__(self, ctx: Context, n: int) -> None:
        self.articles = perturbed(CorpusPaths().fixtures_dir, n, seed=4242, start=datetime.now(UTC))

    def resolve(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if path == "/robots.txt":
            return ROBOTS
        i = int(path.removeprefix("/m/").removesuffix(".html"))
        return 200, {"Content-Type": "text/html; charset=utf-8"}, render_page(self.articles[i])


def worker_prepare(settings: Any, base: str, n: int, batch: int, dedup_slice: int) -> tuple:
    from ingest import pipeline, store  # noqa: F401 - imports are set-up

    return settings, base, n, batch, dedup_slice, store.connect(settings)


def worker_run(state: tuple) -> list[tuple[int, float, float]]:
    """(articles processed, RSS MB, peak RSS MB) at each checkpoint."""
    import psutil

    from ingest import documents, pipeline, store
    from ingest.config import Source
    from ingest.dedup.decide import entry_for
    from ingest.indexer import bulk_write
    from ingest.models import FeedItem

    settings, base, n, batch, dedup_slice, es = state
    source = Source(id="bench-memory", name="Bench memory", url=f"{base}/feed.xml")
    cfg, alias = settings.dedup, store.alias_name(settings.es.index_prefix, "articles")
    every, samples, me = max(batch, n // CHECKPOINTS), [], psutil.Process()
    for start in range(0, n, batch):
        items = [
            FeedItem(source.id, source.url, f"{base}/m/{i}.html", f"{base}/m/{i}.html")
            for i in range(start, min(n, start + batch))
        ]
        articles = list(pipeline.fetch_and_extract(settings, items, sources=[source]).articles)
        now = datetime.now(UTC)
        docs = [
            {**documents.article_document(a), "lsh": entry_for(a, cfg, now)["lsh"], "_id": a.doc_id}
            for a in articles
        ]
        bulk_write(es, alias, docs)
        done = start + len(items)
        if done % every == 0 or done == n:
            pipeline.dedup_and_index(settings, articles[:dedup_slice], es=es)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            samples.append((done, me.memory_info().rss / 2**20, peak))
    return samples


def run(ctx: Context) -> Result:
    n, batch = ctx.size(SIZES), ctx.size(BATCH)
    pages = Pages(ctx, n)
    with (
        page_server(pages.resolve) as server,
        scratch(
            ctx,
            allowed_networks=["127.0.0.0/8"],
            per_host_delay=0.0,
            per_host_concurrency=ctx.settings.fetch.concurrency,
        ) as cfg,
    ):
        wall, (samples,) = run_workers(
            worker_prepare, worker_run, [(cfg, server.url("").rstrip("/"), n, batch, ctx.size(DEDUP_SLICE))]
        )
    res = Result(
        "memory: one worker's RSS while processing articles", ["articles processed", "RSS MB", "peak RSS MB"]
    )
    res.rows += [list(s) for s in samples]
    early = samples[1] if len(samples) > 2 else samples[0]  # after warm-up (lazy caches of the libraries)
    last = samples[-1]
    per_1k = 1000 * (slope([s[0] for s in samples], [s[1] for s in samples]) or 0.0)  # one sample: flat
    r = res.ratio("early_vs_final_rss", early[1], last[1], TARGET)
    res.notes.append(f"{n} articles in {wall:.0f} s; slope {per_1k:+.2f} MB per 1k articles (least squares)")
    res.metrics = {
        "articles": n,
        "samples": samples,
        "peak_mb": max(s[2] for s in samples),
        "slope_mb_per_1k": per_1k,
    }
    res.summary = (
        f"memory: peak RSS {max(s[2] for s in samples):.0f} MB over {n} articles; RSS {early[1]:.0f} MB "
        f"at {early[0]} -> {last[1]:.0f} MB at {last[0]} ({per_1k:+.2f} MB per 1k): ratio {r:.2f} "
        f"(target >= {TARGET}: {'flat' if r >= TARGET else 'GROWING'})"
    )
    return res
