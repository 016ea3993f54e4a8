"""ingest.maintenance against the real node: the source-health report, expiry of the state of
sources that left the list, and index/alias housekeeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from elasticsearch import Elasticsearch

from ingest import maintenance, store
from ingest.settings import Settings
from ingest.sourcestate import SourceState, save_state

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def save(es: Elasticsearch, settings: Settings, *states: SourceState) -> None:
    for state in states:
        save_state(es, settings, state)
    es.indices.refresh(index=store.alias_name(settings.es.index_prefix, "sources"))


def index_articles(es: Elasticsearch, settings: Settings, fetched: dict[str, list[datetime]]) -> None:
    alias = store.alias_name(settings.es.index_prefix, "articles")
    for source_id, dates in fetched.items():
        for n, when in enumerate(dates):
            doc = {"url": f"http://x/{source_id}/{n}", "source": {"id": source_id},
                   "fetched_at": when.isoformat()}
            es.index(index=alias, id=f"{source_id}-{n}", document=doc)
    es.indices.refresh(index=alias)


def test_health_report_lists_failing_and_disabled_sources_with_items_per_day(
        es: Elasticsearch, settings: Settings) -> None:
    save(es, settings,
         SourceState("good", polls=9, last_success_at=days_ago(0.1), last_polled_at=days_ago(0.1)),
         SourceState("flaky", polls=5, failures=2, last_status="http_503", last_success_at=days_ago(1)),
         SourceState("dead", polls=5, failures=5, disabled=True, disabled_reason="5 consecutive failures",
                     last_status="http_404"))
    # good: two articles on 03-09 and one on 03-10; flaky: one 10 days ago (outside the 7-day window).
    index_articles(es, settings, {"good": [days_ago(1), days_ago(1.1), days_ago(0.2)],
                                  "flaky": [days_ago(10)]})
    report = maintenance.source_health(settings, now=NOW)
    assert report.failing == ["flaky"]
    assert report.disabled == ["dead"]
    rows = {s.source_id: s for s in report.sources}
    assert sorted(rows) == ["dead", "flaky", "good"]
    assert rows["good"].items_per_day == {"2026-03-09": 2, "2026-03-10": 1}
    assert rows["flaky"].items_per_day == {}
    assert rows["good"].last_success_at == days_ago(0.1)
    assert rows["dead"].last_success_at is None
    lines = report.lines()
    assert lines[0].startswith("dead") and lines[1].startswith("flaky") and lines[2].startswith("good")
    assert lines[2].endswith("3 items in 7 days") and lines[1].endswith("0 items in 7 days")
    assert report.to_json_dict()["disabled"] == ["dead"]


def test_source_with_articles_but_no_state_is_reported_never_polled(
        es: Elasticsearch, settings: Settings) -> None:
    index_articles(es, settings, {"imported": [days_ago(2)]})
    [row] = maintenance.source_health(settings, now=NOW).sources
    assert (row.source_id, row.health, row.items_per_day) == ("imported", "never polled", {"2026-03-08": 1})


def test_cleanup_expires_only_old_state_of_sources_no_longer_listed(
        es: Elasticsearch, make_settings, tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump([{"id": "kept", "name": "Kept", "url": "https://example.org/rss"}]))
    settings = make_settings(applied=True, files={"sources_file": sources})
    save(es, settings,
         SourceState("kept", last_polled_at=days_ago(90)),          # listed: kept however old
         SourceState("gone-old", last_polled_at=days_ago(31)),      # unlisted, past retention
         SourceState("gone-recent", last_polled_at=days_ago(29)),   # unlisted, within retention
         SourceState("gone-never"))                                 # unlisted, never polled
    result = maintenance.cleanup_expired_state(settings, now=NOW, retention_days=30)
    assert sorted(result["deleted"]) == ["gone-never", "gone-old"]
    left = maintenance.all_states(es, settings)
    assert sorted(s.source_id for s in left) == ["gone-recent", "kept"]


def test_housekeeping_restores_a_lost_alias_and_reports_orphan_indices(
        es: Elasticsearch, settings: Settings) -> None:
    prefix = settings.es.index_prefix
    es.indices.create(index=f"{prefix}-articles-v0")  # an old version nobody points at
    specs = store.load_specs(settings.files.mappings_dir)
    sources = next(s for s in specs if s.kind == "sources").index(prefix)  # the current version
    es.indices.delete_alias(index=sources, name=f"{prefix}-sources")
    result = maintenance.housekeeping(settings)
    assert result["orphans"] == [f"{prefix}-articles-v0"]
    assert result["restored"] == [f"{prefix}-sources"]
    assert sorted(es.indices.get_alias(name=f"{prefix}-sources")) == [sources]
    assert f"{prefix}-articles" in result["aliases"]


def test_cli_health_prints_problem_sources_first(es: Elasticsearch, settings: Settings,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from ingest.cli import app

    save(es, settings, SourceState("aaa-fine", polls=3, last_success_at=days_ago(0.5)),
         SourceState("zzz-dead", polls=5, failures=5, disabled=True, disabled_reason="5 failures"))
    monkeypatch.setenv("INGEST_ES_URL", settings.es.url)
    monkeypatch.setenv("INGEST_INDEX_PREFIX", settings.es.index_prefix)
    result = CliRunner().invoke(app, ["maintenance", "health"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("zzz-dead") and "disabled (5 failures)" in lines[0]
    assert lines[1].startswith("aaa-fine")
    assert lines[-1] == "0 failing, 1 disabled, 2 sources"
