"""ingest.search: the rules' query syntax, date bounds, copies folded into originals, top stories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from ingest import pipeline, store
from ingest.dev.evaluation.dedup import make_article
from ingest.search import BadQuery, SearchRequest, marked_segments, parse_when, search, top_stories
from ingest.settings import Settings

NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
AT = datetime(2021, 11, 16, 9, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("24h", NOW - timedelta(hours=24)), ("7d", NOW - timedelta(days=7)), ("30m", NOW - timedelta(minutes=30)),
    ("2w", NOW - timedelta(weeks=2)), ("today", datetime(2026, 12, 2, tzinfo=UTC)),
    ("yesterday", datetime(2026, 12, 1, tzinfo=UTC)), ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
    ("2026-11-30T08:15:00+03:00", datetime(2026, 11, 30, 5, 15, tzinfo=UTC)),
])
def test_parse_when_reads_durations_words_and_iso(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["last week", "2026-13-01", "h24", ""])
def test_parse_when_refuses_with_a_one_line_reason(text: str) -> None:
    with pytest.raises(BadQuery, match="--since: cannot read") as info:
        parse_when(text, now=NOW, what="--since")
    assert "\n" not in str(info.value)


def test_marked_segments_splits_matches_out() -> None:
    assert marked_segments("a \u0002b\u0003 c") == [("a ", False), ("b", True), (" c", False)]


@pytest.fixture
def indexed(settings: Settings, es: Elasticsearch, seed_texts: dict[str, str]) -> dict[str, str]:
    """Seed 000 (outlet-a) and a wire copy of it (wire-x), seed 004 (outlet-b), seed 001 (outlet-c)."""
    body = seed_texts["000_aaa2bfcc0efe0d0d"]
    arts = [make_article("orig", "outlet-a", "أرمينيا تعلن أسر جنود", body, AT),
            make_article("copy", "wire-x", "أرمينيا تعلن أسر جنود من قواتها",
                         "نقلت وكالات الأنباء اليوم تفاصيل جديدة عن التصعيد على الحدود.\n" + body,
                         AT + timedelta(hours=1)),
            make_article("other", "outlet-b", "يريفان تعلن سقوط ضحايا", seed_texts["004_c09086bd4f91039a"],
                         AT + timedelta(hours=2)),
            make_article("later", "outlet-c", "الاشتباكات في أسوأ توقيت", seed_texts["001_43dc67cb88741a98"],
                         AT + timedelta(days=300))]
    result = pipeline.dedup_and_index(settings, arts, es=es)
    assert len(result.indexed) == 4 and not result.failed
    return {a.source_id: a.doc_id for a in arts}


def _index(settings: Settings) -> str:
    return store.alias_name(settings.es.index_prefix, "articles")


def test_boolean_syntax_of_the_rules(settings: Settings, es: Elasticsearch,
        indexed: dict[str, str]) -> None:
    both = search(es, _index(settings), SearchRequest("يريفان OR بوتين", size=10))
    assert {h.source_id for h in both.hits} >= {"outlet-b", "outlet-c"}
    only = search(es, _index(settings), SearchRequest("يريفان AND NOT بوتين", size=10))
    found = {h.source_id for h in only.hits}
    assert "outlet-c" not in found and "outlet-b" in found


def test_copies_fold_into_their_original(settings: Settings, es: Elasticsearch,
        indexed: dict[str, str]) -> None:
    result = search(es, _index(settings), SearchRequest('"وزارة الدفاع الأرمينية"'))
    by_source = {h.source_id: h for h in result.hits}
    assert "wire-x" not in by_source and by_source["outlet-a"].carried_by == ("wire-x",)
    assert all(h.carried_by == () for s, h in by_source.items() if s != "outlet-a")
    with_copies = search(es, _index(settings), SearchRequest('"وزارة الدفاع الأرمينية"', include_copies=True))
    assert {h.doc_id for h in with_copies.hits} == {h.doc_id for h in result.hits} | {indexed["wire-x"]}


def test_date_bounds_filter_on_publication(settings: Settings, es: Elasticsearch,
        indexed: dict[str, str]) -> None:
    req = SearchRequest("أرمينيا OR أذربيجان", since=AT + timedelta(days=1), size=10)
    assert {h.source_id for h in search(es, _index(settings), req).hits} == {"outlet-c"}


def test_a_query_elasticsearch_refuses_is_a_bad_query(settings: Settings, es: Elasticsearch,
                                                       indexed: dict[str, str]) -> None:
    with pytest.raises(BadQuery, match="refused"):
        search(es, _index(settings), SearchRequest('"أرمينيا AND ('))


def test_top_stories_rank_by_outlets(settings: Settings, es: Elasticsearch,
        indexed: dict[str, str]) -> None:
    stories = top_stories(es, _index(settings), since=AT - timedelta(days=1), until=AT + timedelta(days=2))
    assert stories, "the Nov 2021 reports form at least one story"
    top = stories[0]
    assert top.outlets >= 2 and top.first_publisher == "outlet-a"
    assert top.first_seen is not None and top.first_seen.startswith("2021-11-16T09")
    # one form for both times shown side by side (the latest came as an aggregation's "...000Z")
    assert top.first_seen.endswith("+00:00") and top.latest_update is not None
    assert top.latest_update.endswith("+00:00") and "." not in top.latest_update
    assert top.latest_update >= top.first_seen
    assert all(s.story_id != indexed["outlet-c"] for s in stories)  # outside the window
