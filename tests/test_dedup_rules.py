"""Unit tests for the pure pieces behind the batched dedup queries (no node needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.dedup import queries, registry
from ingest.dedup.decide import entry_for
from ingest.dedup.registry import Entry, entry_of
from ingest.dedup.similarity import FieldWeights, cosine, weighted_cosine, weighted_story_score
from ingest.dev.evaluation.dedup import make_article
from ingest.dev.paths import CorpusPaths
from ingest.settings import load_settings

CFG = load_settings().dedup
AT = datetime(2021, 11, 16, 10, tzinfo=UTC)


def _entry(body: str = "نص الخبر " * 10) -> Entry:
    return entry_of(entry_for(make_article("k", "a", "عنوان الخبر الرئيسي", body, AT), CFG, AT))


def test_weighted_cosine_is_the_plain_cosine() -> None:
    a, b = {"x": 1.0, "y": 2.0, "z": 0.5}, {"y": 1.5, "z": 3.0, "w": 1.0}
    assert abs(weighted_cosine(FieldWeights(a), FieldWeights(b)) - cosine(a, b)) < 1e-12
    assert weighted_cosine(FieldWeights({}), FieldWeights(b)) == 0.0


def test_weighted_story_score_weights_title_and_body() -> None:
    same = {"title": FieldWeights({"t": 1.0}), "body": FieldWeights({"b": 1.0})}
    other_body = {"title": FieldWeights({"t": 1.0}), "body": FieldWeights({"c": 1.0})}
    assert abs(weighted_story_score(same, same, 0.25) - 1.0) < 1e-12
    assert abs(weighted_story_score(same, other_body, 0.25) - 0.25) < 1e-12
    assert weighted_story_score(same, {}, 0.25) == 0.0  # a candidate without weights shares nothing


def test_story_query_takes_the_30_best_terms_and_a_tenth_of_them_to_match() -> None:
    body = {f"t{i:03d}": float(i) for i in range(100)}
    own = {"title": FieldWeights({"head": 1000.0}), "body": FieldWeights(body)}
    q = queries.story_query(_entry(), own, CFG)
    like = q["bool"]["must"][0]["bool"]
    terms = [next(iter(c["term"].items())) for c in like["should"]]
    assert len(terms) == 30 and like["minimum_should_match"] == 3
    assert terms[0] == ("title", "head") and ("body", "t099") in terms and ("body", "t000") not in terms
    assert q["bool"]["must_not"] == [{"ids": {"values": [_entry().doc_id]}}]
    assert "range" in q["bool"]["filter"][0]


def test_story_query_without_terms_matches_nothing() -> None:
    own = {"title": FieldWeights({}), "body": FieldWeights({})}
    assert queries.story_query(_entry(), own, CFG) == {"match_none": {}}


def test_stored_weights_round_trip() -> None:
    own = {"title": FieldWeights({"a": 1.234567}), "body": FieldWeights({"b": 2.0, "c": 0.00001})}
    back = queries.decode_weights(queries.encode_weights(own))
    assert back["title"].terms == {"a": 1.2346} and back["body"].terms == {"b": 2.0, "c": 0.0}
    assert abs(weighted_cosine(back["body"], own["body"]) - 1.0) < 1e-6


def test_dup_query_uses_hash_bands_and_same_outlet_headline() -> None:
    q = queries.dup_query(_entry(), CFG)["bool"]
    kinds = [next(iter(c)) for c in q["should"]]
    assert kinds == ["term", "bool", "bool"] and q["minimum_should_match"] == 1
    short = queries.dup_query(_entry(body="قصير"), CFG)["bool"]  # no body fingerprint, 3-word title
    assert [next(iter(c)) for c in short["should"]] == ["bool"]


def test_news_stream_is_mostly_new_stories_with_a_few_copies() -> None:
    from collections import Counter

    from bench.corpus import news_stream

    stream = news_stream(CorpusPaths().fixtures_dir, 400, seed=3, start=AT)
    assert len({a.doc_id for a in stream}) == 400
    bodies = Counter(a.body for a in stream)
    exact_copies = sum(n - 1 for n in bodies.values())
    assert 0 < exact_copies <= 0.03 * 400  # exact copies: a few percent (mix says 1%)
    assert news_stream(CorpusPaths().fixtures_dir, 50, seed=3, start=AT)[10] == stream[10]


def test_a_story_is_where_its_founders_lead_and_a_cycle_is_one_story() -> None:
    """Founders point at the story they joined; the chain ends at a founder naming itself, or at
    an undecided one. Two founders naming each other (crossed re-checks) are one story, named by
    the earlier of them whichever member a reader starts from."""
    pointers = {"a": "a", "b": "a", "c": "b", "x": "y", "y": "x", "z": "x", "p": None}
    ranks = {"a": "09:00", "b": "10:00", "c": "11:00", "x": "14:00", "y": "12:00", "z": "08:00"}

    def founder(story_id: str) -> str:
        return registry.founder(story_id, pointers.get, lambda i: (ranks.get(i, "~"), i))

    assert founder("c") == founder("b") == founder("a") == "a"
    assert founder("x") == founder("y") == founder("z") == "y"  # z is earlier, but not in the cycle
    assert founder("p") == "p"  # undecided: its own story until it is decided
    assert founder("q") == "q"  # not registered
