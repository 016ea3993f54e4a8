"""Deduplication: decisions/s and per-decision latency of ``ingest.dedup.decide`` (state in
Elasticsearch: registry, LSH band keys, more_like_this + term vectors for stories) against an
in-memory datasketch ``MinHashLSH`` (exact hash + near-duplicate only, one process's memory) on
the same real articles, with the same fingerprints.

Why that baseline: it is what a single-process pipeline would do; the gap is the price of
stateless workers and of the story tier. Quality is printed alongside: both against the
exact-copy silver set of the same articles, and ``ingest eval dedup``'s labelled set.
"""

from __future__ import annotations

import time
from typing import Any

from datasketch import MinHash, MinHashLSH

from bench.common import (
    Context,
    Result,
    Stopwatch,
    node_cpu_ms,
    percentile,
    profiled,
    run_workers,
    scratch,
    split,
)
from ingest import dedup
from ingest.dedup import fingerprint as fp
from ingest.dev.evaluation import dedup as ev
from ingest.dev.paths import CorpusPaths
from ingest.models import Article
from ingest.settings import PROJECT_ROOT

LATENCY_N = {"full": 300, "quick": 60, "tiny": 6}  # one decide() call per article
BATCH_N = {"full": 600, "quick": 150, "tiny": 10}  # decide() in batches, as the pipeline calls it
BATCH = 50
WORKERS_N = {"full": 600, "quick": 150, "tiny": 10}  # capacity: the same articles, 1 then 2 processes
TARGET_RATE, TARGET_NODE_MS = 100.0, 5.0
LABELLED_ORDERS = {"full": (None, 1, 2), "quick": (None,), "tiny": (None,)}
LABELLED_DIR = PROJECT_ROOT / "tests" / "fixtures" / "dedup"


def es_single(ctx: Context, articles: list[Article]) -> tuple[float, list[float], dict[str, Any]]:
    with scratch(ctx) as cfg:
        latencies, out = [], {}
        with Stopwatch() as total:
            for a in articles:
                with Stopwatch() as sw:
                    (d,) = dedup.decide(ctx.es, cfg, [a])
                latencies.append(sw.seconds)
                out[d.doc_id] = d
    return total.seconds, latencies, out


def es_batched(ctx: Context, articles: list[Article]) -> tuple[float, dict[str, Any], float, float]:
    """(seconds, decisions, node CPU ms per article, worker CPU ms per article) of ``decide`` in
    batches of BATCH. CPU, unlike wall time, does not depend on what else the machine runs."""
    with scratch(ctx) as cfg:
        path = ctx.profile and ctx.results_dir / "dedup-batched.profile.txt"
        cpu0, own0 = node_cpu_ms(ctx), time.process_time()
        with profiled(path), Stopwatch() as total:
            out = {}
            for i in range(0, len(articles), BATCH):
                out.update({d.doc_id: d for d in dedup.decide(ctx.es, cfg, articles[i : i + BATCH])})
        node_ms = (node_cpu_ms(ctx) - cpu0) / max(1, len(articles))
        worker_ms = 1000 * (time.process_time() - own0) / max(1, len(articles))
    return total.seconds, out, node_ms, worker_ms


def _prepare_worker(settings: Any, articles: list[Article]) -> tuple[Any, list[Article]]:
    from ingest import store

    return (store.connect(settings), settings, articles)


def _work(state: tuple[Any, Any, list[Article]]) -> int:
    es, settings, articles = state
    for i in range(0, len(articles), BATCH):
        dedup.decide(es, settings, articles[i : i + BATCH])
    return len(articles)


def es_workers(ctx: Context, articles: list[Article], workers: int) -> float:
    """Decisions/s of ``workers`` processes sharing one registry (and the node)."""
    with scratch(ctx) as cfg:
        wall, _ = run_workers(_prepare_worker, _work, [(cfg, part) for part in split(articles, workers)])
    return len(articles) / wall


