"""Matching, per-story alerts and digests through ``evaluate`` on the real embedded node."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alerts_support import NOW, alerts, article, deliveries, index_articles, write_rules
from elasticsearch import Elasticsearch

from ingest import store
from ingest.alerts import evaluate
from ingest.alerts.matching import search_rule
from ingest.alerts.rules import parse_rules
from ingest.settings import Settings

pytestmark = pytest.mark.integration
LOG = {"log": {"type": "log"}}


@pytest.fixture
def alert_settings(make_settings: Callable[..., Settings], es: Elasticsearch,
                   tmp_path: Path) -> Callable[..., Settings]:
    def factory(rules: list[dict[str, Any]], channels: dict[str, Any] | None = None) -> Settings:
        path = write_rules(tmp_path / "rules.yaml", rules, LOG if channels is None else channels)
        cfg = make_settings(applied=True, alerts={"rules_file": path,
                                    "log_file": tmp_path / "alerts.jsonl",
                                    "retry_wait": 0})
        return cfg
    return factory


def _log_lines(cfg: Settings) -> list[dict[str, Any]]:
    if not cfg.alerts.log_file.exists():
        return []
    return [json.loads(x) for x in cfg.alerts.log_file.read_text(encoding="utf-8").splitlines()]


SPELLINGS = [
    article("plain", "اذربيجان تغلق المعبر", "اغلقت السلطات المعبر الحدودي صباح اليوم."),  # no hamza
    article("clitic", "توتر في القوقاز", "تبادلت أرمينيا وأذربيجان الاتهامات بخرق الهدنة."),  # wa- prefix
    article("kasra", "إذربيجان ترد", "ردت الحكومة على البيان."),                          # hamza below
    article("other", "أرمينيا تعلن الحداد", "أعلنت يريفان الحداد العام."),                  # no match
]


def test_one_spelling_matches_hamza_alef_variants_and_clitic_forms(
        alert_settings: Callable[..., Settings], es: Elasticsearch) -> None:
    cfg = alert_settings([{"name": "azerbaijan", "query": "أذربيجان", "channels": ["log"]}])
    index_articles(es, cfg, SPELLINGS)
    rule = parse_rules({"channels": LOG, "rules": [{"name": "r", "query": "أذربيجان", "channels": ["log"]}]}
                       ).rules[0]
    hits = search_rule(es, store.alias_name(cfg.es.index_prefix, "articles"), rule,
                       ids=["plain", "clitic", "kasra", "other"])
    by_id = {h.article_id: h for h in hits}
    assert set(by_id) == {"plain", "clitic", "kasra"}
    assert by_id["clitic"].matched_terms == ("وأذربيجان",)   # the surface form, highlighted
    assert by_id["plain"].matched_terms == ("اذربيجان",)
    # Restricted to the ids given: the same article outside the batch is not looked at.
    assert {h.article_id for h in search_rule(es, store.alias_name(cfg.es.index_prefix, "articles"), rule,
                                              ids=["plain", "other"])} == {"plain"}


def test_phrase_with_clitic_and_filters(alert_settings: Callable[..., Settings], es: Elasticsearch) -> None:
    cfg = alert_settings([
        {"name": "phrase", "query": '"الحدود المشتركة"', "channels": ["log"]},
        {"name": "only-am", "query": "الحدود", "channels": ["log"], "filters": {"countries": ["AM"]}},
    ])
    ids = index_articles(es, cfg, [
        article("p1", "قصف", "اندلع القتال والحدود المشتركة مغلقة.", country="AM"),
        article("p2", "قصف", "الحدود مغلقة والمعابر المشتركة مفتوحة.", country="AZ"),
    ])
    report = evaluate(cfg, ids, now=NOW)
    assert report.problems == ()
    got = {(a["rule"], a["story_id"]) for a in alerts(es, cfg)}
    assert got == {("phrase", "p1"), ("only-am", "p1")}


def test_bad_rule_is_reported_while_good_rules_fire(alert_settings: Callable[..., Settings],
                                                    es: Elasticsearch) -> None:
    cfg = alert_settings([
        {"name": "unbalanced", "query": "(أرمينيا AND", "channels": ["log"]},
        {"name": "bad-mode", "query": "أرمينيا", "channels": ["log"], "mode": "weekly"},
        {"name": "good", "query": "أرمينيا", "channels": ["log"]},
    ])
    report = evaluate(cfg, index_articles(es, cfg, SPELLINGS), now=NOW)
    problems = {p.rule: p for p in report.problems}
    assert set(problems) == {"unbalanced", "bad-mode"}
    assert problems["unbalanced"].reason == "bad_query" and "unbalanced" in problems["unbalanced"].message
    assert "Cannot parse" in problems["unbalanced"].message  # the parser's words, not "all shards failed"
    assert problems["bad-mode"].reason == "bad_rule" and "mode" in problems["bad-mode"].message
    assert report.alerts == {"new": 2}  # "clitic" and "other" mention أرمينيا
    assert {line["story_id"] for line in _log_lines(cfg)} == {"clitic", "other"}
    assert report.to_json_dict()["problems"][0]["rule"] in {"unbalanced", "bad-mode"}


def _outlets(story: str, numbers: range, prefix: str = "s") -> list[dict[str, Any]]:
    return [article(f"{prefix}{n}", f"اشتباكات على حدود أرمينيا {n}", "قتال عنيف على الحدود مع أذربيجان.",
                    source=f"outlet-{n}", story_id=story) for n in numbers]


def test_one_alert_per_story_when_many_outlets_carry_it(alert_settings: Callable[..., Settings],
                                                        es: Elasticsearch) -> None:
    cfg = alert_settings([{"name": "clashes", "query": "اشتباكات AND أرمينيا", "channels": ["log"]}])
    lone = article("lone", "اشتباكات في أرمينيا", "خبر منفرد بلا قصة.", source="outlet-x")
    first = evaluate(cfg, index_articles(es, cfg, [*_outlets("story-1", range(10)), lone]), now=NOW)
    assert first.alerts == {"new": 2} and first.matched_articles == 11
    lines = _log_lines(cfg)
    assert sorted((x["story_id"], x["sources_count"]) for x in lines) == [("lone", 1), ("story-1", 10)]

    later = NOW + timedelta(minutes=5)
    batch2 = [*_outlets("story-1", range(10, 12)), *_outlets("story-1", range(3, 4), prefix="again")]
    second = evaluate(cfg, index_articles(es, cfg, batch2), now=later)
    assert second.alerts == {"update": 1}
    update = _log_lines(cfg)[-1]
    assert (update["kind"], update["version"], update["sources_count"]) == ("update", 2, 12)
    assert sorted(update["new_outlets"]) == ["صحيفة outlet-10", "صحيفة outlet-11"]

    third = evaluate(cfg, index_articles(es, cfg, _outlets("story-1", range(5, 6), prefix="more")), now=later)
    assert third.alerts == {"unchanged": 1} and third.deliveries.get("queued", 0) == 0
    [story] = [a for a in alerts(es, cfg) if a["story_id"] == "story-1"]
    assert (story["version"], story["sources_count"], len(story["article_ids"])) == (2, 12, 14)
    assert len(_log_lines(cfg)) == 3
    assert [d["status"] for d in deliveries(es, cfg)] == ["sent"] * 3


def test_digest_groups_by_story_per_closed_window(alert_settings: Callable[..., Settings],
                                                  es: Elasticsearch) -> None:
    cfg = alert_settings([{"name": "hourly", "query": "أرمينيا", "channels": ["log"], "mode": "hourly"}])
    t0 = NOW.replace(minute=5)  # 10:05
    evaluate(cfg, index_articles(es, cfg, [*_outlets("A", range(2)), *_outlets("B", range(5, 6))]), now=t0)
    evaluate(cfg, index_articles(es, cfg, _outlets("A", range(2, 3))), now=t0 + timedelta(minutes=35))
    assert _log_lines(cfg) == []  # digest mode: nothing sent inside the window

    batch3 = index_articles(es, cfg, _outlets("C", range(7, 8)))
    report = evaluate(cfg, batch3, now=t0 + timedelta(minutes=60))
    assert report.deliveries == {"queued": 1, "sent": 1}
    [digest] = _log_lines(cfg)
    assert (digest["kind"], digest["window_start"]) == ("digest", "2024-05-01T10:00:00+00:00")
    stories = {s["story_id"]: s for s in digest["stories"]}
    assert set(stories) == {"A", "B"}  # C changed at 11:05: next window
    assert stories["A"]["sources_count"] == 3 and len(stories["A"]["articles"]) == 3
    assert stories["B"]["sources_count"] == 1

    again = evaluate(cfg, [], now=t0 + timedelta(minutes=80))
    assert again.deliveries == {"already_queued": 1}
    evaluate(cfg, [], now=t0 + timedelta(minutes=120))
    assert [set(s["story_id"] for s in d["stories"]) for d in _log_lines(cfg)] == [{"A", "B"}, {"C"}]


def test_quiet_hours_hold_deliveries_until_they_end(alert_settings: Callable[..., Settings],
                                                    es: Elasticsearch) -> None:
    quiet = {"start": "10:00", "end": "11:00", "tz": "UTC"}
    cfg = alert_settings([{"name": "q", "query": "أرمينيا", "channels": ["log"], "quiet_hours": quiet}])
    first = evaluate(cfg, index_articles(es, cfg, SPELLINGS[1:2]), now=NOW)  # 10:17
    assert first.deliveries == {"queued": 1}
    [held] = deliveries(es, cfg)
    assert (held["status"], held["not_before"]) == ("pending", "2024-05-01T11:00:00+00:00")
    assert evaluate(cfg, [], now=NOW + timedelta(minutes=30)).deliveries == {}
    assert evaluate(cfg, [], now=NOW + timedelta(minutes=45)).deliveries == {"sent": 1}
    assert len(_log_lines(cfg)) == 1
