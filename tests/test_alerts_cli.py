"""``ingest alerts`` commands against the real node, settings from INGEST_* as in production."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alerts_support import article, index_articles, write_rules
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from ingest.alerts.rules import load_rules, rules_from_index, store_rules
from ingest.cli import app
from ingest.settings import Settings

pytestmark = pytest.mark.integration
RULES = [{"name": "armenia", "query": "أرمينيا", "channels": ["log"]},
         {"name": "broken", "query": "(أرمينيا AND", "channels": ["log"]},
         {"name": "no-channel", "query": "x", "channels": ["pager"]}]


@pytest.fixture
def cli_env(make_settings: Callable[..., Settings], es: Elasticsearch,
            tmp_path: Path) -> tuple[Settings, dict]:
    rules = write_rules(tmp_path / "rules.yaml", RULES, {"log": {"type": "log"}})
    cfg = make_settings(applied=True, alerts={"rules_file": rules, "log_file": tmp_path / "alerts.jsonl"})
    env = {"INGEST_ES_URL": cfg.es.url, "INGEST_INDEX_PREFIX": cfg.es.index_prefix,
           "INGEST_RULES_FILE": str(rules), "INGEST_ALERTS_LOG_FILE": str(cfg.alerts.log_file)}
    return cfg, env


def test_list_shows_rules_and_names_the_bad_one(cli_env: tuple[Settings, dict]) -> None:
    result = CliRunner().invoke(app, ["alerts", "list"], env=cli_env[1], terminal_width=250)
    assert result.exit_code == 1, result.output
    assert "armenia" in result.output and "no-channel" in result.output and "pager" in result.output
    # The unbalanced query is parsed fine by YAML and pydantic: only the node's validate API sees it.
    broken = [line for line in result.output.splitlines() if line.lstrip("│ ").startswith("broken")]
    assert broken and "INVALID" in broken[0]
    assert "broken (bad_query)" in result.output
    armenia = [line for line in result.output.splitlines() if line.lstrip("│ ").startswith("armenia")]
    assert armenia and "INVALID" not in armenia[0] and "ok" in armenia[0]


def test_list_with_the_node_down_exits_3(cli_env: tuple[Settings, dict]) -> None:
    env = {**cli_env[1], "INGEST_ES_URL": "http://127.0.0.1:9", "INGEST_ES_MAX_RETRIES": "0"}
    result = CliRunner().invoke(app, ["alerts", "list"], env=env)
    assert result.exit_code == 3, result.output


def test_dry_run_prints_what_would_fire_and_sends_nothing(cli_env: tuple[Settings, dict],
                                                          es: Elasticsearch) -> None:
    cfg, env = cli_env
    now = datetime.now(UTC).isoformat()
    docs = [{**article(f"d{n}", "أرمينيا تعلن", "اشتباكات على الحدود", source=f"o{n}", story_id="s1"),
             "indexed_at": now} for n in range(3)]
    index_articles(es, cfg, docs)
    result = CliRunner().invoke(app, ["alerts", "test", "armenia", "--since", "1h"], env=env)
    assert result.exit_code == 0, result.output
    assert "would fire 1 alert(s) for 3 article(s)" in result.output
    assert "3 outlet(s)" in result.output
    assert not cfg.alerts.log_file.exists()
    bad = CliRunner().invoke(app, ["alerts", "test", "broken"], env=env)
    assert bad.exit_code == 1 and "broken" in bad.output
    unknown = CliRunner().invoke(app, ["alerts", "test", "nope"], env=env)
    assert unknown.exit_code == 2 and "nope" in unknown.output
    garbage = CliRunner().invoke(app, ["alerts", "test", "armenia", "--since", "yesterday"], env=env)
    assert garbage.exit_code == 2 and "--since" in garbage.output


def test_deliver_then_history(cli_env: tuple[Settings, dict], es: Elasticsearch) -> None:
    cfg, env = cli_env
    from ingest.alerts import evaluate
    evaluate(cfg, index_articles(es, cfg, [article("h1", "أرمينيا", "نص")]))
    result = CliRunner().invoke(app, ["alerts", "history"], env=env, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "armenia" in result.output and "sent" in result.output and "h1" in result.output


def test_rules_round_trip_through_the_index(cli_env: tuple[Settings, dict], es: Elasticsearch) -> None:
    cfg, _ = cli_env
    ruleset = load_rules(cfg.alerts.rules_file)
    store_rules(es, cfg, ruleset, now=datetime.now(UTC))
    assert rules_from_index(es, cfg).rules == ruleset.rules
