"""Every benchmark runs end to end at its tiniest size against the real node.

Structure only (tables, summary line, ratios are positive numbers with a target): performance is
measured by ``make bench``, never asserted here. Plus plain unit tests of the shared helpers.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from bench import __main__ as bench_main
from bench.common import Context, Result, percentile, slope, split
from bench.corpus import (
    HOST_LEFTOVER_WORDS,
    arabic_articles,
    fixture_pages,
    news_stream_items,
    perturb,
    render_page,
    stream_pages,
)
from bench.freshness import schedule_interval
from ingest.dev.paths import CorpusPaths
from ingest.settings import load_settings

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


@pytest.fixture
def ctx(es_url: str, es: Elasticsearch, tmp_path: Path) -> Iterator[Context]:
    """A tiny run whose scratch indices carry a prefix of its own: other benches on the shared node
    (another engineer's ``make bench``) neither show up in nor disturb the leftover check. Its
    cached backgrounds too: a cache from an earlier run must not spare this one the build."""
    run = uuid.uuid4().hex[:8]
    yield Context(load_settings(es={"url": es_url}), es, mode="tiny", workers=2, results_dir=tmp_path,
                  scratch_prefix=f"bench-t{run}", cache_prefix=f"benchcache-t{run}")
    if cached := list(es.indices.get(index=f"benchcache-t{run}-*", expand_wildcards="all")):
        es.indices.delete(index=",".join(cached))


@pytest.mark.parametrize("name", bench_main.BENCHMARKS)
def test_benchmark_runs_and_reports(name: str, ctx: Context, es: Elasticsearch) -> None:
    own = f"{ctx.scratch_prefix}-*"
    before = set(es.indices.get(index=own, expand_wildcards="all"))
    result = importlib.import_module(f"bench.{name}").run(ctx)
    assert result.summary.startswith(f"{name}: ")
    assert result.rows and all(len(row) == len(result.columns) for row in result.rows)
    for ratio in result.ratios.values():
        assert ratio["value"] > 0 and isinstance(ratio["target"], float)
    json.dumps(result.to_json_dict())
    assert set(es.indices.get(index=own, expand_wildcards="all")) == before, "throwaway indices left"


def test_growth_builds_its_background_once_and_restores_the_same_one(ctx: Context) -> None:
    """The second run clones the first run's cached backgrounds instead of building them, and its
    probes meet a registry of the same size: the level (earlier probes count as background) and
    the warm-up batch."""
    from bench import growth

    first = growth.run(ctx)
    second = growth.run(ctx)
    assert first.metrics["background"] == ["built"] * 3
    assert second.metrics["background"] == ["restored"] * 3
    expected = [level + growth.PROBE_BATCH for level in growth.LEVELS["tiny"]]
    assert first.metrics["registered_before_probe"] == expected
    assert second.metrics["registered_before_probe"] == expected


def test_growth_background_weights_are_the_nodes(ctx: Context) -> None:
    """The background's term weights use document frequencies the bench counts as it writes; they
    must be the ones the node's term statistics give ``decide``, and counting a restored registry
    again must give the same counts."""
    from bench import growth
    from bench.common import scratch
    from bench.corpus import news_stream
    from ingest.dedup import registry
    from ingest.dedup.similarity import weights

    with scratch(ctx) as cfg:
        index, df = registry.alias(cfg), growth.DocFreq()
        growth.grow(ctx, cfg, 0, 40, df)
        ctx.es.indices.refresh(index=index)
        texts = [{"title": a.title, "body": a.body}
                 for a in news_stream(CorpusPaths().fixtures_dir, 5, seed=7, start=growth.ANCHOR)]
        stats = {"term_statistics": True, "field_statistics": True, "positions": False, "offsets": False}
        answer = ctx.es.mtermvectors(docs=[{"_index": index, "doc": t, "fields": ["title", "body"], **stats}
                                           for t in texts])  # the node's own statistics
        node = [d["term_vectors"] for d in answer["docs"]]
        ours = [df.weights(cfg, tv) for tv in growth._term_freqs(ctx, index, texts)]
        for theirs, mine in zip(node, ours, strict=True):
            for field in ("title", "body"):
                expected = weights(theirs[field], cfg.dedup.story_prior_docs)
                assert expected == pytest.approx(mine[field].terms)
                assert expected
        again = growth.DocFreq.counted(ctx, index)
        assert (again.docs, again.df) == (df.docs, df.df) and df.docs["body"] == 40


def test_main_writes_latest_json(
    es_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INGEST_ES_URL", es_url)
    assert bench_main.main(["--tiny", "--only", "freshness", "--results-dir", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert [r["name"] for r in doc["results"]] == ["freshness: feed item -> searchable"]
    assert "SUMMARY freshness: " in capsys.readouterr().out


def test_unknown_benchmark_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main.main(["--only", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().out


# ---- helpers ---------------------------------------------------------------------------------


def test_ratio_is_value_over_baseline_with_its_target() -> None:
    res = Result("x", ["a"])
    assert res.ratio("r", 3.0, 4.0, 0.8) == 0.75
    assert res.ratios["r"] == {"value": 0.75, "target": 0.8}


def test_percentile_slope_split() -> None:
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert slope([0, 1, 2], [1, 3, 5]) == pytest.approx(2.0)
    assert slope([10, 10], [1, 3]) is None  # one level: no line to fit
    assert split(list(range(5)), 2) == [[0, 2, 4], [1, 3]]


def test_table_lists_every_row_and_note() -> None:
    res = Result("name", ["col", "n"], rows=[["a", 1.23456], ["b", 12345.6]], notes=["hello"])
    text = res.table()
    assert "1.235" in text and "12345.6" in text and "note: hello" in text


def test_default_schedule_interval_is_five_minutes() -> None:
    assert schedule_interval("*/5 * * * *") == 300
    assert schedule_interval("@hourly") == 3600


def test_fixture_pages_are_real_pages_without_expected_outputs() -> None:
    pages = fixture_pages(CorpusPaths().fixtures_dir)
    assert len(pages) > 100
    assert not any(Path(p.name).name.startswith("expected") for p in pages)
    assert all(b"<" in p.body[:2000] for p in pages)


def test_perturbed_variant_differs_but_keeps_most_words() -> None:
    import random

    base, other = arabic_articles(CorpusPaths().fixtures_dir)[:2]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    variant = perturb(base, other, random.Random(1), key="k1", at=at)
    assert variant.doc_id != base.doc_id and variant.body != base.body
    shared = set(variant.body.split()) & set(base.body.split())
    assert len(shared) > 0.5 * len(set(base.body.split()))
    assert variant.published_at == at
    page = render_page(variant).decode("utf-8")
    assert variant.url in page and "<article>" in page


def test_stream_pages_extract_as_the_articles_rendered_into_them() -> None:
    """The e2e corpus renders news-stream articles into real pages' markup: what the pipeline's
    extraction and date stages get back must be the article (title, date, its words and little
    else), or the bench would measure left-overs of the host pages; an exact copy must extract to
    its origin's text, or the stream's copy rate would not reach dedup."""
    from ingest import dates, extract

    fixtures = CorpusPaths().fixtures_dir
    items = news_stream_items(fixtures, 400, seed=11, start=datetime(2026, 3, 1, tzinfo=UTC))
    pages = stream_pages(fixtures, items)
    assert len(set(pages)) == len(pages)
    texts = []
    for item, page in zip(items, pages, strict=True):
        html, article = page.decode("utf-8"), item.article
        got = extract.from_trafilatura(html, article.url)
        when = dates.publication_date(html, article.url, fetched_at=datetime(2026, 3, 2, tzinfo=UTC),
                                      htmldate=got.date)
        words, found = set(_visible(article.body).split()), set(_visible(got.text).split())
        assert len(words & found) >= 0.9 * len(words), article.url
        assert len(found - words - set(_visible(article.title).split())) <= HOST_LEFTOVER_WORDS, article.url
        assert _visible(got.title) == _visible(article.title) and when.value == article.published_at
        assert len(page) > 10_000  # a real page's markup, not a template
        texts.append(got.text)
    exact = [(i, item.origin) for i, item in enumerate(items) if item.kind == "exact"]
    assert exact and all(texts[i] == texts[o] for i, o in exact)


def _visible(text: str) -> str:
    """Without format characters (RLM and the like), which extraction drops, and with entities
    decoded (some SaudiNewsNet titles carry ``&#39;`` as text)."""
    import html
    import unicodedata

    text = html.unescape(html.unescape(text))
    return " ".join("".join(c for c in text if unicodedata.category(c) != "Cf").split())