def in_memory(ctx: Context, articles: list[Article]) -> tuple[float, list[float], dict[str, str]]:
    """Exact body hash, then MinHashLSH candidates confirmed by estimated Jaccard; groups by root."""
    s = ctx.settings
    lsh = MinHashLSH(threshold=s.dedup.near_jaccard, num_perm=s.dedup.num_perm)
    by_hash: dict[str, str] = {}
    sigs: dict[str, MinHash] = {}
    root: dict[str, str] = {}
    latencies = []
    with Stopwatch() as total:
        for a in articles:
            with Stopwatch() as sw:
                root[a.doc_id] = _decide_in_memory(a, s, lsh, by_hash, sigs, root)
            latencies.append(sw.seconds)
    return total.seconds, latencies, root


def _decide_in_memory(a: Article, s: Any, lsh: MinHashLSH, by_hash: dict, sigs: dict, root: dict) -> str:
    f = fp.fingerprint(
        a.title, a.body, shingle_size=s.dedup.shingle_size, num_perm=s.dedup.num_perm, bands=s.dedup.lsh_bands
    )
    if not f.sig:
        return a.doc_id
    if f.content_hash in by_hash:
        return root[by_hash[f.content_hash]]
    m = MinHash(num_perm=s.dedup.num_perm, seed=fp.MINHASH_SEED, hashvalues=f.sig, scheme=fp.MINHASH_SCHEME)
    matches = sorted(c for c in lsh.query(m) if sigs[c].jaccard(m) >= s.dedup.near_jaccard)
    by_hash[f.content_hash] = a.doc_id
    sigs[a.doc_id] = m
    lsh.insert(a.doc_id, m)
    return root[matches[0]] if matches else a.doc_id


def run(ctx: Context) -> Result:
    from bench.corpus import arabic_articles

    real = list(arabic_articles(CorpusPaths().fixtures_dir))
    lat_articles, batch_articles = real[: ctx.size(LATENCY_N)], real[: ctx.size(BATCH_N)]
    single_s, single_lat, _ = es_single(ctx, lat_articles)
    batch_s, batch_decisions, node_ms, worker_ms = es_batched(ctx, batch_articles)
    worker_articles = real[: ctx.size(WORKERS_N)]
    capacity = {w: es_workers(ctx, worker_articles, w) for w in (1, 2)}
    mem_s, mem_lat, mem_root = in_memory(ctx, batch_articles)
    silver = ev.exact_silver(batch_articles)
    es_dups, _ = ev.groups_of(batch_decisions)
    es_q, mem_q = ev.pairwise(es_dups, silver), ev.pairwise(mem_root, silver)
    labelled = ev.evaluate_labelled(ctx.es, ctx.settings, LABELLED_DIR, seeds=ctx.size(LABELLED_ORDERS))
    return _result(
        ctx,
        (single_s, single_lat),
        batch_s,
        (mem_s, mem_lat),
        (es_q, mem_q),
        labelled,
        (len(lat_articles), len(batch_articles)),
        (node_ms, worker_ms, capacity),
    )


def _row(label: str, n: int, seconds: float, latencies: list[float], quality: str) -> list[Any]:
    p50, p99 = 1000 * percentile(latencies, 50), 1000 * percentile(latencies, 99)
    return [label, n, n / seconds, p50, p99, quality]


