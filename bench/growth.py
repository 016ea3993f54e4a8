"""Growth: cost per article of ``pipeline.dedup_and_index`` (dedup decision + indexing) with 10k,
100k and 300k articles already indexed (``--levels 10000,1000000`` for the million). Target: flat
(ratio cost@smallest / cost@largest >= 0.8).

To keep the run short the background is written with raw ``helpers.bulk`` (registry entries and
article documents exactly as ``decide`` and ``dedup_and_index`` would write them, fingerprints
computed in worker processes, term weights ``tw`` from the node's analysis and the registry's
document frequencies the way ``decide`` computes them, each document written once, all untimed);
then the merge policy is left to settle; only a fixed-size probe batch goes through the pipeline
at each level. The background is a news stream (``bench.corpus.news_stream``: mostly distinct
stories, a few percent copies) with event times inside every dedup window, so each probe's
candidate searches run against the whole background: the costly case.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import time
from collections import Counter, deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elasticsearch import helpers

from bench.common import (
    Context,
    Result,
    Stopwatch,
    node_cpu_ms,
    percentile,
    profiled,
    scratch,
    slope,
    verdict,
)
from bench.corpus import news_stream, news_stream_items
from ingest import documents, pipeline, store
from ingest.dedup import registry
from ingest.dedup.decide import Decision, Thresholds, entry_for
from ingest.dedup.queries import FIELDS, encode_weights
from ingest.dedup.similarity import FieldWeights, term_freqs, tfidf
from ingest.dev.paths import CorpusPaths
from ingest.models import Article

LEVELS = {"full": (10_000, 100_000, 300_000), "quick": (1_000, 5_000, 20_000), "tiny": (10, 20, 40)}
PROBE = {"full": 200, "quick": 100, "tiny": 4}  # the median of its batches of PROBE_BATCH
PROBE_BATCH = 50
CHUNK = 1_000  # background articles per worker task
TARGET = 0.8
# Every background and probe event time is relative to this instant, not to the clock: a cached
# background (``_restored_or_grown``) stays inside every probe's dedup windows on any later day.
ANCHOR = datetime(2026, 1, 5, 12, tzinfo=UTC)
# What the background's content depends on: a change to any of these builds it again.
CACHE_INPUTS = ("bench/corpus.py", "bench/growth.py", "ingest/dedup/decide.py", "ingest/dedup/fingerprint.py",
                "ingest/dedup/queries.py", "ingest/dedup/similarity.py", "ingest/documents.py",
                "ingest/arabic.py", "mappings")
KINDS = (registry.KIND, "articles")


def background_chunk(args: tuple[Path, int, int, Thresholds]) -> list[tuple[dict, dict]]:
    """(registry document, article document) for ``n`` articles of chunk ``seed``, decided as the
    pipeline decides a stream: a report of an earlier item's story joins its story, a copy joins
    its duplicate group (tiers as ``decide`` names them), anything else founds a story."""
    fixtures_dir, seed, n, cfg = args
    now = ANCHOR
    items = news_stream_items(fixtures_dir, n, seed=seed, start=now)
    story: list[str] = []
    canonical: list[str] = []
    out = []
    for order, item in enumerate(items):
        article, origin = item.article, item.origin
        entry = entry_for(article, cfg, now)
        story.append(article.doc_id if origin is None else story[origin])
        copy = item.kind in ("near", "exact")  # a copy always has an origin
        canonical.append(canonical[origin] if copy and origin is not None else article.doc_id)
        d = Decision(
            doc_id=article.doc_id,
            tier="new" if origin is None else item.kind,
            score=0.0 if origin is None else 1.0,
            matched_id="" if origin is None else items[origin].article.doc_id,
            duplicate_of=canonical[-1] if copy else None,
            story_id=story[-1],
            reason="bench background",
            thresholds=cfg.as_dict(),
            decided_at=now,
            order=order,
            content_hash=entry["content_hash"],
            title_key=entry["title_key"],
            lsh=tuple(entry["lsh"]),
            n_shingles=entry["n_shingles"],
            sources=(article.source_id,),
        )
        reg = {**entry, "state": "decided", "decision": d.registry_fields()}
        doc = {**documents.article_document(article), **d.document_fields(), "indexed_at": now.isoformat()}
        out.append((reg, {**doc, "_id": article.doc_id}))
    return out


class DocFreq:
    """The registry's document frequencies per field, counted here as the background is written.
    The bench writes every document, so the counts are the node's, without a lookup: asking the
    node for term statistics looks each term up in every segment, and that was half of the
    build's time. ``weights`` reads them the way ``decide`` reads the node's (a term the registry
    does not hold has no ``doc_freq``)."""

    def __init__(self) -> None:
        self.df: dict[str, Counter] = {f: Counter() for f in FIELDS}
        self.docs: Counter = Counter()

    @classmethod
    def counted(cls, ctx: Context, index: str) -> DocFreq:
        """The counts of a whole registry this run did not write (restored from the cache)."""
        hits = helpers.scan(ctx.es, index=index, query={"query": {"match_all": {}}}, _source=False)
        df = cls()
        df.count_ids(ctx, index, [h["_id"] for h in hits])
        return df

    def weights(self, cfg: Any, tv: dict[str, Any]) -> dict[str, FieldWeights]:
        """An article's story weights from its term frequencies and the counts so far."""
        prior = cfg.dedup.story_prior_docs
        tf = {f: term_freqs(tv.get(f) or {}) for f in FIELDS}
        return {f: FieldWeights(tfidf(tf[f], self.df[f], self.docs[f], prior)) for f in FIELDS}

    def add(self, tv: dict[str, Any]) -> None:
        for f in FIELDS:
            if terms := (tv.get(f) or {}).get("terms"):
                self.docs[f] += 1
                self.df[f].update(terms.keys())

    def count_ids(self, ctx: Context, index: str, ids: list[str], part: int = 250) -> None:
        """Count registered documents the pipeline wrote (the probes), by id."""
        for i in range(0, len(ids), part):
            for tv in registry.term_vectors(ctx.es, index, ids[i : i + part], list(FIELDS)).values():
                self.add(tv)


