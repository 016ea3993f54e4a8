"""Rules file model and loader, quiet hours and digest windows (pure functions, no services)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from ingest.alerts.matching import matched_terms, rule_query
from ingest.alerts.rules import QuietHours, RuleError, load_rules, parse_rules
from ingest.alerts.schedule import closed_windows, parse_duration, quiet_until, window_start
from ingest.dev.paths import CorpusPaths
from ingest.errors import ConfigError
from ingest.settings import load_settings

LOG = {"log": {"type": "log"}}


def _doc(*rules: dict, channels: dict | None = None) -> dict:
    return {"channels": LOG if channels is None else channels, "rules": list(rules)}


def test_example_rules_file_loads_without_problems() -> None:
    ruleset = load_rules(load_settings().alerts.rules_file)
    assert ruleset.problems == ()
    names = [r.name for r in ruleset.rules]
    assert "caucasus-border-clashes" in names
    assert ruleset.rule("prisoners-simple-syntax").syntax == "simple"
    assert ruleset.rule("prisoners-simple-syntax").quiet_hours == QuietHours(
        start=time(22, 0), end=time(7, 0), tz="Asia/Riyadh")


def test_defaults_for_a_minimal_rule() -> None:
    rule = parse_rules(_doc({"name": "r", "query": "أرمينيا", "channels": ["log"]})).rules[0]
    assert (rule.syntax, rule.mode, rule.fields, rule.default_operator) == (
        "query_string", "immediate", ("title", "body"), "OR")


@pytest.mark.parametrize(("spec", "reason", "needle"), [
    ({"name": "no-query", "channels": ["log"]}, "bad_rule", "query"),
    ({"name": "blank", "query": "   ", "channels": ["log"]}, "bad_rule", "blank"),
    ({"name": "bad-mode", "query": "x", "channels": ["log"], "mode": "weekly"}, "bad_rule", "mode"),
    ({"name": "typo-field", "query": "x", "channels": ["log"], "chanels": ["log"]}, "bad_rule", "chanels"),
    ({"name": "ghost", "query": "x", "channels": ["pager"]}, "unknown_channel", "pager"),
    ({"name": "bad-tz", "query": "x", "channels": ["log"],
      "quiet_hours": {"start": "22:00", "end": "06:00", "tz": "Mars/Olympus"}}, "bad_rule", "Mars/Olympus"),
])
def test_each_bad_rule_is_reported_by_name_and_the_good_one_still_loads(spec: dict, reason: str,
                                                                        needle: str) -> None:
    good = {"name": "good", "query": "أذربيجان", "channels": ["log"]}
    ruleset = parse_rules(_doc(spec, good), source="rules.yaml")
    assert [r.name for r in ruleset.rules] == ["good"]
    [problem] = ruleset.problems
    assert problem.rule == spec["name"]
    assert problem.reason == reason
    assert spec["name"] in problem.message and needle in problem.message


def test_a_rule_that_is_not_a_mapping_is_named_by_position() -> None:
    ruleset = parse_rules(_doc("just a string", {"name": "ok", "query": "x", "channels": ["log"]}))
    assert [p.rule for p in ruleset.problems] == ["#1"]
    assert [r.name for r in ruleset.rules] == ["ok"]


def test_duplicate_rule_names_keep_the_first() -> None:
    ruleset = parse_rules(_doc({"name": "a", "query": "x", "channels": ["log"]},
                               {"name": "a", "query": "y", "channels": ["log"]}))
    assert [r.query for r in ruleset.rules] == ["x"]
    assert [p.reason for p in ruleset.problems] == ["duplicate_rule"]


def test_invalid_channel_fails_alone_and_rules_using_it_are_reported() -> None:
    channels = {"log": {"type": "log"}, "hook": {"type": "webhook"}, "mail": {"type": "email"}}
    ruleset = parse_rules(_doc({"name": "uses-hook", "query": "x", "channels": ["hook"]},
                               {"name": "uses-log", "query": "x", "channels": ["log"]}, channels=channels))
    assert sorted(p.rule for p in ruleset.problems) == ["channel:hook", "channel:mail", "uses-hook"]
    assert [r.name for r in ruleset.rules] == ["uses-log"]


def test_unreadable_or_malformed_file_fails_as_a_whole(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rules(bad)
    bad.write_text("channels: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="rules:"):
        load_rules(bad)


def test_unknown_rule_name_is_a_config_error() -> None:
    ruleset = parse_rules(_doc({"name": "a", "query": "x", "channels": ["log"]}))
    with pytest.raises(ConfigError, match="'b'"):
        ruleset.rule("b")


def test_rule_error_names_the_rule() -> None:
    err = RuleError("my-rule", "boom", reason="bad_query")
    assert "my-rule" in str(err) and err.reason == "bad_query" and err.rule == "my-rule"


def test_rule_query_restricts_to_ids_and_filters() -> None:
    rule = parse_rules(_doc({"name": "r", "query": "أرمينيا", "channels": ["log"], "syntax": "simple",
                             "filters": {"lang": ["ar"], "countries": ["AM"]}})).rules[0]
    query = rule_query(rule, ids=["a", "b"])["bool"]
    assert query["must"] == [{"simple_query_string": {"query": "أرمينيا", "fields": ["title", "body"],
                                                      "default_operator": "OR"}}]
    assert {"terms": {"lang": ["ar"]}} in query["filter"]
    assert {"terms": {"source.country": ["AM"]}} in query["filter"]
    assert {"ids": {"values": ["a", "b"]}} in query["filter"]
    assert not any("source.id" in str(f) for f in query["filter"])


def test_matched_terms_are_unescaped_and_distinct() -> None:
    frags = ["قال <em>أرمينيا</em> و<em>أذربيجان</em>", "<em>أرمينيا</em> &amp; <em>R&amp;D</em>"]
    assert matched_terms(frags) == ("أرمينيا", "أذربيجان", "R&D")


OVERNIGHT = QuietHours(start=time(22, 0), end=time(7, 0), tz="Asia/Riyadh")  # UTC+3, no DST


@pytest.mark.parametrize(("utc", "expected"), [
    (datetime(2024, 5, 1, 20, 0, tzinfo=UTC), datetime(2024, 5, 2, 4, 0, tzinfo=UTC)),   # 23:00 local
    (datetime(2024, 5, 1, 2, 30, tzinfo=UTC), datetime(2024, 5, 1, 4, 0, tzinfo=UTC)),   # 05:30 local
    (datetime(2024, 5, 1, 19, 0, tzinfo=UTC), datetime(2024, 5, 2, 4, 0, tzinfo=UTC)),   # 22:00 sharp
    (datetime(2024, 5, 1, 4, 0, tzinfo=UTC), None),                                      # 07:00: over
    (datetime(2024, 5, 1, 12, 0, tzinfo=UTC), None),                                     # 15:00 local
])
def test_quiet_hours_across_midnight(utc: datetime, expected: datetime | None) -> None:
    assert quiet_until(OVERNIGHT, utc) == expected


def test_quiet_hours_within_a_day_and_none() -> None:
    lunch = QuietHours(start=time(12, 0), end=time(13, 0), tz="UTC")
    assert quiet_until(lunch, datetime(2024, 5, 1, 12, 59, tzinfo=UTC)) == datetime(2024, 5, 1, 13, 0,
                                                                                   tzinfo=UTC)
    assert quiet_until(lunch, datetime(2024, 5, 1, 13, 0, tzinfo=UTC)) is None
    assert quiet_until(None, datetime(2024, 5, 1, 12, 30, tzinfo=UTC)) is None


def test_digest_windows() -> None:
    now = datetime(2024, 5, 1, 10, 17, tzinfo=UTC)
    assert window_start("hourly", now) == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert window_start("daily", now) == datetime(2024, 5, 1, tzinfo=UTC)
    hourly = closed_windows("hourly", now)
    assert len(hourly) == 24
    assert hourly[-1] == (datetime(2024, 5, 1, 9, 0, tzinfo=UTC), datetime(2024, 5, 1, 10, 0, tzinfo=UTC))
    assert hourly[0][0] == datetime(2024, 4, 30, 10, 0, tzinfo=UTC)
    daily = closed_windows("daily", now)
    assert daily[-1] == (datetime(2024, 4, 30, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC))


# ---- Kibana export ------------------------------------------------------------------------------

def test_kibana_export_has_the_shape_of_kibanas_own_es_query_example(tmp_path: Path) -> None:
    from ingest.alerts.kibana import export
    cfg = load_settings()
    example = json.loads((CorpusPaths().fixtures_dir / "kibana" / "rules" / "derived" /
                          "kibana-oas.create_es_query_rule_request.value.json").read_text(encoding="utf-8"))
    ruleset = load_rules(cfg.alerts.rules_file)
    paths = export(ruleset, tmp_path, index="news-articles")
    assert len(paths) == len(ruleset.rules)
    body = json.loads((tmp_path / "caucasus-border-clashes.json").read_text(encoding="utf-8"))
    assert set(example) <= set(body)
    assert set(example["params"]) <= set(body["params"])
    assert body["rule_type_id"] == ".es-query" and body["params"]["searchType"] == "esQuery"
    assert body["params"]["index"] == ["news-articles"]
    assert (body["params"]["groupBy"], body["params"]["termField"]) == ("top", "story_id")
    es_query = json.loads(body["params"]["esQuery"])  # a JSON string, as Kibana stores it
    assert es_query == {"query": rule_query(ruleset.rule("caucasus-border-clashes"))}
    hourly = json.loads((tmp_path / "ceasefire-mediation.json").read_text(encoding="utf-8"))
    assert hourly["schedule"] == {"interval": "1h"} and hourly["params"]["timeWindowUnit"] == "h"


def test_kibana_action_uses_the_given_connector(tmp_path: Path) -> None:
    from ingest.alerts.kibana import es_query_rule
    rule = parse_rules(_doc({"name": "r", "query": "x", "channels": ["log"]})).rules[0]
    body = es_query_rule(rule, index="i", connector_id="abc")
    [action] = body["actions"]
    assert (action["id"], action["group"]) == ("abc", "query matched")


# ---- CLI helpers --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)),
                                                (" 7d ", timedelta(days=7))])
def test_parse_duration(text: str, expected: timedelta) -> None:
    window = parse_duration(text)  # parsing only: nothing here is timed
    assert window == expected


@pytest.mark.parametrize("text", ["", "24", "h", "1w", "-3h", "1.5h"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ConfigError, match="--since"):
        parse_duration(text)
