"""Alerts are never lost: queueing is derived from the alert's state on every evaluation, and
``ingest run --once`` evaluates the rules over what it indexed, like the DAG."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alerts_support import NOW, alerts, article, deliveries, index_articles, write_rules
from elasticsearch import Elasticsearch
from servers import LoopbackServer, running, serve_site
from typer.testing import CliRunner

from ingest import store
from ingest.alerts import evaluate, state
from ingest.alerts.matching import search_rule
from ingest.alerts.rules import load_rules
from ingest.cli import app
from ingest.settings import Settings

pytestmark = pytest.mark.integration
RULE = {"name": "armenia", "query": "أرمينيا", "channels": ["log"]}


@pytest.fixture
def cfg(make_settings: Callable[..., Settings], es: Elasticsearch, tmp_path: Path) -> Settings:
    channels = {"log": {"type": "log", "path": str(tmp_path / "a.jsonl")}}
    rules = write_rules(tmp_path / "rules.yaml", [RULE], channels)
    settings = make_settings(applied=True,
                             alerts={"rules_file": rules, "log_file": tmp_path / "a.jsonl", "retry_wait": 0})
    return settings


def test_crash_between_record_and_queue_is_healed_by_the_next_evaluation(cfg: Settings,
                                                                         es: Elasticsearch) -> None:
    ids = index_articles(es, cfg, [article("d1", "أرمينيا تعلن", "اشتباكات", story_id="s1")])
    rule = load_rules(cfg.alerts.rules_file).rule("armenia")
    hits = search_rule(es, store.alias_name(cfg.es.index_prefix, "articles"), rule, ids=ids)
    # What evaluate does first, then the worker dies: the alert is recorded, nothing is queued.
    state.record(es, store.alias_name(cfg.es.index_prefix, "alerts"), rule, "s1", hits, NOW)
    assert deliveries(es, cfg) == []
    report = evaluate(cfg, [], now=NOW)  # a later run with no new articles at all
    assert report.deliveries == {"queued": 1, "sent": 1}
    assert [(d["status"], d["alert_id"]) for d in deliveries(es, cfg)] == [
        ("sent", state.alert_id("armenia", "s1"))]
    again = evaluate(cfg, ids, now=NOW)  # the same batch once more: nothing twice
    assert again.deliveries == {} and len(deliveries(es, cfg)) == 1
    assert [a["notify_pending"] for a in alerts(es, cfg)] == [False]


def test_new_outlet_is_notified_once_as_an_update(cfg: Settings, es: Elasticsearch) -> None:
    evaluate(cfg, index_articles(es, cfg, [article("d1", "أرمينيا", "نص", story_id="s1")]), now=NOW)
    evaluate(cfg, index_articles(es, cfg, [article("d2", "أرمينيا", "نص", source="outlet-b", story_id="s1")]),
             now=NOW)
    evaluate(cfg, [], now=NOW)
    assert [(d["kind"], d["version"]) for d in deliveries(es, cfg)] == [("alert", 1), ("update", 2)]
    assert deliveries(es, cfg)[1]["message"]["new_outlets"] == ["صحيفة outlet-b"]


@pytest.fixture
def site(seed_texts: dict[str, str]) -> Iterator[LoopbackServer]:
    for server in running():
        serve_site(server, seed_texts)
        yield server


@pytest.mark.parametrize("flag", [[], ["--no-alerts"]], ids=["alerts", "no-alerts"])
def test_run_once_evaluates_rules_after_indexing(cfg: Settings, es: Elasticsearch, site: LoopbackServer,
                                                 tmp_path: Path, flag: list[str]) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"- {{id: afaq, name: الأفق, url: '{site.url('/feed.xml')}'}}\n", encoding="utf-8")
    env = {"INGEST_ES_URL": cfg.es.url, "INGEST_INDEX_PREFIX": cfg.es.index_prefix,
           "INGEST_ALLOWED_NETWORKS": json.dumps(["127.0.0.1/32"]), "INGEST_PER_HOST_DELAY": "0",
           "INGEST_RULES_FILE": str(cfg.alerts.rules_file),
           "INGEST_ALERTS_LOG_FILE": str(cfg.alerts.log_file)}
    result = CliRunner().invoke(app, ["run", "--once", "--sources", str(sources), *flag], env=env)
    assert result.exit_code in (0, 1), result.output
    sent = [d for d in deliveries(es, cfg) if d["status"] == "sent"]
    if flag:
        assert sent == [] and not cfg.alerts.log_file.exists()
    else:
        assert sent and all(d["rule"] == "armenia" for d in sent)
        logged = [json.loads(x) for x in cfg.alerts.log_file.read_text(encoding="utf-8").splitlines()]
        assert len(logged) == len(sent)
        assert "alerts:" in result.output