def grow(ctx: Context, cfg: Any, start: int, stop: int, df: DocFreq) -> None:
    """Add background articles ``start..stop`` with raw bulk (not timed), each written once with
    its term weights, as ``decide`` writes a decision (an update per article afterwards left a
    registry of deleted documents no stream produces, and cost half the build). A chunk's weights
    count the documents written before it, as a stream's registry would; nothing is refreshed in
    between (nothing searches a background while it is written)."""
    sizes = [(s, min(CHUNK, stop - s)) for s in range(start, stop, CHUNK)]
    tasks = [
        (CorpusPaths().fixtures_dir, 1_000_000 + s, n, cfg.dedup) for s, n in sizes  # seed: no two alike
    ]
    reg_index, art_index = registry.alias(cfg), store.alias_name(cfg.es.index_prefix, "articles")
    with mp.get_context("spawn").Pool(ctx.workers) as pool:
        for chunk in _in_order(pool, tasks, ahead=2 * ctx.workers):
            tvs = _term_freqs(ctx, reg_index, [reg for reg, _ in chunk])
            actions = []
            for (reg, doc), tv in zip(chunk, tvs, strict=True):
                tw = encode_weights(df.weights(cfg, tv))
                actions.append({"_index": reg_index, "_id": reg["doc_id"], "_source": {**reg, "tw": tw}})
                body = {k: v for k, v in doc.items() if k != "_id"}
                actions.append({"_index": art_index, "_id": doc["_id"], "_source": body})
            for tv in tvs:
                df.add(tv)
            helpers.bulk(ctx.es, actions, chunk_size=500)
    ctx.es.indices.refresh(index=[reg_index, art_index])  # the probe searches all of it
    _merges_settled(ctx, [reg_index, art_index])


def _in_order(pool: Any, tasks: list[tuple], ahead: int) -> Iterator[list[tuple[dict, dict]]]:
    """The chunks in task order, at most ``ahead`` computed before they are written. The workers
    make chunks faster than they are written: ``imap_unordered`` buffered them all (7 GB at half
    a million) and wrote them in no fixed order, so the weights were not reproducible."""
    pending: deque = deque()
    for task in tasks:
        pending.append(pool.apply_async(background_chunk, (task,)))
        if len(pending) > ahead:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _term_freqs(ctx: Context, index: str, regs: list[dict], part: int = 250) -> list[dict[str, Any]]:
    """Each document's analysed terms and frequencies (the node's analysis, as ``decide`` reads
    them), from term vectors of artificial documents."""
    out: list[dict[str, Any]] = []
    for i in range(0, len(regs), part):
        texts = [{f: r[f] for f in FIELDS} for r in regs[i : i + part]]
        out += registry.term_vectors_of(ctx.es, index, texts)
    return out