def _result(
    ctx: Context,
    single: tuple,
    batch_s: float,
    mem: tuple,
    quality: tuple,
    labelled: list[str],
    sizes: tuple[int, int],
    load: tuple[float, float, dict[int, float]],
) -> Result:
    (single_s, single_lat), (mem_s, mem_lat), (es_q, mem_q), (n_lat, n_batch) = single, mem, quality, sizes
    node_ms, worker_ms, capacity = load
    cpu_rate = 1000.0 / max(1e-9, node_ms + worker_ms)  # decisions per CPU second, worker + node
    res = Result(
        "dedup: Elasticsearch-backed decide vs in-memory MinHashLSH",
        ["decider", "articles", "decisions/s", "p50 ms", "p99 ms", "dups vs exact-copy silver (P/R/F1)"],
    )
    res.rows += [
        _row("decide(), one article per call", n_lat, single_s, single_lat, ""),
        [
            f"decide(), batches of {BATCH}",
            n_batch,
            n_batch / batch_s,
            1000 * batch_s / n_batch,
            "",
            str(es_q),
        ],
        _row("datasketch MinHashLSH in memory (baseline)", n_batch, mem_s, mem_lat, str(mem_q)),
        *(
            [f"decide(), batches of {BATCH}, {w} worker process(es)", "", rate, "", "", ""]
            for w, rate in capacity.items()
        ),
    ]
    r = res.ratio("es_batched_vs_in_memory", n_batch / batch_s, n_batch / mem_s, 0.0)
    res.notes.append("batched p50 = mean time per decision in a batch (one call decides the whole batch)")
    res.notes.append(f"node CPU per article (batched): {node_ms:.1f} ms (target <= {TARGET_NODE_MS})")
    res.notes.append(
        f"worker CPU per article (batched): {worker_ms:.1f} ms; worker + node = {cpu_rate:.0f} decisions "
        f"per CPU second: 500k/day (5.8/s) needs {5.8 / cpu_rate:.2f} cores, 5M/day (58/s) "
        f"{58 / cpu_rate:.2f} cores at the daily mean (x3 for peaks)"
    )
    gain = capacity[2] / capacity[1] if capacity[1] else 0.0
    res.notes.append(f"capacity: 2 worker processes give {gain:.2f}x the decisions/s of 1 on the same node")
    wrong = [line for line in labelled if line.lstrip().startswith("wrong")]
    res.notes += [f"ingest eval dedup: {line}" for line in labelled if line not in wrong]
    res.notes.append(f"ingest eval dedup: {len(wrong)} wrong pairs listed (see latest.json)")
    res.metrics = {
        "single_decisions_per_s": n_lat / single_s,
        "p50_ms": 1000 * percentile(single_lat, 50),
        "p99_ms": 1000 * percentile(single_lat, 99),
        "batched_decisions_per_s": n_batch / batch_s,
        "in_memory_decisions_per_s": n_batch / mem_s,
        "node_cpu_ms_per_article": node_ms,
        "worker_cpu_ms_per_article": worker_ms,
        "decisions_per_cpu_second": cpu_rate,
        "workers_decisions_per_s": {str(w): r for w, r in capacity.items()},
        "es_quality": str(es_q),
        "in_memory_quality": str(mem_q),
        "labelled": labelled,
    }
    rate = n_batch / batch_s
    res.summary = (
        f"dedup: {rate:.1f} decisions/s batched (target >= {TARGET_RATE:.0f}: "
        f"{'met' if rate >= TARGET_RATE else 'NOT met'}), node CPU {node_ms:.1f} ms/article (target <= "
        f"{TARGET_NODE_MS:.0f}: {'met' if node_ms <= TARGET_NODE_MS else 'NOT met'}), worker CPU "
        f"{worker_ms:.1f} ms/article ({cpu_rate:.0f} decisions per CPU second, worker + node), "
        f"2 workers {capacity[2]:.1f}/s vs 1 {capacity[1]:.1f}/s; {n_lat / single_s:.1f}/s one at a time "
        f"(p50 {1000 * percentile(single_lat, 50):.0f} ms, p99 {1000 * percentile(single_lat, 99):.0f} "
        f"ms) vs in-memory MinHashLSH {n_batch / mem_s:.0f}/s: ratio {r:.3f} (no target: the price "
        f"of shared state + story tier); exact-copy F1 {es_q.f1:.2f} vs {mem_q.f1:.2f}"
    )
    return res