def _merges_settled(ctx: Context, indices: list[str], timeout_s: float = 1200.0) -> None:
    """Wait (untimed) until the merge policy has nothing left to do: the background load's merges
    are not the probe's cost. Lucene picks merges after a flush, so flush, wait for the merges,
    and repeat until the segment count holds (the state the policy keeps in production)."""
    deadline, last = time.monotonic() + timeout_s, -1
    while time.monotonic() < deadline:
        ctx.es.indices.flush(index=indices)
        while time.monotonic() < deadline:  # these indices' merges: not another run's on the node
            merges = ctx.es.indices.stats(index=indices, metric="merge")["_all"]["total"]["merges"]
            if not merges["current"]:
                break
            time.sleep(2)
        segments = _segments(ctx, indices)
        if segments == last:
            return
        last = segments


def _segments(ctx: Context, indices: list[str]) -> int:
    stats = ctx.es.indices.stats(index=indices, metric="segments")
    return int(stats["_all"]["total"]["segments"]["count"])


def _code_hash(cfg: Any) -> str:
    """A hash of what a background is made from: the code and data in ``CACHE_INPUTS``, the
    fixtures' names and sizes, and the dedup settings."""
    root = Path(__file__).resolve().parent.parent
    code = hashlib.sha256(json.dumps(cfg.dedup.as_dict(), sort_keys=True).encode())
    for name in CACHE_INPUTS:
        for path in sorted((root / name).rglob("*") if (root / name).is_dir() else [root / name]):
            if path.is_file():
                code.update(path.name.encode() + path.read_bytes())
    fixtures = CorpusPaths().fixtures_dir
    for path in sorted(fixtures.rglob("*")):
        if path.is_file():
            code.update(f"{path.relative_to(fixtures)}:{path.stat().st_size}".encode())
    return code.hexdigest()[:12]


def _cache_name(ctx: Context, code: str, levels: tuple[int, ...], n_probe: int) -> str:
    """The cache prefix of the background after ``levels`` (each level's probes are part of the
    next one's background): ``<cache_prefix>-<code>-<levels>``."""
    these = hashlib.sha256(json.dumps([list(levels), n_probe]).encode())
    return f"{ctx.cache_prefix}-{code}-{these.hexdigest()[:8]}"


def _restored_or_grown(
    ctx: Context, cfg: Any, have: int, level: int, cached: str, df: DocFreq | None
) -> DocFreq | None:
    """Make the scratch prefix's registry and articles hold the background of ``level``: cloned
    from the node's cache when an earlier run left it there (hard links: seconds instead of the
    build's minutes), else built with ``grow`` and then cached. The registry's counts after a
    build; None when restored (counted when something is built on it: ``DocFreq.counted``)."""
    live = {k: _concrete(ctx, store.alias_name(cfg.es.index_prefix, k)) for k in KINDS}
    copies = {k: f"{cached}-{k}" for k in KINDS}
    replicas = {"index.number_of_replicas": cfg.es.replicas}  # a clone has the default, not the source's
    if all(ctx.es.indices.exists(index=c) for c in copies.values()):
        for k in KINDS:
            ctx.es.indices.delete(index=live[k])
            ctx.es.indices.clone(index=copies[k], target=live[k], wait_for_active_shards="all",
                                 settings={"index.blocks.write": None, **replicas},
                                 aliases={store.alias_name(cfg.es.index_prefix, k): {}})
        return None
    df = df or DocFreq.counted(ctx, live[registry.KIND])
    grow(ctx, cfg, have, level, df)
    _evict_stale_caches(ctx, cached)
    for k in KINDS:
        ctx.es.indices.delete(index=copies[k], ignore_unavailable=True)
        ctx.es.indices.add_block(index=live[k], block="write")
        try:
            ctx.es.indices.clone(
                index=live[k], target=copies[k], settings=replicas, wait_for_active_shards="all"
            )
        finally:
            ctx.es.indices.put_settings(index=live[k], settings={"index.blocks.write": None})
    return df


def _concrete(ctx: Context, alias: str) -> str:
    return next(iter(ctx.es.indices.get_alias(name=alias)))


def _evict_stale_caches(ctx: Context, current: str) -> None:
    """Delete cached backgrounds of other code (never read again: they only take disk); those of
    the same code and other levels (``--quick``, a million) stay."""
    code = current.rsplit("-", 1)[0]
    for name in ctx.es.indices.get(index=f"{ctx.cache_prefix}-*", expand_wildcards="all"):
        if not name.startswith(f"{code}-"):
            ctx.es.indices.delete(index=name)


def probe(ctx: Context, cfg: Any, articles: list[Article]) -> tuple[float, Counter, float, float]:
    """Median seconds per article over the probe batches, the tiers they got, and node and
    worker CPU ms per article (CPU does not depend on what else the machine runs; wall time does)."""
    n = len(articles)
    per_article, tiers = [], Counter()
    node0, own0 = node_cpu_ms(ctx), time.process_time()
    for i in range(0, n, PROBE_BATCH):
        batch = articles[i : i + PROBE_BATCH]
        with Stopwatch() as sw:
            result = pipeline.dedup_and_index(cfg, batch, es=ctx.es)
        per_article.append(sw.seconds / len(batch))
        assert len(result.indexed) == len(batch), result.failed
    node_ms, own_ms = (node_cpu_ms(ctx) - node0) / n, 1000 * (time.process_time() - own0) / n
    docs = ctx.es.mget(index=registry.alias(cfg), ids=[a.doc_id for a in articles], source=["decision.tier"])
    tiers.update(d["_source"]["decision"]["tier"] for d in docs["docs"] if d.get("found"))
    return percentile(per_article, 50), tiers, node_ms, own_ms


def run(ctx: Context) -> Result:
    given = os.environ.get("BENCH_GROWTH_LEVELS", "")
    levels = tuple(int(x) for x in given.split(",") if x.strip()) or ctx.size(LEVELS)
    n_probe = ctx.size(PROBE)
    res = Result(
        "growth: dedup_and_index cost per article vs articles already indexed",
        ["already indexed", "probe articles", "ms/article", "node CPU ms", "worker CPU ms", "probe tiers"],
    )
    costs, cpu, backgrounds, registered = [], [], [], []
    with scratch(ctx) as cfg:
        have = 0
        # warm-up (untimed): the first level would otherwise pay for the node's and the
        # interpreter's first queries, and flatter the ratio
        warm = news_stream(CorpusPaths().fixtures_dir, PROBE_BATCH, seed=499, start=ANCHOR)
        pipeline.dedup_and_index(cfg, warm, es=ctx.es)
        df: DocFreq | None = DocFreq()
        df.count_ids(ctx, registry.alias(cfg), [a.doc_id for a in warm])
        code = _code_hash(cfg)
        for i, level in enumerate(levels):
            name = _cache_name(ctx, code, levels[: i + 1], n_probe)
            df = _restored_or_grown(ctx, cfg, have, level, name, df)
            how = "restored" if df is None else "built"
            backgrounds.append(how)
            print(f"growth: background of {level} {how} ({name})", flush=True)
            have = level
            registered.append(ctx.es.count(index=registry.alias(cfg))["count"])
            articles = news_stream(CorpusPaths().fixtures_dir, n_probe, seed=500 + level, start=ANCHOR,
                                   spread_hours=1)
            with profiled(ctx.profile and ctx.results_dir / f"growth-{level}.profile.txt"):
                cost, tiers, node_ms, own_ms = probe(ctx, cfg, articles)
            if df is not None:  # untimed; a restored registry is counted when built on
                df.count_ids(ctx, registry.alias(cfg), [a.doc_id for a in articles])
            have += n_probe
            costs.append(cost)
            cpu.append(node_ms + own_ms)
            res.rows.append([level, n_probe, 1000 * cost, node_ms, own_ms, dict(sorted(tiers.items()))])
            print(f"growth: {level} indexed: {1000 * cost:.1f} ms/article, CPU node {node_ms:.1f} + worker "
                  f"{own_ms:.1f} ms/article", flush=True)
    fitted = slope(levels, costs)
    per_10k = None if fitted is None else 1000 * fitted * 10_000
    slope_text = "slope n/a (one level)" if per_10k is None else f"slope {per_10k:+.2f} ms per 10k"
    r = res.ratio("smallest_vs_largest_index", 1 / costs[-1], 1 / costs[0], TARGET)
    r_cpu = res.ratio("smallest_vs_largest_index_cpu", cpu[0] / cpu[-1], 1.0, TARGET)
    res.notes.append(f"{slope_text}: the cost per article for each 10k more indexed (least squares)")
    res.metrics = {
        "levels": list(levels),
        "ms_per_article": [1000 * c for c in costs],
        "slope_ms_per_10k": per_10k,
        "cpu_ms_per_article": cpu,
        "background": backgrounds,  # built | restored (from the node's cache), per level
        "registered_before_probe": registered,
    }
    res.summary = (
        f"growth: {1000 * costs[0]:.0f} ms/article at {levels[0]} indexed -> {1000 * costs[-1]:.0f} ms at "
        f"{levels[-1]}; {slope_text}; ratio {r:.2f} (target >= {TARGET}: "
        f"{verdict(r, TARGET)}); CPU (node + worker) {cpu[0]:.1f} -> {cpu[-1]:.1f} ms/article: ratio "
        f"{r_cpu:.2f} ({verdict(r_cpu, TARGET)})"
    )
    return res
